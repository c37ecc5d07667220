"""Automatic defect masks: transient specks and scratches, static overlays and stuck pixels.

Both detectors work on luma and compensate motion, so moving content is not taken for a defect:

- `transient_mask(prev, cur, nxt)`: a pixel of frame t that differs, with the same sign, from both
  neighbours after each neighbour is warped onto frame t along dense optical flow, while the two
  warped neighbours agree with each other.  Thresholds are multiples of the frame's own residual
  noise; hysteresis grows strong seeds into their weaker surroundings; components larger than a
  speck or scratch can be (flow failures on big moving things) are dropped.
- `OverlayAccumulator`: over a span of frames, a pixel whose spatial gradient stays the same while
  the picture around it changes belongs to something drawn on top of the picture (a logo, burned-in
  text, a stuck pixel).  Its gradient's temporal mean is as large as its mean magnitude, whereas the
  gradient of moving content averages away.  Nothing is flagged where the picture does not move.
"""

import threading

import cv2
import numpy as np
from scipy import ndimage

DEFAULTS = {
    "detectors": ["transient", "static"],
    "transient_high": 10.0,  # seed threshold: multiples of the frame's residual noise
    "transient_low": 5.0,  # hysteresis threshold
    "agreement": 0.5,  # warped neighbours must agree within this fraction of the difference
    "tolerance": 2,  # pixels of flow error tolerated when comparing with the neighbours
    "flow_median": 7,  # median filter (pixels) applied to frames before estimating flow
    "novelty": 0.6,  # share of a speck's contrast that the neighbours must not have
    "flow_spread": 6.0,  # pixels: seeds only where the flow varies less than this ...
    "flow_window": 5,  # ... over a window of this size
    "min_area": 1,  # pixels: smaller components are dropped
    "max_area": 0.002,  # fraction of the frame: larger transient components are flow failures
    "static_persistence": 0.6,  # |mean gradient|^2 / mean |gradient|^2 for an overlay pixel
    "static_edge": 40.0,  # least mean gradient (Sobel units, ~4x a grey-level step) of an overlay edge
    "static_background": 0.3,  # most persistence of the surroundings (median over 41x41)
    "static_camera": 1.0,  # pixels of camera motion between frames for a frame to count
    "static_min_frames": 10,  # fewer moving-camera frames than this in a span: no overlay detection
    "close": 5,  # closing (pixels) that joins an overlay's edges into its shape
    "exclude": [],  # [x, y, w, h] boxes where nothing is flagged
}

_LOCAL = threading.local()  # one flow estimator per thread: steps may run side by side in one process


def options_with_defaults(options):
    merged = dict(DEFAULTS)
    merged.update(options or {})
    unknown = set(merged["detectors"]) - {"transient", "static"}
    if unknown:
        raise ValueError(f"unknown detector(s) {sorted(unknown)}: use transient, static")
    return merged


def _flow(a, b):
    """Dense flow from frame a to frame b (a(x) ~ b(x + flow(x)))."""
    if not hasattr(_LOCAL, "dis"):
        _LOCAL.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return _LOCAL.dis.calc(a, b, None)


def _warp(image, flow, grid):
    return cv2.remap(image, grid[0] + flow[..., 0], grid[1] + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def _grid(shape):
    h, w = shape
    return np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))


def _noise(residual):
    """Robust standard deviation of a residual image (MAD), at least one grey level."""
    return max(1.0, 1.4826 * float(np.median(np.abs(residual))))


def _hysteresis(weak, strong):
    """Connected components of `weak` that contain a pixel of `strong`."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(weak.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[np.unique(labels[strong & weak])] = True
    keep[0] = False
    return keep, labels, stats


def _tophats(image, kernel):
    """Bright and dark structures smaller than `kernel` (white and black top-hat)."""
    return (cv2.morphologyEx(image, cv2.MORPH_TOPHAT, kernel),
            cv2.morphologyEx(image, cv2.MORPH_BLACKHAT, kernel))


def _smooth_motion(fp, fn, options):
    """Where the flow is smooth (camera motion, rigid objects); fast limbs and rackets are not."""
    kernel = np.ones((options["flow_window"],) * 2, np.uint8)
    spread = np.zeros(fp.shape[:2], np.float32)
    for flow in (fp, fn):
        for k in range(2):
            spread = np.maximum(spread, cv2.dilate(flow[..., k], kernel) - cv2.erode(flow[..., k], kernel))
    return spread <= options["flow_spread"]


def transient_mask(prev, cur, nxt, options):
    """Pixels of `cur` (uint8 luma) present in neither neighbour after motion compensation."""
    grid = _grid(cur.shape)
    # flow between frames with small structures smoothed away, so a speck is not itself "tracked"
    sp, sc, sn = (cv2.medianBlur(f, options["flow_median"]) for f in (prev, cur, nxt))
    fp, fn = _flow(sc, sp), _flow(sc, sn)
    p = _warp(prev, fp, grid).astype(np.float32)
    n = _warp(nxt, fn, grid).astype(np.float32)
    c = cur.astype(np.float32)
    sigma = _noise(np.concatenate([(c - p).ravel(), (c - n).ravel()]))
    # compare with the brightest / darkest neighbour pixel within the flow's tolerance, so edges
    # that the flow places a pixel off are not taken for something new
    tol = np.ones((2 * options["tolerance"] + 1,) * 2, np.uint8)
    brighter = np.minimum(c - cv2.dilate(p, tol), c - cv2.dilate(n, tol))
    darker = np.minimum(cv2.erode(p, tol) - c, cv2.erode(n, tol) - c)
    least = np.maximum(np.maximum(brighter, darker), 0)
    ep = np.where(brighter > darker, 1.0, -1.0)
    # busy, badly compensated areas (texture, motion blur) raise the local bar
    local = cv2.medianBlur(np.clip(least, 0, 255).astype(np.uint8), 15).astype(np.float32)
    level = np.maximum(sigma, local)
    consistent = np.abs(p - n) <= options["agreement"] * least + sigma
    # a speck or scratch is a small structure of its own: a top-hat the neighbours do not have
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    bright, dark = _tophats(c, kernel)
    bp, dp = _tophats(p, kernel)
    bn, dn = _tophats(n, kernel)
    structure = np.where(ep > 0, bright - np.maximum(bp, bn), dark - np.maximum(dp, dn))
    whole = np.where(ep > 0, bright, dark)
    # most of the structure must be new (a thin line that flickers was already there, dimmer)
    new = structure >= options["novelty"] * whole
    evidence = np.minimum(least, structure)
    weak = consistent & new & (evidence > options["transient_low"] * level)
    strong = weak & (evidence > options["transient_high"] * level) & _smooth_motion(fp, fn, options)
    keep, labels, stats = _hysteresis(weak, strong)
    area = stats[:, cv2.CC_STAT_AREA]
    keep &= (area >= options["min_area"]) & (area <= options["max_area"] * cur.size)
    return keep[labels]


def _gradients(gray):
    g = gray.astype(np.float32)
    return cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)


class OverlayAccumulator:
    """Streams frames of one span and finds what stays put while the picture behind it moves."""

    def __init__(self, shape, options):
        self.options, self.count, self.previous = options, 0, None
        self.gx, self.gy, self.energy = (np.zeros(shape, np.float64) for _ in range(3))

    def _camera_moved(self, gray):
        """Global shift since the previous frame (phase correlation at half size), in pixels."""
        small = cv2.resize(gray, (gray.shape[1] // 2, gray.shape[0] // 2), interpolation=cv2.INTER_AREA)
        small = small.astype(np.float32)
        previous, self.previous = self.previous, small
        if previous is None:
            return False
        (dx, dy), _ = cv2.phaseCorrelate(previous, small)
        return 2 * np.hypot(dx, dy) >= self.options["static_camera"]

    def add(self, gray):
        """Only frames where the camera moves count: on a still shot an overlay is undecidable."""
        if not self._camera_moved(gray):
            return
        gx, gy = _gradients(gray)
        self.gx += gx
        self.gy += gy
        self.energy += gx * gx + gy * gy
        self.count += 1

    def mask(self):
        opt = self.options
        if self.count < opt["static_min_frames"]:
            return np.zeros(self.gx.shape, bool)
        n = self.count
        mean_sq = (self.gx / n) ** 2 + (self.gy / n) ** 2
        persistence = mean_sq / np.maximum(self.energy / n, 1e-6)
        # the picture around must move: its own edges do not persist (a static shot shows nothing)
        scaled = np.clip(persistence * 255, 0, 255).astype(np.uint8)
        background = cv2.medianBlur(scaled, 41).astype(np.float32) / 255
        edges = (persistence > opt["static_persistence"]) & (mean_sq > opt["static_edge"] ** 2)
        edges &= background < opt["static_background"]
        k = max(1, int(opt["close"]))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
        shape = cv2.morphologyEx(edges.astype(np.uint8), cv2.MORPH_CLOSE, kernel) > 0
        shape = ndimage.binary_fill_holes(shape)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(shape.astype(np.uint8), connectivity=8)
        keep = stats[:, cv2.CC_STAT_AREA] >= opt["min_area"]
        keep[0] = False
        return keep[labels]


def exclusion(shape, boxes):
    """True where detections are allowed."""
    allowed = np.ones(shape, bool)
    for x, y, w, h in boxes:
        allowed[y : y + h, x : x + w] = False
    return allowed


def _thumb(gray):
    return cv2.resize(gray, (64, 36), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _neighbours(t, lo, hi, cuts):
    """Two frames of t's own shot to compare it with: both sides where possible, else one side."""
    first = max([c for c in cuts if c <= t], default=lo)
    end = min([c for c in cuts if c > t], default=hi)
    if first <= t - 1 and t + 1 < end:
        return t - 1, t + 1
    if t + 2 < end:
        return t + 1, t + 2
    if first <= t - 2:
        return t - 2, t - 1
    return None


def detect(read, start, stop, frames, options):
    """Yield (t, bool (H, W) mask) for t in [start, stop) of a `frames`-frame video.

    `read(a, b)` yields the uint8 luma frames [a, b).  Two passes over the span (plus two frames
    of context each side): the first finds overlays and shot cuts, the second the transient
    defects, holding five frames at a time.  Memory does not grow with the span's length.
    """
    from .shots import find_cuts

    opt = options_with_defaults(options)
    lo, hi = max(0, start - 2), min(frames, stop + 2)
    acc, thumbs = None, []
    for gray in read(lo, hi):
        if acc is None:
            acc = OverlayAccumulator(gray.shape, opt)
            allowed = exclusion(gray.shape, opt["exclude"])
        if "static" in opt["detectors"]:
            acc.add(gray)
        thumbs.append(_thumb(gray))
    diffs = np.abs(np.diff(np.stack(thumbs), axis=0)).mean(axis=(1, 2))
    cuts = [lo + 1 + i for i in find_cuts(diffs)]
    static = acc.mask() if "static" in opt["detectors"] else np.zeros(allowed.shape, bool)
    ring = {}
    source = enumerate(read(lo, hi), lo)
    for t in range(start, stop):
        while max(ring, default=lo - 1) < min(hi - 1, t + 2):
            i, gray = next(source)
            ring[i] = gray
        for old in [i for i in ring if i < t - 2]:
            del ring[old]
        mask = static.copy()
        pair = _neighbours(t, lo, hi, cuts) if "transient" in opt["detectors"] else None
        if pair is not None:
            mask |= transient_mask(ring[pair[0]], ring[t], ring[pair[1]], opt)
        yield t, mask & allowed


def detect_span(frames, options):
    """`detect` over a list or array of luma frames held in memory (tests, evaluation)."""
    frames = list(frames)
    read = lambda a, b: iter(frames[a:b])  # noqa: E731
    return np.stack([m for _, m in detect(read, 0, len(frames), len(frames), options)])
