"""The classical backend: flow-guided propagation of pixels from other frames, then OpenCV's
Telea inpainting for what no frame shows.  No weights, no GPU.

Optical flow (DIS) is computed between neighbouring frames; inside the mask, where the flow
describes the defect rather than the scene, it is completed from the surrounding flow.  Each
masked pixel follows the flow backward and forward in time to the nearest frame that shows it,
and takes its value from there (sampled once).
"""

import cv2
import numpy as np

from aivid.media.decode import eight_bit
from aivid.repair.backends.base import InpaintBackend


def _complete_flow(flow, mask, ring_width=16):
    """Replace flow inside `mask` (grown a little: the defect disturbs the flow estimate around it
    too) with a motion model of the flow in a ring around it: an affine fit where the ring moves
    as one (camera motion, rigid objects), else an inpainting of the surrounding flow."""
    if not mask.any():
        return flow
    hole = cv2.dilate(mask.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    ring = (cv2.dilate(hole.astype(np.uint8), np.ones((2 * ring_width + 1,) * 2, np.uint8)) > 0) & ~hole
    ys, xs = np.nonzero(ring)
    out = flow.copy()
    if len(xs) >= 24:
        step = max(1, len(xs) // 800)
        src = np.stack([xs[::step], ys[::step]], 1).astype(np.float32)
        dst = src + flow[ys[::step], xs[::step]]
        model, inliers = cv2.estimateAffine2D(src, dst, ransacReprojThreshold=0.5)
        if model is not None and inliers.mean() > 0.6:
            hy, hx = np.nonzero(hole)
            pts = np.stack([hx, hy, np.ones_like(hx)], 1).astype(np.float32)
            out[hy, hx] = pts @ model.T.astype(np.float32) - pts[:, :2]
            return out
    return np.dstack([cv2.inpaint(np.ascontiguousarray(flow[..., c]), hole.astype(np.uint8), 5, cv2.INPAINT_TELEA)
                      for c in range(2)])


def neighbour_flows(frames, mask):
    """(to_previous, to_next): completed flow from frame t to t-1 and to t+1 (None at the ends)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grey = [cv2.cvtColor(eight_bit(f), cv2.COLOR_RGB2GRAY) for f in frames]  # DIS takes 8-bit frames
    count = len(frames)
    to_prev, to_next = [None] * count, [None] * count
    for t in range(count):
        if not mask[t].any():
            continue
        if t > 0:
            to_prev[t] = _complete_flow(dis.calc(grey[t], grey[t - 1], None), mask[t])
        if t + 1 < count:
            to_next[t] = _complete_flow(dis.calc(grey[t], grey[t + 1], None), mask[t])
    return to_prev, to_next


def _lookup(field, mx, my, nearest=True):
    mode = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.remap(field, mx, my, mode, borderMode=cv2.BORDER_CONSTANT, borderValue=-1)


def _sweep(source, cx, cy, flows, order, step):
    """Follow the flow from each masked pixel of frame t into frame t+step, and on until a frame
    shows it: record that frame (`source`) and where in it (`cx`, `cy`).  Values are sampled from
    the source frame once at the end, so long chains do not blur through repeated resampling."""
    height, width = source.shape[1:]
    gx, gy = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    box = np.ones((2, 2), np.uint8)
    for t in order:
        hole = source[t] != t
        if flows[t] is None or not hole.any():
            continue
        mx, my = gx + flows[t][..., 0], gy + flows[t][..., 1]
        nxt = source[t + step]
        # all four bilinear neighbours must lead to the same source frame
        hi = _lookup(cv2.dilate(nxt, box, anchor=(0, 0)), mx, my)
        lo = _lookup(cv2.erode(nxt, box, anchor=(0, 0), borderValue=-1), mx, my)
        found = hole & (lo == hi) & (hi >= 0) & (np.abs(hi - t) < np.abs(source[t] - t))
        if found.any():
            source[t][found] = hi[found]
            cx[t][found] = _lookup(cx[t + step], mx, my, nearest=False)[found]
            cy[t][found] = _lookup(cy[t + step], mx, my, nearest=False)[found]


def propagate(frames, mask, flows, order, step):
    """Values carried into masked pixels from one direction, and how many frames they travelled."""
    count, height, width = mask.shape
    own = np.arange(count, dtype=np.float32)[:, None, None]
    source = np.where(mask, np.float32(-1e6), own).astype(np.float32)
    gx, gy = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    cx, cy = np.repeat(gx[None], count, 0), np.repeat(gy[None], count, 0)
    _sweep(source, cx, cy, flows, order, step)
    values = frames.copy()
    for t in range(count):
        hole = mask[t] & (source[t] >= 0)
        for s in np.unique(source[t][hole]).astype(int):
            where = hole & (source[t] == s)
            sampled = cv2.remap(frames[s], cx[t], cy[t], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            values[t][where] = sampled[where]
    age = np.where(mask, np.abs(source - own), 0).astype(np.float32)
    return values, age


class ClassicalBackend(InpaintBackend):
    """Flow-guided temporal propagation from both directions, then spatial Telea inpainting.

    Each masked pixel gets a candidate from the past and one from the future.  Where both exist
    and agree they are averaged; where they disagree (content the flow cannot explain, such as a
    person behind the mask) the nearer one is kept only if it is close in time, otherwise Telea
    fills it from its surroundings.
    """

    in_process = True

    def inpaint(self, frames, mask, context=None):
        frames, mask = self.check(frames, mask)
        radius, max_offset = int(self.options["inpaint_radius"]), int(self.options["max_offset"])
        agree = float(self.options["agreement"])
        out = frames.copy()
        if not mask.any():
            return out
        to_prev, to_next = neighbour_flows(frames, mask)
        count = len(frames)
        past, age_p = propagate(frames, mask, to_prev, range(1, count), -1)
        future, age_f = propagate(frames, mask, to_next, range(count - 2, -1, -1), +1)
        for t in range(count):
            if not mask[t].any():
                continue
            out[t], unknown, fading = _combine(frames[t], mask[t], past[t], age_p[t], future[t], age_f[t], agree,
                                               max_offset)
            if unknown.any() or fading[0].any():
                out[t] = _telea_fade(out[t], unknown, fading, radius)
        return out


def _telea(frame, unknown, radius):
    """OpenCV's Telea inpainting of `unknown`, at the frame's depth (OpenCV takes 16-bit frames
    one channel at a time)."""
    holes = unknown.astype(np.uint8)
    if frame.dtype == np.uint8:
        return cv2.inpaint(frame, holes, radius, cv2.INPAINT_TELEA)
    return np.dstack([cv2.inpaint(np.ascontiguousarray(frame[..., c]), holes, radius, cv2.INPAINT_TELEA)
                      for c in range(frame.shape[2])])


def _telea_fade(frame, unknown, fading, radius):
    """Telea for the `unknown` pixels, and for the `fading` ones (where, mask) a mix of their
    one-sided candidate (already in `frame`) with Telea, weight `fading[1]` on the candidate."""
    where, weight = fading
    filled = _telea(frame, unknown | where, radius)
    if where.any():
        mixed = frame[where].astype(np.float32) * weight[where][:, None] + \
            filled[where].astype(np.float32) * (1 - weight[where][:, None])
        filled[where] = np.clip(np.rint(mixed), 0, np.iinfo(frame.dtype).max).astype(frame.dtype)
    return filled


def _combine(frame, hole, past, age_p, future, age_f, agree, max_offset):
    """Merge the two directions' candidates; return the frame, what is still unknown, and
    (where, weight) of the pixels whose one-sided candidate fades into Telea.

    A pixel only one direction shows (or whose two candidates disagree) keeps the nearer
    candidate up to `near` frames away; from there to `3 * near` it fades linearly into Telea,
    so a fill does not switch from borrowed pixels to Telea's from one frame to the next (a
    visible jump inside a window and at the join after it)."""
    has_p, has_f = hole & (age_p <= max_offset), hole & (age_f <= max_offset)
    both = has_p & has_f
    levels = 255.0 / np.iinfo(frame.dtype).max  # `agree` is in 8-bit levels at any depth
    diff = np.abs(past.astype(np.float32) - future.astype(np.float32)).mean(axis=2) * levels
    consistent = both & (diff <= agree)
    with np.errstate(invalid="ignore"):  # inf/inf where a direction has nothing: not used there
        w_p = np.nan_to_num(age_f / np.maximum(age_p + age_f, 1e-6), nan=0.5)[..., None]
    out = frame.copy()
    mixed = past.astype(np.float32) * w_p + future.astype(np.float32) * (1 - w_p)
    out[consistent] = np.clip(np.rint(mixed[consistent]), 0, np.iinfo(frame.dtype).max).astype(frame.dtype)
    near = max(2, max_offset // 8)
    far = min(max_offset, 3 * near)
    only_p = has_p & ~has_f & (age_p <= far) | both & ~consistent & (age_p <= np.minimum(age_f, far))
    only_f = has_f & ~has_p & (age_f <= far) | both & ~consistent & (age_f < np.minimum(age_p, far + 1)) & ~only_p
    out[only_p] = past[only_p]
    out[only_f] = future[only_f]
    age = np.where(only_p, age_p, np.where(only_f, age_f, 0))
    weight = np.clip((far - age) / max(1, far - near), 0, 1).astype(np.float32)  # 1 up to `near`, 0 at `far`
    fading = (only_p | only_f) & (age > near)
    unknown = hole & ~consistent & ~only_p & ~only_f
    return out, unknown, (fading, weight)
