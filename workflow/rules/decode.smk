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
    benchmark:
        "benchmarks/{video}/seg{seg}/decode.tsv"
    priority: 1
    conda:
        "../../envs/aivid.yaml"
    params:
        feather=CONFIG["mask"]["feather"],
    script:
        "../scripts/step.py"
