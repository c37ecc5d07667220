# Every rule runs this script; it hands the rule's files and parameters to aivid.steps.
from aivid.steps import run_step

run_step(snakemake)  # noqa: F821 (provided by Snakemake)
