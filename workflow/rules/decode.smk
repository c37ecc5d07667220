rule decode:
    input:
        video=source_video,
        segments="results/{video}/segments.json",
    output:
        frames_output("results/{video}/seg{seg}/frames.zarr"),
    log:
        "logs/{video}/seg{seg}/decode.log",
    benchmark:
        "benchmarks/{video}/seg{seg}/decode.tsv"
    conda:
        "../../envs/aivid.yaml"
    script:
        "../scripts/step.py"
