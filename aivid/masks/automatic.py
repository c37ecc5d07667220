"""Automatic defect masks: transient specks and scratches, static overlays and stuck pixels.

Both detectors work on luma and compensate motion, so moving content is not taken for a defect:

- `transient_masks(prev, cur, nxt)`: a pixel of frame t that differs, with the same sign, from both
  neighbours after each neighbour is warped onto frame t along dense optical flow, while the two
  warped neighbours agree with each other.  Thresholds are multiples of the frame's own residual
  noise; hysteresis grows strong seeds into their weaker surroundings; components larger than a
  speck or scratch can be (flow failures on big moving things) are dropped.
  Where the flow is not smooth (fast limbs, motion blur), only speck-sized finds are kept.
- `OverlayAccumulator`: over a span of frames, a pixel whose spatial gradient stays the same while
  the camera moves across it belongs to something drawn on top of the picture (a logo, burned-in
  text).  Its gradient's temporal mean is as large as its mean magnitude, whereas the gradient of
  the moving scene averages away.  The camera's motion is the median motion of tracked corners
  (a subject moving over a still background is not camera motion); frames count once the camera
  has moved a pixel since the last counted one (slow pans); an edge counts only if the camera moved
  across it, not just along it.  Nothing is flagged where the picture does not move.  Stuck pixels
  are found on any shot: a pixel that stands out from all 8 neighbours in nearly every frame.
"""

import threading

import cv2
import numpy as np
from scipy import ndimage

_LOCAL = threading.local()  # one flow estimator per thread: steps may run side by side in one process


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


def _components(mask):
    """(labels, stats) of the 8-connected components of a bool mask (label 0: background)."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return labels, stats


def _holding(labels, pixels):
    """Per label: whether its component has a pixel in `pixels` (hysteresis: weak areas kept
    for a strong seed in them)."""
    keep = np.zeros(labels.max() + 1, bool)
    keep[np.unique(labels[pixels])] = True
    keep[0] = False
    return keep


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


def transient_masks(prev, cur, nxt, options):
    """Pixels of `cur` (uint8 luma) present in neither neighbour after motion compensation:
    (found, faint): defects with a strong seed, and weaker candidates with none (kept by `detect`
    only next to a defect found in a neighbouring frame: temporal hysteresis)."""
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
    strong = weak & (evidence > options["transient_high"] * level)
    labels, stats = _components(weak)
    seeded = _holding(labels, strong)
    # where the flow is not smooth (fast limbs, motion blur) only speck-sized finds are trusted
    smooth = _smooth_motion(fp, fn, options)
    speck = 2 * options["speck_radius"] + 1
    small = (stats[:, cv2.CC_STAT_WIDTH] <= speck) & (stats[:, cv2.CC_STAT_HEIGHT] <= speck)
    area = stats[:, cv2.CC_STAT_AREA]
    sized = (area >= options["min_area"]) & (area <= options["max_area"] * cur.size)
    keep = seeded & sized & (small | _holding(labels, strong & smooth))
    faint = ~seeded & sized & (small | _holding(labels, weak & smooth))
    faint[0] = False
    return keep[labels], faint[labels]


def _gradients(gray):
    g = gray.astype(np.float32)
    return cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)


_RING = np.ones((3, 3), np.uint8)
_RING[1, 1] = 0  # the 8 neighbours


def _impulses(gray, contrast):
    """Pixels brighter or darker than all 8 neighbours by more than `contrast` levels."""
    g = gray.astype(np.int16)
    return ((g - cv2.dilate(gray, _RING) > contrast) | (cv2.erode(gray, _RING) - g > contrast))


def camera_shift(a, b):
    """How the scene moved from a to b, (dx, dy) in pixels: the median displacement of corners
    tracked across (Lucas-Kanade), so a subject moving over a still background does not count;
    infinite when most corners are lost (a cut), zero with too few corners to tell."""
    corners = cv2.goodFeaturesToTrack(a, 200, 0.01, 8)
    if corners is None or len(corners) < 20:
        return np.zeros(2)
    moved, status, _ = cv2.calcOpticalFlowPyrLK(a, b, corners, None, winSize=(21, 21), maxLevel=3)
    found = status.ravel() == 1
    if found.sum() < len(corners) // 2:
        return np.full(2, np.inf)
    return np.median((moved - corners)[found, 0], axis=0)


class OverlayAccumulator:
    """Streams frames of one span and finds what stays put while the picture behind it moves,
    and stuck pixels: dots that stand out from their surroundings in nearly every frame."""

    def __init__(self, shape, options):
        self.options, self.count, self.frames, self.reference = options, 0, 0, None
        self.position, self.positions = np.zeros(2), []  # the camera's, in half-size pixels
        self.gx, self.gy, self.energy = (np.zeros(shape, np.float64) for _ in range(3))
        self.impulses = np.zeros(shape, np.int32)

    def _camera_moved(self, gray):
        """Whether the camera moved by `static_camera` pixels since the last frame that counted
        (at half size): a slow pan counts every few frames, a still shot none."""
        small = cv2.resize(gray, (gray.shape[1] // 2, gray.shape[0] // 2), interpolation=cv2.INTER_AREA)
        if self.reference is None:
            self.reference = small
            return False
        shift = camera_shift(self.reference, small)
        if 2 * np.hypot(*shift) < self.options["static_camera"]:
            return False
        self.reference = small
        if np.isfinite(shift).all():  # a cut counts, but says nothing about the camera's travel
            self.position = self.position + shift
        self.positions.append(self.position)
        return True

    def _travel_across(self, nx, ny):
        """How far the camera moved across edges of normal (nx, ny), in full-size pixels (the
        spread of its positions over the counted frames along the normal): an edge of the scene
        must have moved off its pixels for its persistence to mean anything, and an edge the
        camera moves along never does."""
        c = np.cov(np.array(self.positions).T, bias=True)
        return 2 * np.sqrt(np.maximum(c[0, 0] * nx * nx + 2 * c[0, 1] * nx * ny + c[1, 1] * ny * ny, 0))

    def add(self, gray):
        """Overlay edges count only frames where the camera moved: on a still shot an overlay is
        undecidable.  Stuck pixels count every frame."""
        self.frames += 1
        self.impulses += _impulses(gray, self.options["stuck_contrast"])
        if not self._camera_moved(gray):
            return
        gx, gy = _gradients(gray)
        self.gx += gx
        self.gy += gy
        self.energy += gx * gx + gy * gy
        self.count += 1

    def mask(self):
        return self._overlays() | self._stuck()

    def _stuck(self):
        if self.frames < self.options["static_min_frames"]:
            return np.zeros(self.impulses.shape, bool)
        return self.impulses >= self.options["stuck_share"] * self.frames

    def _overlays(self):
        opt = self.options
        if self.count < opt["static_min_frames"]:
            return np.zeros(self.gx.shape, bool)
        n = self.count
        mean_sq = (self.gx / n) ** 2 + (self.gy / n) ** 2
        persistence = mean_sq / np.maximum(self.energy / n, 1e-6)
        edges = (persistence > opt["static_persistence"]) & (mean_sq > opt["static_edge"] ** 2)
        norm = np.sqrt(np.maximum(mean_sq, 1e-12)) * n
        edges &= self._travel_across(self.gx / norm, self.gy / norm) >= opt["static_travel"]
        # the picture around must move: its own edges do not persist (a static shot shows nothing)
        scaled = np.clip(persistence * 255, 0, 255).astype(np.uint8)
        edges &= cv2.medianBlur(scaled, 41).astype(np.float32) / 255 < opt["static_background"]
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


def detect(read, start, stop, frames, options, cut_threshold):
    """Yield (t, bool (H, W) mask) for t in [start, stop) of a `frames`-frame video.

    `read(a, b)` yields the uint8 luma frames [a, b); `options` is a checked `automask` config
    section (aivid.workflow.config), `cut_threshold` the plan's `shot_threshold` (the same cut
    detector as the plan's, aivid.repair.shots).  Two passes over the span (plus two frames of
    context each side): the first finds overlays and shot cuts, the second the transient defects,
    holding five frames at a time.  Memory does not grow with the span's length.
    """
    from aivid.repair.shots import find_cuts, thumbnail

    opt = options
    lo, hi = max(0, start - 2), min(frames, stop + 2)
    acc, thumbs = None, []
    for gray in read(lo, hi):
        if acc is None:
            acc = OverlayAccumulator(gray.shape, opt)
            allowed = exclusion(gray.shape, opt["exclude"])
        if "static" in opt["detectors"]:
            acc.add(gray)
        thumbs.append(thumbnail(gray))
    cuts = [lo + i for i in find_cuts(thumbs, cut_threshold)]
    static = acc.mask() if "static" in opt["detectors"] else np.zeros(allowed.shape, bool)
    found = _transients(read, lo, hi, start, stop, cuts, opt) if "transient" in opt["detectors"] else None
    for t in range(start, stop):
        mask = static | next(found) if found is not None else static.copy()
        yield t, mask & allowed


def _transients(read, lo, hi, start, stop, cuts, opt):
    """Yield the transient mask of each frame in [start, stop).  Each frame needs its neighbours
    (two either side) and the results of the frames before and after it."""
    ring, results = {}, {}
    source = enumerate(read(lo, hi), lo)
    first, last = max(lo, start - 1), min(hi, stop + 1)
    for t in range(first, last):
        while max(ring, default=lo - 1) < min(hi - 1, t + 2):
            i, gray = next(source)
            ring[i] = gray
        for old in [i for i in ring if i < t - 2]:
            del ring[old]
        pair = _neighbours(t, lo, hi, cuts)
        empty = np.zeros(ring[t].shape, bool)
        results[t] = transient_masks(ring[pair[0]], ring[t], ring[pair[1]], opt) if pair else (empty, empty)
        if start <= t - 1 < stop:
            yield _with_faint(results, t - 1, opt)
        for old in [v for v in results if v < t - 1]:
            del results[old]
    if start <= last - 1 < stop:
        yield _with_faint(results, last - 1, opt)


def _with_faint(results, t, opt):
    """Frame t's defects, plus its faint candidates within `hysteresis_reach` pixels of a defect
    found in the frame before or after (temporal hysteresis: a scratch that fades over frames)."""
    found, faint = results[t]
    around = [results[v][0] for v in (t - 1, t + 1) if v in results]
    if not faint.any() or not around:
        return found
    reach = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * opt["hysteresis_reach"] + 1,) * 2)
    near = cv2.dilate(np.logical_or.reduce(around).astype(np.uint8), reach) > 0
    labels, _ = _components(faint)
    return found | _holding(labels, near)[labels]


def detect_span(frames, overrides=None):
    """`detect` over a list or array of luma frames held in memory (tests, evaluation), with the
    config's defaults for every setting `overrides` leaves out."""
    from aivid.workflow.config import section

    frames = list(frames)
    read = lambda a, b: iter(frames[a:b])  # noqa: E731
    options, cuts = section("automask", overrides), section("plan")["shot_threshold"]
    return np.stack([m for _, m in detect(read, 0, len(frames), len(frames), options, cuts)])
