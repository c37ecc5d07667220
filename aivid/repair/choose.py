"""`inpaint.backend: auto`: which backend repairs each masked stretch of a segment, and why.

Cost follows the defect in kind too.  The classical fill does well where its propagation has real
pixels to carry: a defect present in few frames (specks, scratches, dropouts: the frames around
it show what is behind), or a hole the picture moves under by more than the hole's own size over
the stretch (a logo on a pan: every hidden pixel is seen in some frame).  The rest — content no
frame shows, such as a logo on a still shot or a passer-by the camera follows — goes to VACE.
"""

import numpy as np

from aivid.masks.automatic import camera_shift
from aivid.media.decode import iter_frame_blocks

SAMPLES = 24  # frames of a stretch compared, at most
WIDTH = 320  # pixels: the width motion is measured at


def _hole_geometry(mask, frames):
    """Per frame: the centroid (x, y) of the masked pixels, and the larger side of their box."""
    centres, sides = [], []
    for t in frames:
        ys, xs = np.nonzero(mask[t, :, :, 0].numpy())
        if not len(xs):
            centres.append(None), sides.append(0)
            continue
        centres.append(np.array([xs.mean(), ys.mean()]))
        sides.append(max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1))
    return centres, sides


def stretch_evidence(info, mask_store, seg_start, a, b, active):
    """What the choice rests on for the masked stretch [a, b) (frames of the segment starting at
    `seg_start`; `active`: its masked frames): how many frames are masked, how far the picture
    moves under the hole over the stretch, and the hole's size (pixels of the source)."""
    from aivid.media.lazy import LazyVideo

    masked = sorted(f for f in active if a <= f < b)
    if len(masked) <= 1:
        return {"masked_frames": len(masked), "travel": 0.0, "hole": 0}
    picks = sorted({masked[round(i)] for i in np.linspace(0, len(masked) - 1, min(SAMPLES, len(masked)))})
    scale = min(1.0, WIDTH / info.width)
    size = (max(16, round(info.width * scale)), max(16, round(info.height * scale)))
    grey = {}
    for t0, block in iter_frame_blocks(info.path, seg_start + picks[0], seg_start + picks[-1] + 1, pix_fmt="gray",
                                       size=size, info=info):
        for i, frame in enumerate(block):
            if t0 - seg_start + i in picks:
                grey[t0 - seg_start + i] = frame[..., 0].copy()
    scene = [np.zeros(2)]  # where the picture has moved to, since the first pick
    for p, q in zip(picks, picks[1:]):
        shift = camera_shift(grey[p], grey[q]) / scale
        scene.append(scene[-1] + (shift if np.isfinite(shift).all() else 0))
    centres, sides = _hole_geometry(LazyVideo.open(mask_store), picks)
    first = next(c for c in centres if c is not None)
    under = np.array([s - (c - first) for s, c in zip(scene, centres) if c is not None])  # picture vs hole
    travel = float(np.ptp(under, axis=0).max()) if len(under) > 1 else 0.0
    return {"masked_frames": len(masked), "travel": round(travel, 1), "hole": int(np.median(sides))}


def choose_backend(evidence, options):
    """(backend, why) for one stretch, from its evidence and the `inpaint` options."""
    frames, limit = evidence["masked_frames"], options["auto_transient_frames"]
    if frames <= limit:
        return "classical", f"transient: {frames} masked frame(s), at most auto_transient_frames {limit}"
    travel, hole, ratio = evidence["travel"], evidence["hole"], options["auto_seen_ratio"]
    if hole and travel >= ratio * hole:
        return "classical", (f"seen in other frames: the picture moves {travel:.0f} px under a {hole} px hole "
                             f"(auto_seen_ratio {ratio})")
    return options["auto_generative"], (f"not seen in other frames: the picture moves {travel:.0f} px under a "
                                        f"{hole} px hole, {frames} masked frames")
