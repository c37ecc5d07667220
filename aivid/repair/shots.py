"""Hard cut detection: the one detector the plan and the automatic masks both use.

A cut is a change between consecutive small grey frames (64x36 thumbnails) that is large in
itself and stands out among the changes around it (fast motion raises both).
"""

import cv2
import numpy as np

from aivid.media.decode import iter_frame_blocks

CUT_RADIUS = 5  # a change counts as a cut if it stands out among this many changes either side
CUT_CONTRAST = 3.0  # ... by this factor over their median
THUMB_SIZE = (64, 36)
DECODE_SIZE = (256, 144)  # ffmpeg shrinks frames this far, thumbnail() the rest (no full frames piped)


def thumbnail(gray):
    """A (36, 64) float thumbnail in [0, 1] of one uint8 grey frame."""
    return cv2.resize(gray, THUMB_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def find_cuts(thumbs, threshold):
    """Offsets i into `thumbs` (thumbnails of consecutive frames) where frame i begins a new shot:
    the mean absolute change from frame i-1 is above `threshold` and CUT_CONTRAST times the
    median change within CUT_RADIUS frames around it."""
    if len(thumbs) < 2:
        return []
    diffs = np.abs(np.diff(np.stack(thumbs), axis=0)).mean(axis=(1, 2))
    cuts = []
    for i, d in enumerate(diffs):
        around = np.concatenate([diffs[max(0, i - CUT_RADIUS) : i], diffs[i + 1 : i + 1 + CUT_RADIUS]])
        if d > threshold and (not len(around) or d > CUT_CONTRAST * np.median(around)):
            cuts.append(i + 1)
    return cuts


def detect_cuts(path, start, stop, threshold, info=None):
    """Frame indices (absolute) in (start, stop) of `path` that begin a new shot."""
    thumbs = [thumbnail(frame[..., 0]) for _, block in
              iter_frame_blocks(path, start, stop, pix_fmt="gray", size=DECODE_SIZE, info=info) for frame in block]
    return [start + i for i in find_cuts(thumbs, threshold)]


def cuts_near(path, active, reach, start, stop, threshold, info=None):
    """The cuts in (start, stop) that can bound work on the `active` frames (sorted): those within
    `reach` frames of them.  Only that stretch is decoded (plus the frames find_cuts compares a
    change with), not the whole segment."""
    if not active:
        return []
    margin = reach + CUT_RADIUS + 1
    lo, hi = max(start, active[0] - margin), min(stop, active[-1] + 1 + margin)
    return [c for c in detect_cuts(path, lo, hi, threshold, info) if start < c < stop]
