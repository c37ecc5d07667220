rule mask:
    input:
        video=source_video,
        probe="results/{video}/probe.json",
        segments="results/{video}/segments.json",
        files=mask_inputs,
        tracks=tracked_masks,
        settings=settings("mask"),
    output:
        store=directory("results/{video}/seg{seg}/mask.zarr"),
        summary="results/{video}/seg{seg}/mask.json",
    log:
        "logs/{video}/seg{seg}/mask.log",
    priority: 1
    params:
        video=mask_video,
        mask=CONFIG["mask"],
        shot_threshold=CONFIG["plan"]["shot_threshold"],
    run:  # in Snakemake's own process: a job costs its work, not a Python start-up
        steps.run_here(steps.mask, input, output, params, wildcards, log)
