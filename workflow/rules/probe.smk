rule probe:
    input:
        video=source_video,
    output:
        "results/{video}/probe.json",
    log:
        "logs/{video}/probe.log",
    script:
        "../scripts/step.py"


checkpoint segments:
    input:
        probe="results/{video}/probe.json",
    output:
        "results/{video}/segments.json",
    params:
        seconds=CONFIG["segments"]["seconds"],
        lossless=CONFIG["output"]["lossless"],
    log:
        "logs/{video}/segments.log",
    script:
        "../scripts/step.py"
