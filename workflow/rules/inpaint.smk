rule prompt:
    output:
        "results/prompts/{key}.safetensors",
    log:
        "logs/prompts/{key}.log",
    conda:
        "../../envs/aivid.yaml"
    params:
        inpaint=prompt_options(CONFIG["inpaint"]),
    script:
        "../scripts/prompt.py"


rule inpaint:
    input:
        frames="results/{video}/seg{seg}/frames.zarr",
        store="results/{video}/seg{seg}/mask.zarr",
        plan="results/{video}/seg{seg}/plan.json",
        previous=previous_window,
        before_mask=lead_mask,
        prompt=prompt_embeddings,
        settings=settings("inpaint"),
    output:
        directory("results/{video}/seg{seg}/windows/{win}.zarr"),
    log:
        "logs/{video}/seg{seg}/inpaint_{win}.log",
    benchmark:
        "benchmarks/{video}/seg{seg}/inpaint_{win}.tsv"
    priority: 1
    conda:
        "../../envs/aivid.yaml"
    resources:
        gpu=window_gpu,
    params:
        inpaint=CONFIG["inpaint"],
    script:
        "../scripts/inpaint.py"
