rule blend:
    input:
        frames="results/{video}/seg{seg}/frames.zarr",
        store="results/{video}/seg{seg}/mask.zarr",
        plan="results/{video}/seg{seg}/plan.json",
        windows=window_results,
    output:
        temp(directory("results/{video}/seg{seg}/repaired.zarr")),
    params:
        feather=CONFIG["mask"]["feather"],
    log:
        "logs/{video}/seg{seg}/blend.log",
    benchmark:
        "benchmarks/{video}/seg{seg}/blend.tsv"
    script:
        "../scripts/step.py"
