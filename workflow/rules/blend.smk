rule blend:
    input:
        frames="results/{video}/seg{seg}/frames.zarr",
        store="results/{video}/seg{seg}/mask.zarr",
        plan="results/{video}/seg{seg}/plan.json",
        windows=window_results,
        next_lead=next_lead,
        settings=settings("blend"),
    output:
        frames_output("results/{video}/seg{seg}/repaired.zarr"),
    log:
        "logs/{video}/seg{seg}/blend.log",
    priority: 1
    params:
        feather=CONFIG["mask"]["feather"],
    run:  # in Snakemake's own process: a job costs its work, not a Python start-up
        steps.run_here(steps.blend, input, output, params, wildcards, log)
