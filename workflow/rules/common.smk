import json
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("8.0")

from aivid.errors import AividError
from aivid.output.route import piece_name, segment_route
from aivid.repair.backends import backend_class
from aivid.repair.plan import WINDOW_IDS, window_of
from aivid.repair.prompts import prompt_key, prompt_options
from aivid.workflow import steps
from aivid.workflow.config import (
    checked_config,
    fixed_regions,
    plan_options,
    tracked_regions,
)
from aivid.workflow.runlock import claim_run_directory, stop_scheduler_timers
from aivid.workflow.steps import user_error

DEMO_VIDEO, DEMO_MASK = "resources/demo/input.mp4", "resources/demo/specks.mkv"


def make_demo_if_missing(video):
    """The shipped config repairs a demo clip that aivid makes on first use."""
    if video["path"] == DEMO_VIDEO:
        from aivid.demo import make_demo

        make_demo(DEMO_VIDEO, DEMO_MASK)


try:
    if (
        workflow.is_main_process
    ):  # the directory is ours before anything is written into it
        for line in claim_run_directory():
            sys.stderr.write(f"aivid: {line}\n")
    CONFIG = checked_config(
        config,
        workflow.configfiles,
        workflow.overwrite_configfiles,
        make_missing=make_demo_if_missing,
        write=workflow.is_main_process,
    )
except (AividError, OSError) as exc:
    sys.stderr.write(f"aivid: error: {user_error(exc, 'checking the config')}\n")
    sys.exit(1)

VIDEOS = CONFIG["videos"]


wildcard_constraints:
    video="|".join(map(re.escape, VIDEOS)) if VIDEOS else "NONE",
    seg=r"\d+",
    region=r"\d+",
    win=r"[A-Za-z0-9]+",


def final_outputs():
    """Each video's output, and its report pages (`snakemake --report report.zip`)."""
    return [
        f"results/{name}/output.{video['output_ext']}" for name, video in VIDEOS.items()
    ] + expand("results/{video}/report", video=VIDEOS)


def source_video(wildcards):
    return VIDEOS[wildcards.video]["path"]


def mask_inputs(wildcards):
    """The mask file (if any) is an input, so editing it re-runs the mask and what follows."""
    mask = VIDEOS[wildcards.video].get("mask")
    return [mask] if mask else []


def mask_video(wildcards):
    """A video's settings for its segments' masks: tracked regions come in through their stores."""
    video = VIDEOS[wildcards.video]
    return {**video, "regions": fixed_regions(video)}


def tracked_masks(wildcards):
    """The stores of the tracked regions whose frames meet this segment: a region's span (its
    shot) is known once it is tracked (`track` is a checkpoint), so a segment it never reaches
    neither waits for it nor re-runs when it changes."""
    regions = tracked_regions(VIDEOS[wildcards.video])
    if not regions:
        return []
    segment = json.loads(Path(f"results/{wildcards.video}/segments.json").read_text())[
        int(wildcards.seg)
    ]
    found = []
    for region in regions:
        job = checkpoints.track.get(video=wildcards.video, region=region)
        span = json.loads(Path(job.output.summary).read_text())
        if max(span["start"], segment["start"]) < min(span["stop"], segment["stop"]):
            found.append(job.output.store)
    return found


def track_summaries(wildcards):
    """Each tracked region's track.json (the report lists what every track followed)."""
    return [
        f"results/{wildcards.video}/regions/{region}/track.json"
        for region in tracked_regions(VIDEOS[wildcards.video])
    ]


def track_gpu(wildcards):
    """A SAM2 or SAM3 track holds the `gpu` resource where it runs on one; the classical tracker does not."""
    from aivid.masks.track import torch_device

    model = CONFIG["track"]["model"]
    return int(
        model != "classical" and torch_device(CONFIG["track"]["device"]) != "cpu"
    )


def segment_ids(wildcards):
    return VIDEOS[wildcards.video]["segments"]


def segment_plan(wildcards):
    return plan_of(wildcards.video, wildcards.seg)


def plan_of(video, seg):
    path = checkpoints.plan.get(video=video, seg=seg).output[0]
    return json.loads(Path(path).read_text())


def window_results(wildcards):
    windows = segment_plan(wildcards)["windows"]
    return [
        f"results/{wildcards.video}/seg{wildcards.seg}/windows/{w['id']}.zarr"
        for w in windows
    ]


def window_backend(wildcards):
    """The backend class of one window (the plan records which: `inpaint.backend: auto` chooses
    per stretch)."""
    return backend_class(window_of(segment_plan(wildcards), wildcards.win)["backend"])


def window_gpu(wildcards):
    """GPU windows hold the `gpu` resource (one at a time with the default profile)."""
    return int(window_backend(wildcards).uses_gpu)


def neighbour(wildcards, offset):
    """The id of the segment `offset` away, if it exists and has a mask (and so a plan)."""
    ids = segment_ids(wildcards)
    i = ids.index(wildcards.seg) + offset
    if 0 <= i < len(ids) and needs_plan(wildcards.video, ids[i]):
        return ids[i]
    return None


def neighbour_mask(offset):
    """The mask store and summary of the segment before (-1) or after (+1): a plan asks whether
    its masked stretch runs on across their boundary (aivid.repair.plan.boundary_zone).
    """

    def inputs(wildcards):
        seg = neighbour(wildcards, offset)
        if seg is None:
            return []
        folder = f"results/{wildcards.video}/seg{seg}"
        return [f"{folder}/mask.zarr", f"{folder}/mask.json"]

    return inputs


def boundary_window(wildcards, offset, edge):
    """The window of the segment `offset` away that meets this segment's stretch at their
    boundary (its `edge`: "tail" before, "lead" after), if the plans continue a stretch there.
    """
    seg = neighbour(wildcards, offset)
    side = "from_previous" if offset < 0 else "into_next"
    if seg is None or not segment_plan(wildcards).get("continues", {}).get(side):
        return []
    found = [w for w in plan_of(wildcards.video, seg)["windows"] if w.get(edge)]
    return [f"results/{wildcards.video}/seg{seg}/windows/{w['id']}.zarr" for w in found]


def window_inputs(wildcards):
    """A window job's inputs (either inpaint rule: aivid.repair.plan.window_id says which)."""
    folder = f"results/{wildcards.video}/seg{wildcards.seg}"
    return {
        "frames": f"{folder}/frames.zarr",
        "store": f"{folder}/mask.zarr",
        "plan": f"{folder}/plan.json",
        "previous": previous_window(wildcards),
        "before_mask": lead_mask(wildcards),
        "prompt": prompt_embeddings(wildcards),
        "settings": settings("inpaint").format(video=wildcards.video),
    }


def previous_window(wildcards):
    """Chained backends condition each window on the one before it (same tile); the first window
    after a boundary a stretch crosses takes the frames it shares from the window before the
    boundary, whatever the backend (this segment holds no pixels of them)."""
    window = window_of(segment_plan(wildcards), wildcards.win)
    if window.get("lead"):
        return boundary_window(wildcards, -1, "tail")
    if not backend_class(window["backend"]).chained or not window["prev"]:
        return []
    return [
        f"results/{wildcards.video}/seg{wildcards.seg}/windows/{window['prev']}.zarr"
    ]


def lead_mask(wildcards):
    """The previous segment's mask, for the first window after a boundary its stretch crosses
    (a backend that is not chained fills the frames it shares with the window before itself).
    """
    if not window_of(segment_plan(wildcards), wildcards.win).get("lead"):
        return []
    return neighbour_mask(-1)(wildcards)[:1]


def next_lead(wildcards):
    """The next segment's first window of a stretch that runs on into it: the blend cross-fades
    it with this segment's last window over the frames they share."""
    return boundary_window(wildcards, 1, "lead")


def route(video, seg, plan=None):
    """How a segment becomes a piece (aivid.output.route.segment_route); None while that depends
    on its plan and `plan` is not given."""
    untouched = seg in VIDEOS[video]["untouched"]
    return segment_route(VIDEOS[video]["piece_ext"], untouched, plan)


def needs_plan(video, seg):
    return route(video, seg) is None


def piece_plan(wildcards):
    """The plan, for the segments whose route depends on it."""
    if needs_plan(wildcards.video, wildcards.seg):
        return [f"results/{wildcards.video}/seg{wildcards.seg}/plan.json"]
    return []


def repaired_segment(wildcards):
    """Only segments with work are decoded (their repair boxes), repaired and blended."""
    chosen = route(wildcards.video, wildcards.seg) or route(
        wildcards.video, wildcards.seg, segment_plan(wildcards)
    )
    if chosen in ("repair", "repair_gops"):
        return [f"results/{wildcards.video}/seg{wildcards.seg}/repaired.zarr"]
    return []


def repaired_segments(wildcards):
    """The blended stores (and beside them the decoded boxes and masks) of a video's repaired segments."""
    found = []
    for seg in segment_ids(wildcards):
        if needs_plan(wildcards.video, seg) and plan_of(wildcards.video, seg)["work"]:
            folder = f"results/{wildcards.video}/seg{seg}"
            found += [
                f"{folder}/{name}"
                for name in ("repaired.zarr", "frames.zarr", "mask.zarr")
            ]
    return found


def repaired_stores(wildcards):
    """The blended stores of a video's repaired segments: the join's self-check lays them over
    the source (so a temporary store lives until the join)."""
    return [p for p in repaired_segments(wildcards) if Path(p).name == "repaired.zarr"]


def segment_untouched(wildcards):
    return wildcards.seg in VIDEOS[wildcards.video]["untouched"]


def segment_plans(wildcards):
    """All plans, listed plainly: the DAG then schedules every segment's mask and plan at once
    (segment_pieces reads the plans one by one, and stops at the first that is not made yet).
    """
    return [
        f"results/{wildcards.video}/seg{seg}/plan.json"
        for seg in segment_ids(wildcards)
        if needs_plan(wildcards.video, seg)
    ]


def unplanned_pieces(wildcards):
    """The pieces of segments no mask source can touch (known from the config), listed plainly
    too, so that they start at once instead of after the first plan."""
    pieces = [
        segment_piece(wildcards.video, seg)
        for seg in segment_ids(wildcards)
        if not needs_plan(wildcards.video, seg)
    ]
    return [piece for piece in pieces if piece]


def segment_pieces(wildcards):
    """Every re-encoded segment's piece, in order: its route decides which (copied segments have
    none: their packets are copied at the join)."""
    pieces = [segment_piece(wildcards.video, seg) for seg in segment_ids(wildcards)]
    return [piece for piece in pieces if piece]


def segment_piece(video, seg):
    chosen = route(video, seg) or route(video, seg, plan_of(video, seg))
    name = piece_name(VIDEOS[video]["piece_ext"], chosen)
    return f"results/{video}/seg{seg}/{name}" if name else None


def settings(stage):
    """The settings file of one stage (see aivid.config.write_stage_settings)."""
    return f"results/{{video}}/settings/{stage}.json"


def frames_output(path):
    """Stores of the pixels repairs reach (aivid.boxes), only for segments with repairs; kept
    unless cache.frames is false."""
    return directory(path) if CONFIG["cache"]["frames"] else temp(directory(path))


def prompt_embeddings(wildcards):
    """VACE windows read cached prompt embeddings instead of loading the text encoder."""
    if window_of(segment_plan(wildcards), wildcards.win)["backend"] != "vace":
        return []
    return [f"results/prompts/{prompt_key(CONFIG['inpaint'])}.safetensors"]


onsuccess:
    stop_scheduler_timers()


onerror:
    # Snakemake's error blocks surround each failed job's one-line reason: repeat the reasons last
    for line in steps.failure_summary(log):
        sys.stderr.write(f"{line}\n")
