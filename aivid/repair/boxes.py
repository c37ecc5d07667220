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


PATCH_ALIGN = 4  # pixels: a patch's edges on whole chroma samples (4:2:0, 4:2:2, and 4:2:0 by fields)


def patch_part(windows, feather, box):
    """(first, last, y0, y1, x0, x1): the part of repair box `box` a repair can change -- the
    frames its windows cover, the pixels their tiles and the feather reach (rounded outward to
    PATCH_ALIGN) -- which is all that is laid over the source when encoding, shown in the report
    and left out of (or laid over in) the self-check's comparison."""
    first, last, by0, by1, bx0, bx1 = box
    a, b = window_frames(windows)
    (y0, x0), (y1, x1) = tiles_reach(windows, feather)
    down, up = (lambda v: int(v) // PATCH_ALIGN * PATCH_ALIGN), (lambda v: -(-int(v) // PATCH_ALIGN) * PATCH_ALIGN)
    return max(first, a), min(last, b), max(by0, down(y0)), min(by1, up(y1)), max(bx0, down(x0)), min(bx1, up(x1))


def patch_box(store):
    """The patch_part a blended store records (its whole repair box where it records none: a
    store of decoded frames, or one an earlier version wrote)."""
    attrs = LazyVideo.open(store).attrs
    return tuple(attrs.get("patch_box") or attrs["repair_box"])
