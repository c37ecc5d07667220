"""Running one temporal window of one tile through a backend."""

import logging
import time

import numpy as np

from aivid.atomic import atomic_output
from aivid.repair.backends import get_backend
from aivid.media.lazy import LazyVideo

log = logging.getLogger("aivid")


def tile_path(window_store, index):
    return f"{window_store}/tile{index}"


def inpaint_window(frames_store, mask_store, window, out, options, previous=None, prompt=None, start=0,
                   before_mask=None):
    """Repair every tile of `window` ({"frames": [a, b], "tiles": [[x, y, w, h], ...]}) of the
    segment starting at frame `start`.

    Each tile's (T, h, w, 3) result is stored as `out/tile{i}`.  `previous` is the store of the
    window before (its results condition this one: see condition); `prompt` a file of cached
    prompt embeddings (aivid.repair.prompts); `before_mask` the previous segment's mask store,
    for a window that starts before its segment (a stretch that crosses the boundary).
    """
    frames, mask = LazyVideo.open(frames_store), LazyVideo.open(mask_store)
    a, b = window["frames"]
    backend = get_backend(window["backend"], options)
    embeds = None
    if prompt:
        from aivid.repair.prompts import load_prompts

        embeds = load_prompts(prompt)
    with atomic_output(out) as tmp:
        tmp.mkdir()
        for i, (x, y, w, h) in enumerate(window["tiles"]):
            crop = frames[max(0, a) : b, y : y + h, x : x + w].numpy()
            holes = mask[max(0, a) : b, y : y + h, x : x + w, 0].numpy() > 0
            given = _previous_tile(previous, window, i, start)
            if given and a < 0 and before_mask:
                held = LazyVideo.open(before_mask)
                given["mask"] = held[held.shape[0] + a : held.shape[0], y : y + h, x : x + w, 0].numpy() > 0
            crop, holes, shared = condition(crop, holes, a, given, backend.chained)
            if a < 0 and shared < -a:
                log.warning("window %s tile %d: the window before the segment boundary has no result for "
                            "this tile; the boundary is not cross-faded", window["id"], i)
            context = {"seed": options["seed"], "window": window, "tile": i, "prompt_embeds": embeds}
            started = time.perf_counter()
            backend.stats = {}
            result = np.asarray(backend.inpaint(crop, holes, context))
            if result.dtype != crop.dtype:
                raise AssertionError(f"backend {window['backend']} returned {result.dtype} frames for {crop.dtype}")
            seconds = time.perf_counter() - started
            log.info("window %s tile %d: %d frames of %dx%d in %.1f s%s", window["id"], i, b - a, w, h, seconds,
                     f", the first {shared} from the window before" if shared else "")
            store = LazyVideo.create(tile_path(tmp, i), result.shape, frames.fps,
                                     {"window": window, "tile": i, "segment_start": start,
                                      "seconds": round(seconds, 2), "backend": window["backend"],
                                      "stats": backend.stats, "shared": shared,
                                      "shared_digest": frames_digest(crop[:shared])}, dtype=result.dtype)
            store[:] = result
    return out


def condition(crop, holes, a, given, chained):
    """(frames, mask, shared) as a backend is given them, for a window starting at frame `a`.

    `given` is the result of the window before for this tile, {"frames": [pa, pb], "result"}
    in this segment's frame numbers (and "mask": the previous segment's mask of the frames
    before 0), or None.  A chained backend takes every frame it shares with the window before
    from that result, unmasked (so it continues that fill).  Frames before 0 (a window that
    starts before its segment, across a boundary its stretch crosses; `crop` starts at frame 0)
    come from that result for any backend; a backend that is not chained fills their mask
    itself, and the blend cross-fades the two fills.  Without a result the frames before 0
    repeat frame 0 (and its mask) and `shared` is 0: they are not to be cross-faded."""
    lead, b = max(0, -a), max(0, a) + len(crop)
    if given and given["frames"][0] <= a:
        pa, pb = given["frames"]
        reach = max(0, min(pb, b) - a)  # frames from `a` on that the window before covers
        shared = reach if chained else min(reach, lead)
        if shared >= lead:
            before = given.get("mask")  # the lead frames' mask, which a backend not chained fills
            if chained or before is None:
                before = np.zeros((lead,) + holes.shape[1:], bool)
            crop = np.concatenate([given["result"][a - pa : a - pa + lead], crop])
            holes = np.concatenate([before, holes])
            if chained:
                crop[:shared] = given["result"][a - pa : a - pa + shared]
                holes[:shared] = False
            return crop, holes, shared
    if lead:
        crop = np.concatenate([np.repeat(crop[:1], lead, 0), crop])
        holes = np.concatenate([np.repeat(holes[:1], lead, 0), holes])
    return crop, holes, 0


def frames_digest(frames):
    """A short hash of some frames (what a window was given from the window before)."""
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(frames).tobytes()).hexdigest()[:16]


def _previous_tile(previous, window, index, start):
    """The previous window's result for this tile (a tile of it that holds this tile's box, cut
    to the box), its frames in the numbers of the segment starting at `start`; or None."""
    if not previous:
        return None
    first = LazyVideo.open(tile_path(previous, 0))
    boxes, offset = first.attrs["window"]["tiles"], first.attrs.get("segment_start", start) - start
    x, y, w, h = window["tiles"][index]
    for j, (px, py, pw, ph) in enumerate(boxes):
        if px <= x and py <= y and x + w <= px + pw and y + h <= py + ph:
            prev = LazyVideo.open(tile_path(previous, j))
            pa, pb = prev.attrs["window"]["frames"]
            return {"frames": [pa + offset, pb + offset],
                    "result": prev[:, y - py : y - py + h, x - px : x - px + w].numpy()}
    return None
