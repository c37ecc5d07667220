"""Planning the work of one segment: region-of-interest tiles and temporal windows."""

import numpy as np
from scipy import ndimage

from aivid.media.lazy import LazyVideo


def _runs(frames, gap):
    """Group sorted frame indices into [start, stop) runs, merging gaps of up to `gap` frames."""
    runs = []
    for f in frames:
        if runs and f - runs[-1][1] <= gap:
            runs[-1][1] = f + 1
        else:
            runs.append([f, f + 1])
    return runs


def _split_at(run, cuts):
    a, b = run
    inner = [c for c in cuts if a < c < b]
    bounds = [a] + inner + [b]
    return list(zip(bounds, bounds[1:]))


def _snap(lo, hi, multiple, limit):
    """Grow [lo, hi) to a multiple of `multiple` (as far as the frame allows), inside [0, limit)."""
    cap = limit - limit % multiple if limit >= multiple else limit
    size = max(hi - lo, min(cap, -(-(hi - lo) // multiple) * multiple))
    lo = max(0, min(lo - (size - (hi - lo)) // 2, limit - size))
    return lo, lo + size


def footprint(mask, a, b, block=16):
    """Union over frames [a, b) of a (T, H, W, 1) mask store, as a 2-D bool array."""
    out = np.zeros(mask.shape[1:3], bool)
    for t0 in range(a, b, block):
        out |= mask[t0 : min(b, t0 + block), :, :, 0].numpy().any(axis=0)
    return out


def _merge_boxes(boxes):
    """Merge overlapping [x0, y0, x1, y1] boxes until none overlap."""
    boxes = [list(b) for b in boxes]
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    boxes[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return boxes


def _grow(lo, hi, size, limit):
    """[lo, hi) grown about its centre to at least `size`, inside [0, limit)."""
    size = min(max(size, hi - lo), limit)
    lo = max(0, min((lo + hi - size) // 2, limit - size))
    return lo, lo + size


def tiles_for(fp, margin, multiple, min_size=None):
    """Disjoint boxes [x, y, w, h] around the footprint's regions, with context margin; grown to
    at least `min_size` (width, height; swapped for a region taller than wide) where given."""
    height, width = fp.shape
    labels, _ = ndimage.label(fp)
    boxes = []
    for sl in ndimage.find_objects(labels):
        y0, y1 = max(0, sl[0].start - margin), min(height, sl[0].stop + margin)
        x0, x1 = max(0, sl[1].start - margin), min(width, sl[1].stop + margin)
        if min_size:
            w, h = min_size if x1 - x0 >= y1 - y0 else min_size[::-1]
            (x0, x1), (y0, y1) = _grow(x0, x1, w, width), _grow(y0, y1, h, height)
        y0, y1 = _snap(y0, y1, multiple, height)
        x0, x1 = _snap(x0, x1, multiple, width)
        boxes.append([x0, y0, x1, y1])
    boxes = _merge_boxes(boxes)
    snapped = []
    for x0, y0, x1, y1 in sorted(boxes, key=lambda b: (b[1], b[0])):
        y0, y1 = _snap(y0, y1, multiple, height)
        x0, x1 = _snap(x0, x1, multiple, width)
        snapped.append([int(x0), int(y0), int(x1 - x0), int(y1 - y0)])
    return snapped


def windows_for(a, b, window, overlap):
    """Overlapping [start, stop) windows covering [a, b)."""
    if b - a <= window:
        return [(a, b)]
    step = max(1, window - overlap)
    starts = list(range(a, b - window, step)) + [b - window]
    return [(s, s + window) for s in starts]


def plan_segment(mask_store, summary, cuts, settings, rules=None, backend=None, choose=None):
    """The work for one segment: temporal windows, each with the tiles its masked pixels need.

    Masked frames are grouped into stretches (gaps up to `context_frames` joined, split at hard
    cuts), widened by `context_frames` of context, and cut into overlapping windows.  A window's
    tiles are the boxes (with `margin` of context) around what is masked in its frames.
    `summary` comes from build_segment_mask; `cuts` are absolute frame numbers of hard cuts;
    Each window records its `backend`: the configured one, or what `choose(a, b, active)` picks
    for its stretch ({"backend", "why", "evidence"}; `inpaint.backend: auto`).  `rules(backend)`
    gives that backend's (size multiple, frame rule, least tile size): tiles grow to a multiple of
    the first and to at least the last (a context crop) where given; `frame_rule(a, b, lo, hi)`
    may adjust a window to the lengths the backend accepts.
    """
    start, stop = summary["start"], summary["stop"]
    mask = LazyVideo.open(mask_store)
    active = [f - start for f in summary["active_frames"]]
    cuts = [c - start for c in cuts]
    ctx, windows = settings["context_frames"], []
    shots = _split_at((0, stop - start), cuts)
    stretches = [piece for run in _runs(active, ctx) for piece in _split_at(run, cuts)]
    for r, (a, b) in enumerate(stretches):
        shot = next(s for s in shots if s[0] <= a < s[1])
        lo, hi = max(shot[0], a - ctx), min(shot[1], b + ctx)
        chosen = choose(a, b, active) if choose else {"backend": backend}
        multiple, frame_rule, tile_size = rules(chosen["backend"]) if rules else (1, None, None)
        prev = None
        for k, (wa, wb) in enumerate(windows_for(lo, hi, settings["window"], settings["overlap"])):
            if frame_rule:
                wa, wb = frame_rule(wa, wb, lo, hi)
            tiles = tiles_for(footprint(mask, wa, wb), settings["margin"], multiple, tile_size)
            if not tiles:
                continue
            wid = f"s{r}w{k}"
            windows.append({"id": wid, "stretch": r, "frames": [wa, wb], "tiles": tiles, "prev": prev, **chosen})
            prev = wid
    return {"segment": summary, "cuts": [c + start for c in cuts], "work": bool(windows), "windows": windows}


def window_of(plan, window_id):
    """The window called `window_id` in a segment's plan."""
    for window in plan["windows"]:
        if window["id"] == window_id:
            return window
    raise KeyError(f"no window {window_id!r} in the plan of segment {plan['segment']['start']}-{plan['segment']['stop']}")
