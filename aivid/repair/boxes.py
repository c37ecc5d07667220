"""Repair boxes: the part of a segment that a repair reads or changes, in whole Zarr chunks."""

import numpy as np

from aivid.media.lazy import LazyVideo
from aivid.media.store import chunk_span


def window_frames(windows):
    """[first, last): the frames of a segment that a plan's windows cover (a window that starts
    before its segment, across a boundary, covers the segment's frames from 0)."""
    return max(0, min(w["frames"][0] for w in windows)), max(w["frames"][1] for w in windows)


def repair_box(windows, feather, chunks, shape):
    """(t0, t1, y0, y1, x0, x1) for a segment of `shape` (T, H, W, ...) stored in `chunks`: the
    frames the windows cover and the box that their tiles plus the feather reach, grown to whole
    chunks.

    These are the only pixels a repair reads or changes: decoding stores just them, blending
    computes just them, and encoding lays them over frames decoded straight from the source."""
    t0, t1 = chunk_span(*window_frames(windows), chunks[0], shape[0])
    lo, hi = chunk_span(*tiles_reach(windows, feather), np.array(chunks[1:3]), np.array(shape[1:3]))
    return int(t0), int(t1), int(lo[0]), int(hi[0]), int(lo[1]), int(hi[1])


def tiles_reach(windows, feather):
    """((y0, x0), (y1, x1)) arrays: the pixels the windows' tiles and the blend's `feather`
    reach, the only ones a repair changes (before being grown to whole chunks; may pass the
    frame's edges)."""
    tiles = np.array([t for w in windows for t in w["tiles"]])  # rows of x, y, w, h
    return tiles[:, [1, 0]].min(0) - feather - 1, (tiles[:, [1, 0]] + tiles[:, [3, 2]]).max(0) + feather + 1


def box_of(store):
    """The repair box a decoded or blended store holds (see repair_box)."""
    return tuple(LazyVideo.open(store).attrs["repair_box"])
