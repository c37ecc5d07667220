rule decode:
    input:
        video=source_video,
        segments="results/{video}/segments.json",
    output:
        temp(directory("results/{video}/seg{seg}/frames.zarr")),
    log:
        "logs/{video}/seg{seg}/decode.log",
    benchmark:
        "benchmarks/{video}/seg{seg}/decode.tsv"
    script:
        "../scripts/step.py"
