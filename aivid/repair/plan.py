"""Planning the work of one segment: region-of-interest tiles and temporal windows."""

import numpy as np

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
    from scipy import ndimage  # here: the workflow's parse and every window job import this module

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


def lead_length(settings, frames_before):
    """Frames a stretch's first window shares with the previous segment's last one when the
    stretch crosses their boundary: the overlap, as far as the window and that segment allow."""
    return max(0, min(settings["overlap"], settings["window"] - 1, frames_before))


def boundary_zone(before, after, settings):
    """(lo, hi): the absolute frames (lo, hi] in which a cut would stop the masked stretch of
    segment summary `before` from running on into the next segment's (`after`), or None when
    their masked frames are too far apart to be one stretch anyway (a gap longer than
    `context_frames`, as within a segment).  Both segments' plans ask, with the same summaries."""
    if not before["active_frames"] or not after["active_frames"]:
        return None
    last, first = before["active_frames"][-1], after["active_frames"][0]
    if first - last - 1 > settings["context_frames"]:
        return None
    lead = lead_length(settings, before["stop"] - before["start"])
    return min(last, before["stop"] - lead), first


def boundary_tiles(before_mask, before, after_mask, after, settings, multiple, tile_size):
    """The tiles of the two windows that meet at a boundary a stretch crosses: the boxes around
    what is masked in the last `window` frames before it and the first `window` after it (both
    windows lie inside), so both segments' plans give the two windows the same tiles."""
    n, window = before["stop"] - before["start"], settings["window"]
    fp = footprint(LazyVideo.open(before_mask), max(0, n - window), n)
    fp |= footprint(LazyVideo.open(after_mask), 0, min(window, after["stop"] - after["start"]))
    return tiles_for(fp, settings["margin"], multiple, tile_size)


#: the window ids of backends whose jobs run in Snakemake's process (InpaintBackend.in_process)
#: and of the others (model windows, in a script of their own): the workflow's two inpaint
#: rules take their windows by these patterns
WINDOW_IDS = {True: r"s\d+w\d+", False: r"s\d+m\d+"}


def window_id(stretch, k, in_process=True):
    """The id of stretch `stretch`'s window `k` (matching WINDOW_IDS[in_process])."""
    return f"s{stretch}{'w' if in_process else 'm'}{k}"


def plan_segment(mask_store, summary, cuts, settings, rules=None, backend=None, choose=None, before=None,
                 after=None):
    """The work for one segment: temporal windows, each with the tiles its masked pixels need.

    Masked frames are grouped into stretches (gaps up to `context_frames` joined, split at hard
    cuts), widened by `context_frames` of context, and cut into overlapping windows.  A window's
    tiles are the boxes (with `margin` of context) around what is masked in its frames.
    `summary` comes from build_segment_mask; `cuts` are absolute frame numbers of hard cuts;
    Each window records its `backend`: the configured one, or what `choose(a, b, active)` picks
    for its stretch ({"backend", "why", "evidence"}; `inpaint.backend: auto`).  `rules(backend)`
    gives that backend's (size multiple, frame rule, least tile size, in process): tiles grow to a
    multiple of the first and to at least the third (a context crop) where given;
    `frame_rule(a, b, lo, hi)` may adjust a window to the lengths the backend accepts; the last
    names the window (window_id) for the rule that runs it.

    A stretch that crosses a segment boundary is one stretch: `before` / `after` are (mask store,
    summary) of the neighbouring segment where the stretch runs on into it (see boundary_zone;
    no cut in the zone).  The last window before the boundary ends on it (`tail`); the first
    after it starts `lead_length` frames before it (`lead`: those frames are the previous
    window's result), and both take boundary_tiles, so the repair is conditioned and
    cross-faded across the boundary as it is between the windows of one segment.  (A window
    that is both takes the tiles of the boundary before it; they cover its own frames.)
    """
    start, stop = summary["start"], summary["stop"]
    mask = LazyVideo.open(mask_store)
    active = [f - start for f in summary["active_frames"]]
    zones = [boundary_zone(before[1], summary, settings) if before else None,
             boundary_zone(summary, after[1], settings) if after else None]
    cuts = [c - start for c in cuts if not any(z and z[0] < c <= z[1] for z in zones)]
    lead = lead_length(settings, before[1]["stop"] - before[1]["start"]) if zones[0] else 0
    ctx, windows = settings["context_frames"], []
    shots = _split_at((0, stop - start), cuts)
    stretches = [piece for run in _runs(active, ctx) for piece in _split_at(run, cuts)]
    for r, (a, b) in enumerate(stretches):
        shot = next(s for s in shots if s[0] <= a < s[1])
        lo, hi = max(shot[0], a - ctx), min(shot[1], b + ctx)
        opens, closes = bool(zones[0]) and r == 0, bool(zones[1]) and r == len(stretches) - 1
        if opens:
            lo = -lead
        if closes:
            lo, hi = min(lo, stop - start - lead_length(settings, stop - start)), stop - start
        chosen = choose(max(0, lo), hi, active) if choose else {"backend": backend}
        multiple, frame_rule, tile_size, in_process = rules(chosen["backend"]) if rules else (1, None, None, True)
        prev = None
        spans = windows_for(lo, hi, settings["window"], settings["overlap"])
        for k, (wa, wb) in enumerate(spans):
            if frame_rule:
                wa, wb = frame_rule(wa, wb, lo, hi)
            edges = {"lead": opens and k == 0, "tail": closes and k == len(spans) - 1}
            if edges["lead"] or edges["tail"]:  # the tiles the window across the boundary has too
                side = (*before, mask_store, summary) if edges["lead"] else (mask_store, summary, *after)
                tiles = boundary_tiles(*side, settings, multiple, tile_size)
            else:
                tiles = tiles_for(footprint(mask, wa, wb), settings["margin"], multiple, tile_size)
            if not tiles:
                continue
            wid = window_id(r, k, in_process)
            windows.append({"id": wid, "stretch": r, "frames": [wa, wb], "tiles": tiles, "prev": prev,
                            **{name: True for name, on in edges.items() if on}, **chosen})
            prev = wid
    return {"segment": summary, "cuts": [c + start for c in cuts], "work": bool(windows), "windows": windows,
            "continues": {"from_previous": bool(zones[0]), "into_next": bool(zones[1])}}


def window_of(plan, window_id):
    """The window called `window_id` in a segment's plan."""
    for window in plan["windows"]:
        if window["id"] == window_id:
            return window
    raise KeyError(f"no window {window_id!r} in the plan of segment {plan['segment']['start']}-{plan['segment']['stop']}")
