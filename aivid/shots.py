"""Hard cut detection on small grey frames (cheap: decoded at 64x36)."""

import numpy as np

from .decode import iter_frame_blocks

CUT_RADIUS = 5  # a change counts as a cut if it stands out among this many changes either side


def frame_differences(path, start, stop, info=None):
    """Mean absolute difference (0-1) between each frame and the previous one, at 64x36 grey."""
    previous, diffs = None, []
    for _, block in iter_frame_blocks(path, start, stop, block=64, pix_fmt="gray", size=(64, 36), info=info):
        grey = block[..., 0].astype(np.float32) / 255.0
        if previous is not None:
            grey = np.concatenate([previous[None], grey])
        diffs += np.abs(np.diff(grey, axis=0)).mean(axis=(1, 2)).tolist()
        previous = grey[-1]
    return np.array(diffs)


def find_cuts(diffs, threshold=0.12, contrast=3.0, radius=CUT_RADIUS):
    """Indices i (a cut before frame i+1) where the change stands out: above `threshold` and
    `contrast` times the median change around it (fast motion raises both)."""
    cuts = []
    for i, d in enumerate(diffs):
        around = np.concatenate([diffs[max(0, i - radius) : i], diffs[i + 1 : i + 1 + radius]])
        if d > threshold and (not len(around) or d > contrast * np.median(around)):
            cuts.append(i)
    return cuts


def detect_cuts(path, start, stop, threshold=0.12, info=None):
    """Frame indices (absolute) in (start, stop) that begin a new shot."""
    diffs = frame_differences(path, start, stop, info)
    return [start + 1 + i for i in find_cuts(diffs, threshold)]


def cuts_near(path, active, reach, start, stop, threshold=0.12, info=None):
    """The cuts in (start, stop) that can bound work on the `active` frames (sorted): those within
    `reach` frames of them.  Only that stretch is decoded (plus the frames find_cuts compares a
    change with), not the whole segment."""
    if not active:
        return []
    margin = reach + CUT_RADIUS + 1
    lo, hi = max(start, active[0] - margin), min(stop, active[-1] + 1 + margin)
    return [c for c in detect_cuts(path, lo, hi, threshold, info) if start < c < stop]
