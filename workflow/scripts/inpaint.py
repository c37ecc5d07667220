# The inpaint_model rule's job (a model's window): a script of its own, since it loads torch (and holds the GPU).
from aivid.workflow.steps import inpaint, run_step

run_step(inpaint, snakemake)  # noqa: F821 (provided by Snakemake)
