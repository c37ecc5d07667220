checkpoint plan:
    input:
        probe="results/{video}/probe.json",
        store="results/{video}/seg{seg}/mask.zarr",
        summary="results/{video}/seg{seg}/mask.json",
        before=neighbour_mask(-1),
        after=neighbour_mask(1),
        settings=settings("plan"),
    output:
        "results/{video}/seg{seg}/plan.json",
    log:
        "logs/{video}/seg{seg}/plan.log",
    params:
        plan=CONFIG["plan"],
        inpaint=plan_options(CONFIG["inpaint"]),
    run:  # in Snakemake's own process: a job costs its work, not a Python start-up
        steps.run_here(steps.plan, input, output, params, wildcards, log)
