import json
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("8.0")

from aivid.config import checked_config
from aivid.errors import AividError

DEMO_FILES = ["resources/demo/input.mp4", "resources/demo/specks.mkv"]

try:
    CONFIG = checked_config(
        config, workflow.configfiles, workflow.overwrite_configfiles, DEMO_FILES
    )
except AividError as exc:
    sys.stderr.write(f"aivid: error: {exc}\n")
    sys.exit(1)

VIDEOS = CONFIG["videos"]
OUT_EXT = "mkv" if CONFIG["output"]["lossless"] else "mp4"
BACKEND_USES_GPU = CONFIG["inpaint"]["backend"] == "vace"


wildcard_constraints:
    video="|".join(map(re.escape, VIDEOS)) if VIDEOS else "NONE",
    seg=r"\d+",
    win=r"[A-Za-z0-9]+",


def final_outputs():
    return expand("results/{video}/output.{ext}", video=VIDEOS, ext=OUT_EXT)


def source_video(wildcards):
    return VIDEOS[wildcards.video]["path"]


def mask_inputs(wildcards):
    """The mask file (if any) is an input, so editing it re-runs the mask and what follows."""
    mask = VIDEOS[wildcards.video].get("mask")
    return [mask] if mask else []


def segment_ids(wildcards):
    path = checkpoints.segments.get(video=wildcards.video).output[0]
    return [str(s["index"]) for s in json.loads(Path(path).read_text())]


def segment_plan(wildcards):
    path = checkpoints.plan.get(video=wildcards.video, seg=wildcards.seg).output[0]
    return json.loads(Path(path).read_text())


def window_results(wildcards):
    windows = segment_plan(wildcards)["windows"]
    return [f"results/{wildcards.video}/seg{wildcards.seg}/windows/{w['id']}.zarr" for w in windows]


def previous_window(wildcards):
    """Chained backends condition each window on the one before it (same tile)."""
    if not CONFIG["inpaint_chained"]:
        return []
    window = next(w for w in segment_plan(wildcards)["windows"] if w["id"] == wildcards.win)
    if not window["prev"]:
        return []
    return [f"results/{wildcards.video}/seg{wildcards.seg}/windows/{window['prev']}.zarr"]


def repaired_segment(wildcards):
    """Only segments with work are decoded, repaired and blended; others are re-encoded directly."""
    if segment_plan(wildcards)["work"]:
        return [f"results/{wildcards.video}/seg{wildcards.seg}/repaired.zarr"]
    return []


def segment_pieces(wildcards):
    return [
        f"results/{wildcards.video}/seg{seg}/piece.{OUT_EXT}"
        for seg in segment_ids(wildcards)
    ]
