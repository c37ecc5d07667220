"""Seam blending: paste each window's result back with a feathered mask, cross-fading windows."""

import cv2
import numpy as np

from .atomic import atomic_output
from .inpaint import tile_path
from .lazy import LazyVideo


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


def blend_segment(frames_store, mask_store, windows, results, out, feather, block=8):
    """Write the repaired segment: original pixels except where windows repaired the mask."""
    frames, mask = LazyVideo.open(frames_store), LazyVideo.open(mask_store)
    outputs = {(w["id"], i): LazyVideo.open(tile_path(results[w["id"]], i))
               for w in windows for i in range(len(w["tiles"]))}
    tweights = {w["id"]: time_weights(w, windows) for w in windows}
    with atomic_output(out) as tmp:
        repaired = LazyVideo.create(tmp, frames.shape, frames.fps, frames.attrs)
        for t0 in range(0, len(frames), block):
            t1 = min(len(frames), t0 + block)
            repaired[t0:t1] = _blend_block(frames[t0:t1].numpy(), mask[t0:t1, :, :, 0].numpy() > 0, t0,
                                           windows, outputs, tweights, feather)
    return out


def _blend_block(orig, mask, t0, windows, outputs, tweights, feather):
    """Blend one block of frames; only the box the block's tiles cover (plus the feather) is computed."""
    t1 = t0 + len(orig)
    covering = [w for w in windows if max(w["frames"][0], t0) < min(w["frames"][1], t1)]
    if not covering:
        return orig
    height, width = orig.shape[1:3]
    x0 = max(0, min(x for w in covering for x, _, _, _ in w["tiles"]) - feather - 1)
    y0 = max(0, min(y for w in covering for _, y, _, _ in w["tiles"]) - feather - 1)
    x1 = min(width, max(x + tw for w in covering for x, _, tw, _ in w["tiles"]) + feather + 1)
    y1 = min(height, max(y + th for w in covering for _, y, _, th in w["tiles"]) + feather + 1)
    out = orig.copy()
    out[:, y0:y1, x0:x1] = _blend_box(orig[:, y0:y1, x0:x1], mask[:, y0:y1, x0:x1], t0, covering, outputs, tweights,
                                      feather, (x0, y0))
    return out


def _blend_box(orig, mask, t0, windows, outputs, tweights, feather, origin):
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
    out[touched] = np.clip(np.rint(mixed[touched]), 0, 255).astype(np.uint8)
    return out
