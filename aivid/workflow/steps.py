"""The workflow's steps: each Snakemake rule names one function here, which it calls through
`run_here` (rules with `run:`) or `run_step` (the scripts of the model rules).

Rules only wire files; what a step does lives in the modules it calls.
"""

import errno
import json
import logging
import shutil
import sys
import threading
import time
from pathlib import Path

from aivid.atomic import write_json
from aivid.errors import AividError

log = logging.getLogger("aivid")


def _read_json(path):
    return json.loads(Path(path).read_text())


def _info(path):
    from aivid.media.probe import cached_info

    return cached_info(_read_json(path))


def _optional(sm, name):
    """An input that an input function may leave out: its path, or None."""
    files = list(getattr(sm.input, name, None) or [])
    return files[0] if files else None


def _log_progress(sm):
    """Done/total of the video's windows and segments, and an ETA, after each window and segment."""
    from aivid.workflow.progress import progress_line, run_state

    try:
        log.info("video %s: %s", sm.wildcards.video, progress_line(Path("results") / sm.wildcards.video,
                                                                    run_state(".")[1]))
    except (OSError, ValueError, KeyError):  # progress is a courtesy: never fail a job over it
        pass


def _segment(sm):
    return _read_json(sm.input.segments)[int(sm.wildcards.seg)]


def mask(sm):
    from aivid.masks.manual import build_segment_mask, mask_sources

    info, seg = _info(sm.input.probe), _segment(sm)
    sources = mask_sources(sm.params.video, info, sm.params.mask["threshold"], sm.params.shot_threshold,
                           where=f"videos.{sm.wildcards.video}", tracks=list(sm.input.tracks))
    summary = build_segment_mask(sources, seg["start"], seg["stop"], info.width, info.height, info.fps,
                                 sm.output.store, sm.params.mask["dilate"])
    write_json(summary, sm.output.summary)
    log.info("segment %s: %d masked frames, %.4f%% of pixels", sm.wildcards.seg,
             len(summary["active_frames"]), 100 * summary["masked_fraction"])


def track(sm):
    from aivid.masks.track import track_region

    info = _info(sm.input.probe)
    summary = track_region(info.path, info, sm.params.region, sm.params.track, sm.params.shot_threshold,
                           sm.output.store)
    write_json(summary, sm.output.summary)
    log.info("region %s: tracked frames %d-%d from frame %d (%s, %.1f s); %d frames without the object",
             sm.wildcards.region, summary["start"], summary["stop"], summary["frame"], summary["tracker"],
             summary["seconds"], summary["empty_frames"])


def plan(sm):
    from aivid.repair.backends import backend_class
    from aivid.repair.plan import plan_segment
    from aivid.repair.shots import cuts_near

    info, summary = _info(sm.input.probe), _read_json(sm.input.summary)
    cuts = cuts_near(info.path, summary["active_frames"], sm.params.plan["context_frames"], summary["start"],
                     summary["stop"], sm.params.plan["shot_threshold"], info)
    options = sm.params.inpaint

    def rules(name):
        backend = backend_class(name)
        return backend.size_multiple, backend.frame_rule, backend.tile_size(options), backend.in_process

    if options["backend"] == "auto":
        from aivid.repair.choose import choose_backend, stretch_evidence

        def choose(a, b, active):
            evidence = stretch_evidence(info, sm.input.store, summary["start"], a, b, active)
            backend, why = choose_backend(evidence, options)
            log.info("segment %s, frames %d-%d: %s (%s)", sm.wildcards.seg, summary["start"] + a,
                     summary["start"] + b, backend, why)
            return {"backend": backend, "why": why, "evidence": evidence}
    else:
        choose = None

    before, after = (_continuing(info, sm, side, summary) for side in ("before", "after"))
    result = plan_segment(sm.input.store, summary, cuts, sm.params.plan, rules, options["backend"], choose,
                          before, after)
    write_json(result, sm.output[0])
    log.info("segment %s: %d windows, cuts at %s", sm.wildcards.seg, len(result["windows"]), result["cuts"])
    for side, other in (("from the previous segment", before), ("into the next segment", after)):
        if other:
            log.info("segment %s: the masked stretch runs on %s (one stretch across the boundary)",
                     sm.wildcards.seg, side)


def _continuing(info, sm, side, summary):
    """(mask store, summary) of the neighbouring segment on `side` if the masked stretch runs on
    across that boundary (aivid.repair.plan.boundary_zone, and no hard cut in the zone), else
    None.  Both segments' plans decide it alike: the same summaries, the same frames searched."""
    from aivid.repair.plan import boundary_zone
    from aivid.repair.shots import CUT_RADIUS, detect_cuts

    files = list(getattr(sm.input, side, None) or [])  # [mask store, mask summary] of the neighbour
    if not files:
        return None
    store, other, settings = files[0], _read_json(files[1]), sm.params.plan
    first, second = (other, summary) if side == "before" else (summary, other)
    zone = boundary_zone(first, second, settings)
    if not zone:
        return None
    lo, hi = max(first["start"], zone[0] - CUT_RADIUS - 1), min(second["stop"], zone[1] + CUT_RADIUS + 2)
    if any(zone[0] < c <= zone[1] for c in detect_cuts(info.path, lo, hi, settings["shot_threshold"], info)):
        return None
    return store, other


def decode(sm):
    from aivid.repair.boxes import repair_box
    from aivid.media.decode import decode_box_to_zarr

    seg, windows = _segment(sm), _read_json(sm.input.plan)["windows"]
    decode_box_to_zarr(_info(sm.input.probe), sm.output[0], seg["start"], seg["stop"],
                       lambda chunks, shape: repair_box(windows, sm.params.feather, chunks, shape))


def inpaint(sm):
    from aivid.repair.inpaint import inpaint_window
    from aivid.repair.plan import window_of

    plan = _read_json(sm.input.plan)
    window = window_of(plan, sm.wildcards.win)
    inpaint_window(sm.input.frames, sm.input.store, window, sm.output[0], sm.params.inpaint,
                   previous=_optional(sm, "previous"), prompt=_optional(sm, "prompt"),
                   start=plan["segment"]["start"], before_mask=_optional(sm, "before_mask"))
    _log_progress(sm)


def prompt(sm):
    from aivid.repair.prompts import encode_prompts

    encode_prompts(sm.params.inpaint, sm.output[0])


def blend(sm):
    from aivid.repair.blend import blend_segment

    windows = _read_json(sm.input.plan)["windows"]
    results = {Path(p).name.removesuffix(".zarr"): p for p in sm.input.windows}
    blend_segment(sm.input.frames, sm.input.store, windows, results, sm.output[0], sm.params.feather,
                  following=_optional(sm, "next_lead"))


def piece(sm):
    from aivid.output.assemble import encode_repaired, encode_repaired_spans, piece_settings, reencoded_spans
    from aivid.output.assemble import transcode_segment
    from aivid.output.route import segment_route

    info, seg, ext = _info(sm.input.probe), _segment(sm), sm.wildcards.ext
    plan = _read_json(sm.input.plan[0]) if sm.input.plan else None
    route, settings = segment_route(ext, sm.params.untouched, plan), piece_settings(info, sm.params.output, ext)
    if route == "transcode":
        transcode_segment(info, seg["start"], seg["stop"], sm.output[0], settings)
    elif route == "repair_gops":
        spans = reencoded_spans(info, seg["start"], seg["stop"], plan)
        encode_repaired_spans(info, seg["start"], seg["stop"], sm.input.repaired[0], sm.output[0], settings, spans)
    elif route == "repair":
        encode_repaired(info, seg["start"], seg["start"], seg["stop"], sm.input.repaired[0], sm.output[0], settings)
    else:
        raise AssertionError(f"segment {sm.wildcards.seg} takes route {route!r}, not a piece")
    log.info("segment %s: %s", sm.wildcards.seg, route)
    _log_progress(sm)


def report_pages(sm):
    from aivid.output.assemble import reencoded_spans
    from aivid.output.report import write_report
    from aivid.output.route import piece_format, route_reason, segment_route
    from aivid.repair.seams import seam_figures, seam_lines

    info, segments = _info(sm.input.probe), _read_json(sm.input.segments)
    plans = {str(plan["segment"]["start"]): plan for plan in map(_read_json, sm.input.plans)}
    whole = piece_format(info, sm.params.output)[1]
    routes, stores = {}, {}
    for seg in segments:
        index, plan = str(seg["index"]), plans.get(str(seg["start"]))
        route = segment_route(sm.params.piece_ext, index in sm.params.untouched, plan)
        spans = reencoded_spans(info, seg["start"], seg["stop"], plan) if route == "repair_gops" else ()
        routes[index] = (route, route_reason(route, sm.params.piece_ext, whole, spans))
        if route in ("repair", "repair_gops"):
            folder = Path(sm.output[0]).parent / f"seg{index}"
            stores[index] = (plan, folder / "frames.zarr", folder / "repaired.zarr", folder / "mask.zarr")
    settings = {Path(p).stem: _read_json(p) for p in sm.input.settings}
    seams = seam_figures([plan for plan, *_ in stores.values()],
                         {plan["segment"]["start"]: (repaired, frames, mask)
                          for plan, frames, repaired, mask in stores.values()})
    for line in seam_lines(seams):
        log.info("%s", line)
    tracks = [(Path(p).parent.name, _read_json(p)) for p in sm.input.tracks]
    write_report(sm.wildcards.video, info, segments, routes, stores, settings, sm.output[0], seams, tracks)
    log.info("report pages of %d repaired segment(s) in %s", len(stores), sm.output[0])


def concat(sm):
    from aivid.output.check import check_output
    from aivid.output.remux import remux

    from aivid.atomic import atomic_output

    info = _info(sm.input.probe)
    whole, spans = output_spans(info, _read_json(sm.input.segments), list(sm.input.pieces), list(sm.input.plans))
    with atomic_output(sm.output[0]) as tmp:
        start = time.perf_counter()
        remux(info, spans, tmp, whole=whole)
        joined = time.perf_counter()
        for line in check_output(info, tmp, spans, whole, repairs=_repairs(sm)):
            log.info("%s", line)
        log.info("joined in %.2f s, self-check %.2f s", joined - start, time.perf_counter() - joined)
    log.info("wrote %s", sm.output[0])


def _repairs(sm):
    """(segment start, repaired store) of each repaired segment (the self-check lays them over)."""
    return [(_read_json(Path(store).parent / "plan.json")["segment"]["start"], store) for store in sm.input.repaired]


def output_spans(info, segments, pieces, plans):
    """(whole, spans): the re-encoded pieces of a video as aivid.output.remux.Span, and whether
    they cover the whole video (no packet of the source's video copied)."""
    from aivid.output.assemble import reencoded_spans
    from aivid.output.remux import Span
    from aivid.output.route import smart_render

    by_folder = {Path(p).parent.name: p for p in pieces}
    plan_of = {Path(p).parent.name: p for p in plans}
    whole = not all(smart_render(Path(p).suffix.lstrip(".")) for p in pieces)
    spans = []
    for seg in segments:
        folder = f"seg{seg['index']}"
        if folder not in by_folder:
            continue
        if whole:
            spans.append(Span(seg["start"], seg["stop"], by_folder[folder]))
            continue
        runs = reencoded_spans(info, seg["start"], seg["stop"], _read_json(plan_of[folder]))
        held, offset = sum(b - a for a, b in runs), 0  # a piece holds its runs one after another
        for start, stop in runs:
            spans.append(Span(start, stop, by_folder[folder], offset, held))
            offset += stop - start
    return whole, spans


DOING = {"report_pages": "making the report pages", "track": "tracking a region", "mask": "building the mask", "plan": "planning", "decode": "decoding the repair box",
         "inpaint": "inpainting a window", "prompt": "encoding the prompts", "blend": "blending the repair",
         "piece": "encoding a repaired segment", "concat": "joining the output"}
FULL = (errno.ENOSPC, errno.EDQUOT)
REFUSED = (errno.EACCES, errno.EPERM, errno.EROFS)


def _megabytes(count):
    return f"{count / 1e6:.1f} MB" if count < 1e9 else f"{count / 1e9:.2f} GB"


def user_error(exc, doing, folder=None, needs=None):
    """One line for what a step's failure means to the user: a full disk (naming the folder, the
    step, the space free and roughly what the step needed), a folder it may not write, or the
    AividError as it is.  Anything else is a bug and is raised as it is."""
    if isinstance(exc, AividError) and "No space left on device" not in str(exc):
        return exc
    if isinstance(exc, OSError) and exc.errno not in FULL + REFUSED:
        raise exc
    place = Path(getattr(exc, "filename", None) or folder or ".")
    place = place if place.is_dir() else place.parent
    if isinstance(exc, OSError) and exc.errno in REFUSED:
        return AividError(place, f"cannot write here while {doing} ({exc.strerror})")
    free = shutil.disk_usage(place if place.exists() else ".").free
    need = needs() if needs else None
    return AividError(place, f"no space left on device while {doing} ({_megabytes(free)} free"
                             + (f"; this step writes up to about {_megabytes(need)}" if need else "")
                             + "); free some space and run the same command again")


def output_estimate(step, sm):
    """Roughly how many bytes `step` writes (an upper bound where the plan knows the sizes)."""
    import os

    from aivid.media.store import default_chunks
    from aivid.repair.boxes import repair_box

    name = step.__name__
    try:
        if name == "concat":
            return sum(os.path.getsize(p) for p in sm.input.pieces if os.path.exists(p))
        if name in ("decode", "blend"):
            plan = _read_json(sm.input.plan)
            frames = plan["segment"]["stop"] - plan["segment"]["start"]
            if name == "decode":
                info = _info(sm.input.probe)
                height, width = info.height, info.width
            else:
                from aivid.media.lazy import LazyVideo

                height, width = LazyVideo.open(sm.input.frames).shape[1:3]
            shape = (frames, height, width, 3)
            t0, t1, y0, y1, x0, x1 = repair_box(plan["windows"], sm.params.feather, default_chunks(shape), shape)
            return (t1 - t0) * (y1 - y0) * (x1 - x0) * 3
        if name == "piece":
            info, seg = _info(sm.input.probe), _segment(sm)
            frames = seg["stop"] - seg["start"]
            if sm.wildcards.get("ext") == "mkv":  # FFV1 RGB: about half the raw frames
                return frames * info.height * info.width * 3 // 2
            return os.path.getsize(info.path) * frames // max(1, info.frames) * 2
    except (OSError, KeyError, ValueError, AttributeError):
        return None
    return None


def run_step(step, sm):
    """Entry point of the model rules' scripts: run `step` with the script's `snakemake` object,
    logging to the rule's log; an error stops the job with one line."""
    handlers = [logging.StreamHandler(sys.stderr)]
    if sm.log:
        handlers.append(logging.FileHandler(sm.log[0], mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers,
                        force=True)
    try:
        step(sm)
    except (AividError, OSError) as exc:
        exc = user_error(exc, DOING[step.__name__], Path(sm.output[0]).parent, lambda: output_estimate(step, sm))
        log.error("aivid: error: %s", exc)
        sys.exit(1)


def run_here(step, input, output, params, wildcards, log_files):
    """Run `step` inside Snakemake's own process (rules with `run:`), so a job costs its work, not
    a Python start-up.  Only this thread's log lines go to the rule's log; an error stops the job
    with one line."""
    from types import SimpleNamespace

    from snakemake.exceptions import WorkflowError

    handler = logging.FileHandler(log_files[0], mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    thread = threading.get_ident()
    handler.addFilter(lambda record: record.thread == thread)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    sm = SimpleNamespace(input=input, output=output, params=params, wildcards=wildcards, log=log_files)
    try:
        step(sm)
    except (AividError, OSError) as exc:
        exc = user_error(exc, DOING[step.__name__], Path(output[0]).parent, lambda: output_estimate(step, sm))
        log.error("aivid: error: %s", exc)
        raise WorkflowError(f"aivid: error: {exc}") from None
    finally:
        log.removeHandler(handler)
        handler.close()


def failure_summary(logfile):
    """The distinct one-line aivid errors of a failed run (from Snakemake's log files), in order,
    to repeat below Snakemake's error blocks."""
    text = ""
    for path in [logfile] if isinstance(logfile, (str, Path)) else list(logfile or []):
        try:
            text += Path(path).read_text(errors="replace")
        except OSError:
            pass
    found = (line[line.index("aivid: error:"):].strip() for line in text.splitlines() if "aivid: error:" in line)
    return list(dict.fromkeys(found))
