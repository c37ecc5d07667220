# The track rule's job: a script of its own, since a SAM2 model loads torch (and holds the GPU).
from aivid.workflow.steps import run_step, track

run_step(track, snakemake)  # noqa: F821 (provided by Snakemake)
