"""The seam figure: how much a repair's fill jumps where two windows (or two segments) meet.

The change at frame t is the mean absolute difference between repaired frames t-1 and t over the
pixels masked in either (inside the part of the repair box the repair reaches, all channels),
over the same of the source: about 1 where the fill moves as the picture does.  A join is where one window's
result hands over to the next one's: the frames they share (cross-faded) and the frame after,
or, where no window spans a segment boundary inside a masked stretch, the one change across it.
Its seam ratio is the largest change at the join over the median change inside the windows on
either side (frames of no join): about 1 where the fill runs on smoothly, 2 and more where a blob
appears.
"""

import numpy as np

from aivid.media.lazy import LazyVideo
from aivid.repair.boxes import patch_box

BLOCK = 32  # frames read at a time


def _changes_in(store, frames_store, mask_store, start, carry):
    """{absolute t: relative change} inside one segment's repair box; `carry` is the previous
    segment's last frame (absolute t, box, repaired, source, mask) or None; returns (changes,
    new carry)."""
    repaired, source, mask = (LazyVideo.open(p) for p in (store, frames_store, mask_store))
    # the part of the repair box the repair can change (its masked pixels all lie there)
    first, last, y0, y1, x0, x1 = box = patch_box(store)
    changes = {}
    for t0 in range(first, last, BLOCK):
        t1 = min(last, t0 + BLOCK)
        scale = 255.0 / np.iinfo(repaired.dtype).max  # changes in 8-bit levels, whatever the depth
        block = [repaired[t0:t1, y0:y1, x0:x1].numpy() * np.float32(scale),
                 source[t0:t1, y0:y1, x0:x1].numpy() * np.float32(scale), mask[t0:t1, y0:y1, x0:x1, 0].numpy() > 0]
        if carry and carry[0] == start + t0 - 1:
            pair = _overlap(carry[1], box[2:], carry[2:], [b[0] for b in block])
            if pair:
                changes[start + t0] = _change(*pair)
        for i in range(1, t1 - t0):
            changes[start + t0 + i] = _change([b[i - 1] for b in block], [b[i] for b in block])
        carry = (start + t1 - 1, box[2:], *[b[-1] for b in block])
    return {t: c for t, c in changes.items() if c is not None}, carry


def _overlap(before_box, box, before, after):
    """The previous segment's last frame and this segment's first (lists of repaired, source,
    mask), cut to the part of the frame both boxes hold; None if they do not meet."""
    (py0, py1, px0, px1), (y0, y1, x0, x1) = before_box, box
    lo_y, hi_y, lo_x, hi_x = max(py0, y0), min(py1, y1), max(px0, x0), min(px1, x1)
    if lo_y >= hi_y or lo_x >= hi_x:
        return None
    cut = lambda a, oy, ox: a[lo_y - oy : hi_y - oy, lo_x - ox : hi_x - ox]
    return [cut(a, py0, px0) for a in before], [cut(a, y0, x0) for a in after]


NOISE = 0.5  # the least source change counted (about what compression alone changes a still picture)


def _change(before, after):
    """The repaired pixels' change over the source's, at the pixels masked in either frame."""
    where = before[2] | after[2]
    if not where.any():
        return None
    repaired = np.abs(after[0] - before[0])[where].mean()
    source = np.abs(after[1] - before[1])[where].mean()
    return float(repaired / max(source, NOISE))


def _absolute_windows(plans):
    """Every window of every plan with absolute frames, and its predecessor's key (None if it
    has none): the previous window of its stretch, or for a window conditioned across a segment
    boundary (`lead`) the last window of the previous segment's stretch (`tail`)."""
    windows, tails = {}, {}
    for plan in plans:
        start = plan["segment"]["start"]
        for w in plan["windows"]:
            key = (start, w["id"])
            prev = (start, w["prev"]) if w.get("prev") else None
            windows[key] = {"frames": [start + w["frames"][0], start + w["frames"][1]], "prev": prev,
                            "lead": w.get("lead", False), "segment": start}
            if w.get("tail"):
                tails[plan["segment"]["stop"]] = key
    for w in windows.values():
        if w["lead"]:
            w["prev"] = tails.get(w["segment"])
    return windows


def seam_figures(plans, stores):
    """One row per join of a video's repairs: {"kind": "window" | "segment", "frames": [t0, t1]
    (the changes from t-1 to t for t in [t0, t1]), "change", "inside" (median change in the two
    windows), "ratio"}.  `plans`: the repaired segments' plans; `stores`: {segment start:
    (repaired store, mask store)}."""
    changes, carry = {}, None
    for start in sorted(stores):
        found, carry = _changes_in(*stores[start], start, carry)
        changes.update(found)
    windows = _absolute_windows([p for p in plans if p["segment"]["start"] in stores])
    joins = []
    for key, w in windows.items():
        prev = windows.get(w["prev"]) if w["prev"] else None
        if prev:
            lo, hi = w["frames"][0], min(prev["frames"][1], w["frames"][1])
            joins.append(("window" if prev["segment"] == w["segment"] else "segment", lo, hi, prev, w))
    boundaries = {p["segment"]["start"] for p in plans if p["segment"]["start"] in stores}
    spanned = {s for _, lo, hi, _, _ in joins for s in boundaries if lo <= s <= hi}
    for s in sorted(boundaries - spanned):
        before = [w for w in windows.values() if w["frames"][1] == s]
        after = [w for w in windows.values() if w["segment"] == s and w["frames"][0] == s]
        if before and after and s in changes:
            joins.append(("segment", s, s, before[0], after[0]))
    in_join = {t for _, lo, hi, _, _ in joins for t in range(lo, hi + 1)}
    rows = []
    for kind, lo, hi, prev, w in sorted(joins, key=lambda j: j[1]):
        at = [changes[t] for t in range(lo, hi + 1) if t in changes]
        inside = [changes[t] for win in (prev, w) for t in range(win["frames"][0] + 1, win["frames"][1])
                  if t in changes and t not in in_join]
        if not at or not inside:
            continue
        change, median = max(at), float(np.median(inside))
        rows.append({"kind": kind, "frames": [lo, hi], "change": round(change, 3), "inside": round(median, 3),
                     "ratio": round(change / max(median, 1e-6), 3)})
    return rows


def seam_lines(rows):
    """The seam figure as log lines."""
    if not rows:
        return ["seams: no joins inside a repair"]
    worst = max(r["ratio"] for r in rows)
    lines = [f"seams: {len(rows)} join(s), worst ratio {worst:.2f} (change at the join over the median change "
             "inside the windows beside it)"]
    lines += [f"  {r['kind']} join, frames {r['frames'][0]}-{r['frames'][1]}: change {r['change']:.2f}, "
              f"inside {r['inside']:.2f}, ratio {r['ratio']:.2f}" for r in rows]
    return lines
