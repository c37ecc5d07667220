"""The classical backend: flow-guided propagation of pixels from other frames, then OpenCV's
Telea inpainting for what no frame shows.  No weights, no GPU.

Optical flow (DIS) is computed between neighbouring frames; inside the mask, where the flow
describes the defect rather than the scene, it is completed from the surrounding flow.  Known
pixels are then carried along the flow forward and backward in time; each masked pixel keeps
the value that travelled the fewest frames.
"""

import cv2
import numpy as np

from .base import InpaintBackend


def _complete_flow(flow, mask):
    """Replace flow inside `mask` by an inpainting of the flow around it."""
    if not mask.any():
        return flow
    hole = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8))
    return np.dstack([cv2.inpaint(np.ascontiguousarray(flow[..., c]), hole, 5, cv2.INPAINT_TELEA) for c in range(2)])


def neighbour_flows(frames, mask):
    """(to_previous, to_next): completed flow from frame t to t-1 and to t+1 (None at the ends)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    count = len(frames)
    to_prev, to_next = [None] * count, [None] * count
    for t in range(count):
        if not mask[t].any():
            continue
        if t > 0:
            to_prev[t] = _complete_flow(dis.calc(grey[t], grey[t - 1], None), mask[t])
        if t + 1 < count:
            to_next[t] = _complete_flow(dis.calc(grey[t], grey[t + 1], None), mask[t])
    return to_prev, to_next


def _sweep(values, age, flows, order, step):
    """Carry values from frame t+step into the masked pixels of frame t along flows[t]."""
    height, width = age.shape[1:]
    gx, gy = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    for t in order:
        hole = age[t] > 0
        if flows[t] is None or not hole.any():
            continue
        mx, my = gx + flows[t][..., 0], gy + flows[t][..., 1]
        src_age = cv2.remap(age[t + step], mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=np.inf)
        # bilinear sampling must not mix in unknown neighbours: require the 2x2 neighbourhood known
        worst = cv2.dilate(age[t + step], np.ones((2, 2), np.uint8), anchor=(0, 0))
        src_age = np.maximum(src_age, cv2.remap(worst, mx, my, cv2.INTER_NEAREST,
                                                borderMode=cv2.BORDER_CONSTANT, borderValue=np.inf))
        better = hole & (src_age + 1 < age[t])
        if better.any():
            moved = cv2.remap(values[t + step], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            values[t][better] = moved[better]
            age[t][better] = src_age[better] + 1


class ClassicalBackend(InpaintBackend):
    """Flow-guided temporal propagation, then spatial Telea inpainting."""

    def inpaint(self, frames, mask, context=None):
        frames, mask = self.check(frames, mask)
        radius = int(self.options.get("inpaint_radius", 5))
        max_offset = int(self.options.get("max_offset", 40))
        out = frames.copy()
        if not mask.any():
            return out
        to_prev, to_next = neighbour_flows(frames, mask)
        age = np.where(mask, np.inf, 0).astype(np.float32)
        count = len(frames)
        for _ in range(2):  # forward then backward, twice, so both directions can compete
            _sweep(out, age, to_prev, range(1, count), -1)
            _sweep(out, age, to_next, range(count - 2, -1, -1), +1)
        for t in range(count):
            hole = mask[t] & (age[t] > max_offset)
            if hole.any():
                out[t] = cv2.inpaint(out[t], hole.astype(np.uint8), radius, cv2.INPAINT_TELEA)
        return out
