rule mask:
    input:
        video=source_video,
        probe="results/{video}/probe.json",
        segments="results/{video}/segments.json",
        files=mask_inputs,
        settings=settings("mask"),
    output:
        store=directory("results/{video}/seg{seg}/mask.zarr"),
        summary="results/{video}/seg{seg}/mask.json",
    log:
        "logs/{video}/seg{seg}/mask.log",
    benchmark:
        "benchmarks/{video}/seg{seg}/mask.tsv"
    priority: 1
    conda:
        "../../envs/aivid.yaml"
    params:
        video=lambda wildcards: VIDEOS[wildcards.video],
        mask=CONFIG["mask"],
    script:
        "../scripts/step.py"
