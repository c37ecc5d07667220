rule report_pages:
    input:
        probe="results/{video}/probe.json",
        segments="results/{video}/segments.json",
        plans=segment_plans,
        repaired=repaired_segments,
        tracks=track_summaries,
        settings=[
            settings(stage) for stage in ("mask", "plan", "inpaint", "blend", "output")
        ],
    output:
        report(
            directory("results/{video}/report"),
            htmlindex="index.html",
            caption="../report/repairs.rst",
            category="Repairs",
            labels={"video": "{video}", "content": "before and after"},
        ),
    log:
        "logs/{video}/report_pages.log",
    params:
        piece_ext=lambda wildcards: VIDEOS[wildcards.video]["piece_ext"],
        untouched=lambda wildcards: VIDEOS[wildcards.video]["untouched"],
        output=CONFIG["output"],
    run:  # in Snakemake's own process: a job costs its work, not a Python start-up
        steps.run_here(steps.report_pages, input, output, params, wildcards, log)
