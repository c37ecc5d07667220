"""Repair boxes: the part of a segment that a repair reads or changes, in whole Zarr chunks."""

import numpy as np

from .lazy import LazyVideo


def window_frames(windows):
    """[first, last): the frames of a segment that a plan's windows cover."""
    return min(w["frames"][0] for w in windows), max(w["frames"][1] for w in windows)


def repair_box(windows, feather, chunks, shape):
    """(t0, t1, y0, y1, x0, x1) for a segment of `shape` (T, H, W, ...) stored in `chunks`: the
    frames the windows cover and the box that their tiles plus the feather reach, grown to whole
    chunks.

    These are the only pixels a repair reads or changes: decoding stores just them, blending
    computes just them, and encoding lays them over frames decoded straight from the source."""
    ct, ch, cw = chunks[:3]
    count, height, width = shape[:3]
    first, last = window_frames(windows)
    t0, t1 = first // ct * ct, min(count, -(-last // ct) * ct)
    tiles = np.array([t for w in windows for t in w["tiles"]])  # rows of x, y, w, h
    chunk, size = np.array([ch, cw]), np.array([height, width])
    lo = np.maximum(tiles[:, [1, 0]].min(0) - feather - 1, 0) // chunk * chunk
    hi = np.minimum(-(-(tiles[:, [1, 0]] + tiles[:, [3, 2]] + feather + 1).max(0) // chunk) * chunk, size)
    return int(t0), int(t1), int(lo[0]), int(hi[0]), int(lo[1]), int(hi[1])


def box_of(store):
    """The repair box a decoded or blended store holds (see repair_box)."""
    return tuple(LazyVideo.open(store).attrs["repair_box"])
