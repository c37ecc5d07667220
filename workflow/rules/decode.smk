rule decode:
    input:
        video=source_video,
        probe="results/{video}/probe.json",
        segments="results/{video}/segments.json",
        plan="results/{video}/seg{seg}/plan.json",
        settings=settings("blend"),
    output:
        frames_output("results/{video}/seg{seg}/frames.zarr"),
    log:
        "logs/{video}/seg{seg}/decode.log",
    priority: 1
    params:
        feather=CONFIG["mask"]["feather"],
    run:  # in Snakemake's own process: a job costs its work, not a Python start-up
        steps.run_here(steps.decode, input, output, params, wildcards, log)
