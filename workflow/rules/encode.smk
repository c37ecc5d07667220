rule piece:
    input:
        video=source_video,
        probe="results/{video}/probe.json",
        segments="results/{video}/segments.json",
        plan=piece_plan,
        repaired=repaired_segment,
        settings=settings("output"),
    output:
        "results/{video}/seg{seg}/piece.{ext}",
    log:
        "logs/{video}/seg{seg}/piece_{ext}.log",
    # before the report pages, which wait for every blend and then would take a core the last
    # pieces (and so the output) wait for
    priority: 1
    params:
        output=CONFIG["output"],
        untouched=segment_untouched,
    run:  # in Snakemake's own process: a job costs its work, not a Python start-up
        steps.run_here(steps.piece, input, output, params, wildcards, log)


rule concat:
    input:
        video=source_video,
        probe="results/{video}/probe.json",
        segments="results/{video}/segments.json",
        plans=segment_plans,
        unplanned=unplanned_pieces,
        pieces=segment_pieces,
        repaired=repaired_stores,
    output:
        report(
            "results/{video}/output.{ext}",
            caption="../report/output.rst",
            category="Repaired videos",
        ),
    log:
        "logs/{video}/concat_{ext}.log",
    run:  # in Snakemake's own process: a job costs its work, not a Python start-up
        steps.run_here(steps.concat, input, output, params, wildcards, log)
