checkpoint plan:
    input:
        probe="results/{video}/probe.json",
        store="results/{video}/seg{seg}/mask.zarr",
        summary="results/{video}/seg{seg}/mask.json",
        settings=settings("plan"),
    output:
        "results/{video}/seg{seg}/plan.json",
    log:
        "logs/{video}/seg{seg}/plan.log",
    conda:
        "../../envs/aivid.yaml"
    params:
        plan=CONFIG["plan"],
        backend=CONFIG["inpaint"]["backend"],
    script:
        "../scripts/step.py"
