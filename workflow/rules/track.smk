checkpoint track:
    input:
        video=source_video,
        probe="results/{video}/probe.json",
        settings="results/{video}/settings/track/{region}.json",
    output:
        store=directory("results/{video}/regions/{region}/mask.zarr"),
        summary="results/{video}/regions/{region}/track.json",
    log:
        "logs/{video}/regions/{region}/track.log",
    benchmark:
        "benchmarks/{video}/regions/{region}/track.tsv"
    priority: 2
    conda:
        "../../envs/aivid.yaml"
    resources:
        gpu=track_gpu,
    params:
        region=lambda wildcards: tracked_regions(VIDEOS[wildcards.video])[
            wildcards.region
        ],
        track=CONFIG["track"],
        shot_threshold=CONFIG["plan"]["shot_threshold"],
    script:
        "../scripts/track.py"
