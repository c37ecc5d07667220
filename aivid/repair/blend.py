"""Seam blending: paste each window's result back with a feathered mask, cross-fading windows."""

import cv2
import numpy as np

from aivid.atomic import atomic_output
from aivid.repair.boxes import patch_box, patch_part, repair_box, tiles_reach
from aivid.repair.inpaint import tile_path
from aivid.media.lazy import LazyVideo


def feather_alpha(mask, feather):
    """1 inside the mask, falling linearly to 0 at `feather` pixels outside it (per frame)."""
    if feather <= 0:
        return mask.astype(np.float32)
    out = np.empty(mask.shape, np.float32)
    for i, m in enumerate(mask):
        if not m.any():
            out[i] = 0
            continue
        dist = cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, 5)
        out[i] = np.clip(1.0 - dist / (feather + 1), 0.0, 1.0)
    return out


def time_weights(window, neighbours):
    """Per-frame weights of one window: ramps where it overlaps its neighbours in time."""
    a, b = window["frames"]
    weights = np.ones(b - a, np.float32)
    for other in neighbours:
        oa, ob = other["frames"]
        lo, hi = max(a, oa), min(b, ob)
        if other is window or lo >= hi:
            continue
        ramp = (np.arange(lo, hi) - lo + 1) / (hi - lo + 1)
        weights[lo - a : hi - a] = np.minimum(weights[lo - a : hi - a], ramp if oa < a else ramp[::-1])
    return weights


def following_window(store, start):
    """The next segment's first window of a stretch that runs on across the boundary (its
    result `store`), in the frame numbers of the segment starting at `start`, keyed "next"; None
    if it was not given this segment's last result for the frames they share (then there is
    nothing to cross-fade: aivid.repair.inpaint.condition)."""
    first = LazyVideo.open(tile_path(store, 0)).attrs
    window = first["window"]
    if first["shared"] < -window["frames"][0]:
        return None
    offset = first["segment_start"] - start
    return {**window, "id": "next", "frames": [f + offset for f in window["frames"]]}


def blend_segment(frames_store, mask_store, windows, results, out, feather, following=None):
    """Write the repaired pixels of a segment: the original ones except where windows repaired
    the mask, inside the repair box only (the store holds nothing else; see aivid.repair.boxes).
    `following`: the store of the next segment's window that shares this segment's last frames
    (following_window), cross-faded with this segment's last window there."""
    from aivid.media.store import ChunkWriter

    frames, mask = LazyVideo.open(frames_store), LazyVideo.open(mask_store)
    first, last, y0, y1, x0, x1 = box = repair_box(windows, feather, frames.chunks, frames.shape)
    after = following_window(following, frames.attrs.get("start", 0)) if following else None
    if after:
        windows, results = windows + [after], {**results, "next": following}
    outputs = {(w["id"], i): LazyVideo.open(tile_path(results[w["id"]], i))
               for w in windows for i in range(len(w["tiles"]))}
    tweights = {w["id"]: time_weights(w, windows) for w in windows}
    patch = patch_part(windows, feather, box)
    # the blend's arithmetic only where the tiles and the feather reach (2 px more: the distance
    # transform's chamfer paths), not over the whole box grown to chunks: often a tenth of it
    (ry0, rx0), (ry1, rx1) = tiles_reach(windows, feather)
    ry0, rx0, ry1, rx1 = max(y0, int(ry0) - 2), max(x0, int(rx0) - 2), min(y1, int(ry1) + 2), min(x1, int(rx1) + 2)
    ct = frames.chunks[0]
    with atomic_output(out) as tmp:
        attrs = {**frames.attrs, "repair_box": list(box), "patch_box": list(patch)}
        repaired = LazyVideo.create(tmp, frames.shape, frames.fps, attrs, chunks=frames.chunks, dtype=frames.dtype)
        writer = ChunkWriter(repaired.parts[0], tmp)
        for t0 in range(first, last, ct):
            t1 = min(last, t0 + ct)
            covering = [w for w in windows if max(w["frames"][0], t0) < min(w["frames"][1], t1)]
            orig = frames[t0:t1, y0:y1, x0:x1].numpy()
            if covering:
                held = mask[t0:t1, ry0:ry1, rx0:rx1, 0].numpy() > 0
                part = (slice(None), slice(ry0 - y0, ry1 - y0), slice(rx0 - x0, rx1 - x0))
                orig[part] = _blend_box(orig[part], held, t0, covering, outputs, tweights, feather, (rx0, ry0))
            writer.write(t0, orig, y0, x0)
    return out


def repair_patches(store, lo, hi):
    """The (n, h, w, 3) blocks of the patch box of `store` (aivid.repair.boxes.patch_box) for frames
    [lo, hi) of its segment (zeros outside the patch's frames): what encoding lays over the source
    (aivid.output.assemble)."""
    repaired = LazyVideo.open(store)
    first, last, y0, y1, x0, x1 = patch_box(store)
    ct, blank = repaired.chunks[0], np.zeros((repaired.chunks[0], y1 - y0, x1 - x0, 3), repaired.dtype)
    for t0 in range(lo, hi, ct):
        t1 = min(hi, t0 + ct)
        yield repaired[t0:t1, y0:y1, x0:x1].numpy() if first < t1 and t0 < last else blank[: t1 - t0]


def _blend_box(orig, mask, t0, windows, outputs, tweights, feather, origin):
    """Blend the windows' tiles into `orig`, a box of frames whose top-left pixel is `origin`."""
    t1 = t0 + len(orig)
    acc = np.zeros(orig.shape, np.float32)
    weight = np.zeros(orig.shape[:3], np.float32)
    for w in windows:
        a, b = w["frames"]
        lo, hi = max(a, t0), min(b, t1)
        wt = tweights[w["id"]][lo - a : hi - a, None, None]
        for i, (x, y, tw, th) in enumerate(w["tiles"]):
            x, y = x - origin[0], y - origin[1]
            result = outputs[(w["id"], i)][lo - a : hi - a].numpy()
            acc[lo - t0 : hi - t0, y : y + th, x : x + tw] += wt[..., None] * result
            weight[lo - t0 : hi - t0, y : y + th, x : x + tw] += wt
    alpha = feather_alpha(mask, feather) * (weight > 0)
    filled = acc / np.maximum(weight, 1e-6)[..., None]
    out = orig.copy()
    touched = alpha > 0
    mixed = orig.astype(np.float32) * (1 - alpha[..., None]) + filled * alpha[..., None]
    out[touched] = np.clip(np.rint(mixed[touched]), 0, np.iinfo(orig.dtype).max).astype(orig.dtype)
    return out
