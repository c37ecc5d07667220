rule blend:
    input:
        frames="results/{video}/seg{seg}/frames.zarr",
        store="results/{video}/seg{seg}/mask.zarr",
        plan="results/{video}/seg{seg}/plan.json",
        windows=window_results,
        settings=settings("blend"),
    output:
        frames_output("results/{video}/seg{seg}/repaired.zarr"),
    log:
        "logs/{video}/seg{seg}/blend.log",
    benchmark:
        "benchmarks/{video}/seg{seg}/blend.tsv"
    priority: 1
    conda:
        "../../envs/aivid.yaml"
    params:
        feather=CONFIG["mask"]["feather"],
    script:
        "../scripts/step.py"
