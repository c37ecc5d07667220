# The prompt rule's job: a script of its own, since it loads torch (and holds the GPU).
from aivid.workflow.steps import prompt, run_step

run_step(prompt, snakemake)  # noqa: F821 (provided by Snakemake)
