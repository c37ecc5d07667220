checkpoint plan:
    input:
        probe="results/{video}/probe.json",
        store="results/{video}/seg{seg}/mask.zarr",
        summary="results/{video}/seg{seg}/mask.json",
    output:
        "results/{video}/seg{seg}/plan.json",
    params:
        plan=CONFIG["plan"],
        backend=CONFIG["inpaint"]["backend"],
        inpaint=CONFIG["inpaint"],
    log:
        "logs/{video}/seg{seg}/plan.log",
    script:
        "../scripts/step.py"
