rule piece:
    input:
        probe="results/{video}/probe.json",
        segments="results/{video}/segments.json",
        plan="results/{video}/seg{seg}/plan.json",
        repaired=repaired_segment,
        settings=settings("output"),
    output:
        "results/{video}/seg{seg}/piece.{ext}",
    log:
        "logs/{video}/seg{seg}/piece_{ext}.log",
    benchmark:
        "benchmarks/{video}/seg{seg}/piece_{ext}.tsv"
    conda:
        "../../envs/aivid.yaml"
    params:
        output=CONFIG["output"],
    script:
        "../scripts/step.py"


rule copy_piece:
    input:
        video=source_video,
        probe="results/{video}/probe.json",
        segments="results/{video}/segments.json",
    output:
        "results/{video}/seg{seg}/copy.ts",
    log:
        "logs/{video}/seg{seg}/copy_piece.log",
    conda:
        "../../envs/aivid.yaml"
    script:
        "../scripts/step.py"


rule concat:
    input:
        video=source_video,
        probe="results/{video}/probe.json",
        segments="results/{video}/segments.json",
        plans=segment_plans,
        copies=unplanned_copies,
        pieces=segment_pieces,
    output:
        report(
            "results/{video}/output.{ext}",
            caption="../report/output.rst",
            category="Repaired videos",
        ),
    log:
        "logs/{video}/concat_{ext}.log",
    conda:
        "../../envs/aivid.yaml"
    script:
        "../scripts/step.py"
