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
    # windows of backends with nothing heavy to load (the classical fill) run inside Snakemake's
    # process: a job costs its work, not a Python start-up
    input:
        unpack(window_inputs),
    output:
        directory("results/{video}/seg{seg}/windows/{win}.zarr"),
    log:
        "logs/{video}/seg{seg}/inpaint_{win}.log",
    wildcard_constraints:
        win=WINDOW_IDS[True],
    priority: 1
    resources:
        gpu=window_gpu,
    params:
        inpaint=CONFIG["inpaint"],
    run:
        steps.run_here(steps.inpaint, input, output, params, wildcards, log)


rule inpaint_model:
    # a model's windows (VACE) each in a script of its own, in the conda environment: the model's
    # memory goes when the job ends, and a crash takes only the job
    input:
        unpack(window_inputs),
    output:
        directory("results/{video}/seg{seg}/windows/{win}.zarr"),
    log:
        "logs/{video}/seg{seg}/inpaint_{win}.log",
    benchmark:
        "benchmarks/{video}/seg{seg}/inpaint_{win}.tsv"
    wildcard_constraints:
        win=WINDOW_IDS[False],
    priority: 1
    conda:
        "../../envs/aivid.yaml"
    resources:
        gpu=window_gpu,
    params:
        inpaint=CONFIG["inpaint"],
    script:
        "../scripts/inpaint.py"
