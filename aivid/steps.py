"""The workflow's steps: each Snakemake rule calls one function here with its `snakemake` object.

Rules only wire files; what a step does lives in the modules it calls.
"""

import json
import logging
import sys
import threading
from pathlib import Path

from .atomic import write_json
from .errors import AividError

log = logging.getLogger("aivid")


def _read_json(path):
    return json.loads(Path(path).read_text())


def _info(path):
    from .probe import cached_info

    return cached_info(_read_json(path))


def _optional(sm, name):
    """An input that an input function may leave out: its path, or None."""
    files = list(getattr(sm.input, name, None) or [])
    return files[0] if files else None


def _segment(sm):
    return _read_json(sm.input.segments)[int(sm.wildcards.seg)]


def mask(sm):
    from .masks import build_segment_mask, mask_sources

    info, seg = _info(sm.input.probe), _segment(sm)
    automask = _read_json(sm.input.settings)["automask"]
    sources = mask_sources(sm.params.video, info, sm.params.mask["threshold"], automask=automask)
    summary = build_segment_mask(sources, seg["start"], seg["stop"], info.width, info.height, info.fps,
                                 sm.output.store, sm.params.mask["dilate"])
    write_json(summary, sm.output.summary)
    log.info("segment %s: %d masked frames, %.4f%% of pixels", sm.wildcards.seg,
             len(summary["active_frames"]), 100 * summary["masked_fraction"])


def plan(sm):
    from .backends import backend_class
    from .plan import plan_segment
    from .shots import cuts_near

    info, summary = _info(sm.input.probe), _read_json(sm.input.summary)
    cuts = cuts_near(info.path, summary["active_frames"], sm.params.plan["context_frames"], summary["start"],
                     summary["stop"], sm.params.plan["shot_threshold"], info)
    backend = backend_class(sm.params.backend)
    result = plan_segment(sm.input.store, summary, cuts, sm.params.plan, backend.size_multiple,
                          backend({}).frame_rule)
    write_json(result, sm.output[0])
    log.info("segment %s: %d windows, cuts at %s", sm.wildcards.seg, len(result["windows"]), cuts)


def decode(sm):
    from .boxes import repair_box
    from .decode import decode_box_to_zarr

    seg, windows = _segment(sm), _read_json(sm.input.plan)["windows"]
    decode_box_to_zarr(_info(sm.input.probe), sm.output[0], seg["start"], seg["stop"],
                       lambda chunks, shape: repair_box(windows, sm.params.feather, chunks, shape))


def inpaint(sm):
    from .inpaint import inpaint_window

    window = next(w for w in _read_json(sm.input.plan)["windows"] if w["id"] == sm.wildcards.win)
    prompt = _optional(sm, "prompt")
    inpaint_window(sm.input.frames, sm.input.store, window, sm.output[0], sm.params.inpaint,
                   previous=_optional(sm, "previous"), prompt=prompt)


def prompt(sm):
    from .prompts import encode_prompts

    encode_prompts(sm.params.inpaint, sm.output[0])


def blend(sm):
    from .blend import blend_segment

    windows = _read_json(sm.input.plan)["windows"]
    results = {Path(p).name.removesuffix(".zarr"): p for p in sm.input.windows}
    blend_segment(sm.input.frames, sm.input.store, windows, results, sm.output[0], sm.params.feather)


def piece(sm):
    from .assemble import encode_repaired, encode_repaired_gops, matched_settings, transcode_segment
    from .boxes import window_frames
    from .encode import EncodeSettings

    settings, info, seg = EncodeSettings.from_config(sm.params.output), _info(sm.input.probe), _segment(sm)
    repaired, joined_with_copies = _optional(sm, "repaired"), sm.wildcards.ext == "ts"
    if joined_with_copies:  # match the source stream
        settings = matched_settings(info, settings)
    if not repaired:
        transcode_segment(info, seg["start"], seg["stop"], sm.output[0], settings)
    elif joined_with_copies:
        changed = window_frames(_read_json(sm.input.plan)["windows"])
        encode_repaired_gops(info, seg["start"], seg["stop"], repaired, sm.output[0], settings, changed)
    else:
        encode_repaired(info, seg["start"], seg["start"], seg["stop"], repaired, sm.output[0], settings)


def copy_piece(sm):
    from .assemble import copy_segment

    seg = _segment(sm)
    copy_segment(_info(sm.input.probe), seg["start"], seg["stop"], sm.output[0])
    log.info("segment %s: no repair, %d frames stream-copied", sm.wildcards.seg, seg["stop"] - seg["start"])


def concat(sm):
    from .assemble import concat_pieces

    info = _info(sm.input.probe)
    sizes = [s["stop"] - s["start"] for s in _read_json(sm.input.segments)]
    concat_pieces(list(sm.input.pieces), info, sm.output[0], info.frames, sizes)
    log.info("wrote %s", sm.output[0])


def run_step(sm):
    """Entry point for workflow/scripts/step.py: log to the rule's log, one-line errors."""
    handlers = [logging.StreamHandler(sys.stderr)]
    if sm.log:
        handlers.append(logging.FileHandler(sm.log[0], mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers,
                        force=True)
    try:
        globals()[sm.rule](sm)
    except AividError as exc:
        log.error("aivid: error: %s", exc)
        sys.exit(1)


def run_here(rule, input, output, params, wildcards, log_files):
    """Run a light local step inside Snakemake's own process (rules with `run:`), so a job costs
    its work, not a Python start-up.  Only this thread's log lines go to the rule's log; an error
    stops the job with one line."""
    from types import SimpleNamespace

    from snakemake.exceptions import WorkflowError

    handler = logging.FileHandler(log_files[0], mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    thread = threading.get_ident()
    handler.addFilter(lambda record: record.thread == thread)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        globals()[rule](SimpleNamespace(rule=rule, input=input, output=output, params=params,
                                                 wildcards=wildcards, log=log_files))
    except AividError as exc:
        log.error("aivid: error: %s", exc)
        raise WorkflowError(f"aivid: error: {exc}") from None
    finally:
        log.removeHandler(handler)
        handler.close()
