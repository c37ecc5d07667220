"""Hard cut detection on small grey frames (cheap: decoded at 64x36)."""

import numpy as np

from .decode import iter_frame_blocks


def detect_cuts(path, start, stop, threshold=0.35, info=None):
    """Frame indices (absolute) in (start, stop) that begin a new shot."""
    previous, cuts = None, []
    for t0, block in iter_frame_blocks(path, start, stop, block=64, pix_fmt="gray", size=(64, 36), info=info):
        grey = block[..., 0].astype(np.float32) / 255.0
        if previous is not None:
            grey = np.concatenate([previous[None], grey])
            t0 -= 1
        diffs = np.abs(np.diff(grey, axis=0)).mean(axis=(1, 2))
        cuts += [t0 + 1 + i for i in np.flatnonzero(diffs > threshold)]
        previous = grey[-1]
    return [int(c) for c in cuts]
