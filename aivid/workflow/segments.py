"""Cutting a video into independently repairable segments."""

from fractions import Fraction


def plan_segments(frames, fps, keyframes, seconds, keyframe_aligned=True):
    """Segments [start, stop) of about `seconds` each.

    With `keyframe_aligned` every segment starts on a keyframe, so an untouched segment can be
    stream-copied; otherwise (full re-encode) segments are cut every `seconds` exactly.
    """
    target = max(1, round(Fraction(fps) * Fraction(str(seconds))))
    if keyframe_aligned:
        cuts = [0]
        for key in sorted(set(keyframes)):
            if 0 < key < frames and key - cuts[-1] >= target:
                cuts.append(key)
    else:
        cuts = list(range(0, frames, target))
    bounds = cuts + [frames]
    return [{"index": i, "start": a, "stop": b} for i, (a, b) in enumerate(zip(bounds, bounds[1:]))]
