rule piece:
    input:
        video=source_video,
        probe="results/{video}/probe.json",
        segments="results/{video}/segments.json",
        plan="results/{video}/seg{seg}/plan.json",
        repaired=repaired_segment,
        settings=settings("output"),
    output:
        "results/{video}/seg{seg}/piece.{ext}",
    log:
        "logs/{video}/seg{seg}/piece_{ext}.log",
    params:
        output=CONFIG["output"],
    run:  # in Snakemake's own process: a job costs its work, not a Python start-up
        from aivid.steps import run_here

        run_here(rule, input, output, params, wildcards, log)


rule copy_piece:
    input:
        video=source_video,
        probe="results/{video}/probe.json",
        segments="results/{video}/segments.json",
    output:
        temp("results/{video}/seg{seg}/copy.ts"),  # made again in a blink if a later join needs it
    log:
        "logs/{video}/seg{seg}/copy_piece.log",
    run:  # in Snakemake's own process: a job costs its work, not a Python start-up
        from aivid.steps import run_here

        run_here(rule, input, output, params, wildcards, log)


rule concat:
    input:
        video=source_video,
        probe="results/{video}/probe.json",
        segments="results/{video}/segments.json",
        plans=segment_plans,
        copies=unplanned_copies,
        pieces=segment_pieces,
    output:
        report(
            "results/{video}/output.{ext}",
            caption="../report/output.rst",
            category="Repaired videos",
        ),
    log:
        "logs/{video}/concat_{ext}.log",
    run:  # in Snakemake's own process: a job costs its work, not a Python start-up
        from aivid.steps import run_here

        run_here(rule, input, output, params, wildcards, log)
