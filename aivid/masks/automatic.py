"""Automatic defect masks: transient specks and scratches, static overlays and stuck pixels.

Both detectors work on luma and compensate motion, so moving content is not taken for a defect:

- `transient_masks(prev, cur, nxt)`: a pixel of frame t that differs, with the same sign, from both
  neighbours after each neighbour is warped onto frame t along dense optical flow, while the two
  warped neighbours agree with each other.  Thresholds are multiples of the frame's own residual
  noise; hysteresis grows strong seeds into their weaker surroundings; components larger than a
  speck or scratch can be (flow failures on big moving things) are dropped.
  Where the flow is not smooth (fast limbs, motion blur), only speck-sized finds are kept.
  Neighbours are compared within the flow tolerance (a few pixels), except where the picture
  is still (the flow under `STILL_FLOW`, the neighbours agreeing): there with their own pixel,
  so a speck touching a darker edge is not hidden by the edge.
- `OverlayAccumulator`: over a span of frames, a pixel whose spatial gradient stays the same while
  the camera moves across it belongs to something drawn on top of the picture (a logo, burned-in
  text).  Its gradient's temporal mean is as large as its mean magnitude, whereas the gradient of
  the moving scene averages away.  The camera's motion is the median motion of tracked corners
  (a subject moving over a still background is not camera motion); frames count once the camera
  has moved a pixel since the last counted one (slow pans); an edge counts only if the camera moved
  across it, not just along it.  Nothing is flagged where the picture does not move.  Stuck pixels
  are found on any shot: a pixel that stands out from all 8 neighbours in nearly every frame.
- `BlemishAccumulator`: sensor dust, soft dark blobs that stay on the frame while the scene
  moves under them, found in the mean log ratio of frames to earlier frames shifted by the
  camera's motion (the scene lines up, the blemish does not).
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
from scipy import ndimage

_LOCAL = threading.local()  # one flow estimator per thread: steps may run side by side in one process


def _flow(a, b):
    """Dense flow from frame a to frame b (a(x) ~ b(x + flow(x)))."""
    if not hasattr(_LOCAL, "dis"):
        _LOCAL.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return _LOCAL.dis.calc(a, b, None)


def _noise(residual):
    """Robust standard deviation of a residual image (MAD), at least one grey level."""
    return max(1.0, 1.4826 * float(np.median(np.abs(residual))))


def _components(mask):
    """(labels, stats) of the 8-connected components of a bool mask (label 0: background)."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return labels, stats


STILL_FLOW = 0.5  # pixels a frame: where the flow moves less, a transient is tested without tolerance
NOISE_CAP = 3  # a frame's change counts as sustained flicker up to this many times the mean so far
STILL_MEAN = 0.4  # an opaque overlay's inside: its mean flicker under this share of `static_still`


def _holding(labels, pixels):
    """Per label: whether its component has a pixel in `pixels` (hysteresis: weak areas kept
    for a strong seed in them)."""
    keep = np.zeros(labels.max() + 1, bool)
    keep[np.unique(labels[pixels])] = True
    keep[0] = False
    return keep


def _sample(image, xs, ys):
    """Bilinear samples of `image` at float pixel positions (xs, ys) (remap's maps are kept
    under its 32767-column limit)."""
    n = len(xs)
    if n == 0:
        return np.zeros(0, np.float32)
    cols = min(n, 8192)
    rows = -(-n // cols)
    mx, my = np.zeros(rows * cols, np.float32), np.zeros(rows * cols, np.float32)
    mx[:n], my[:n] = xs, ys
    out = cv2.remap(image, mx.reshape(rows, cols), my.reshape(rows, cols), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(rows * cols, *out.shape[2:])[:n].astype(np.float32)


def _odd(x):
    return max(1, int(round(x)) // 2 * 2 + 1)


class Frame:
    """What the transient detector needs of one frame, computed once however many frames compare
    with it: luma, its small bright and dark structures (top-hats up to `speck_size`), its values
    spread over the flow tolerance, and a small smoothed copy for optical flow."""

    def __init__(self, gray, options):
        opt = options
        self.gray = gray
        h, w = gray.shape
        self.scale = min(1.0, opt["flow_width"] / w)
        size = (max(8, round(w * self.scale)), max(8, round(h * self.scale)))
        kernel = np.ones((_odd(opt["speck_size"]),) * 2, np.uint8)
        self.bright = cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, kernel)
        self.dark = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, kernel)
        tol = np.ones((2 * opt["tolerance"] + 1,) * 2, np.uint8)
        self.hi, self.lo = cv2.dilate(gray, tol), cv2.erode(gray, tol)
        small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA) if self.scale < 1 else gray
        # flow between frames with small structures smoothed away, so a speck is not itself "tracked"
        self.small = cv2.medianBlur(small, opt["flow_median"])


def _candidates(c, p, n, floor, tolerance):
    """(tolerant, exact) candidates.  Tolerant: pixels of frame c brighter (or darker) than both
    neighbours' values within the flow tolerance, without motion compensation, and a small
    structure of c's own: the cheap first look that leaves the flow to a few places.  Exact:
    those brighter (darker) than both neighbours' own pixel where the neighbours agree, within
    `floor`, over the tolerance's window around it: a still part of the picture, where a dark
    speck next to a darker edge is not darker than the edge (the tolerance's minimum), but is
    than the pixel."""
    def beyond(p_hi, n_hi, p_lo, n_lo):
        brighter = np.minimum(cv2.subtract(c.gray, p_hi), cv2.subtract(c.gray, n_hi))
        darker = np.minimum(cv2.subtract(p_lo, c.gray), cv2.subtract(n_lo, c.gray))
        return ((brighter > floor) & (c.bright > floor)) | ((darker > floor) & (c.dark > floor))

    window = np.ones((2 * tolerance + 1,) * 2, np.uint8)
    calm = cv2.dilate(cv2.absdiff(p.gray, n.gray), window) <= floor
    return beyond(p.hi, n.hi, p.lo, n.lo), calm & beyond(p.gray, n.gray, p.gray, n.gray)


def _slope(gray, ys, xs):
    """(values, steepest step to a 4-neighbour) of `gray` at pixels (ys, xs), as float32."""
    h, w = gray.shape
    here = gray[ys, xs].astype(np.float32)
    slope = np.zeros_like(here)
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        there = gray[np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)].astype(np.float32)
        slope = np.maximum(slope, np.abs(there - here))
    return here, slope


def transient_masks(prev, cur, nxt, options, between=True):
    """Pixels of `cur` present in neither neighbour after motion compensation (`Frame`s):
    (found, faint): defects with a strong seed, and weaker candidates with none (kept by `detect`
    only next to a defect found in a neighbouring frame: temporal hysteresis).

    Candidates first (`_candidates`); the dense flow (at most `flow_width` wide) and the
    motion-compensated test only at the candidates.  `between`: `prev` and `nxt` lie either
    side of `cur` (at a cut or a span's end both are on one side, and two frames agreeing after
    `cur` say nothing of whether its picture was still: no exact test there)."""
    opt = options
    h, w = cur.gray.shape
    empty = np.zeros((h, w), bool)
    found, exact = _candidates(cur, prev, nxt, opt["candidate_floor"], opt["tolerance"])
    exact &= between
    ys, xs = np.nonzero(found | exact)
    if not len(ys):
        return empty, empty
    exact = exact[ys, xs]
    s = cur.scale
    fp, fn = _flow(cur.small, prev.small), _flow(cur.small, nxt.small)
    sx, sy = (xs + 0.5) * s - 0.5, (ys + 0.5) * s - 0.5
    c = cur.gray[ys, xs].astype(np.float32)
    # the frame's residual noise, from a sample of all its pixels after motion compensation
    rng = np.random.default_rng(0)
    ry, rx = rng.integers(0, h, 20000), rng.integers(0, w, 20000)
    rsx, rsy = (rx + 0.5) * s - 0.5, (ry + 0.5) * s - 0.5
    residual = []
    for flow, other in ((fp, prev), (fn, nxt)):
        f = _sample(flow, rsx, rsy) / s
        residual.append(cur.gray[ry, rx] - _sample(other.gray, rx + f[:, 0], ry + f[:, 1]))
    sigma = _noise(np.concatenate(residual))
    steps = [(_sample(flow, sx, sy) / s, other) for flow, other in ((fp, prev), (fn, nxt))]
    exact &= np.maximum(*(np.hypot(f[:, 0], f[:, 1]) for f, _ in steps)) <= STILL_FLOW  # nothing moves there
    warped = []
    for f, other in steps:
        wx, wy = xs + f[:, 0], ys + f[:, 1]
        values = {k: _sample(getattr(other, k), wx, wy) for k in ("gray", "hi", "lo", "bright", "dark")}
        # where the picture is still, the neighbour's own pixel, give or take what a shift of
        # STILL_FLOW pixels makes of its steepest step to a neighbouring pixel
        here, slope = _slope(other.gray, ys[exact], xs[exact])
        values["gray"][exact] = here
        values["hi"][exact], values["lo"][exact] = here + STILL_FLOW * slope, here - STILL_FLOW * slope
        for k in ("bright", "dark"):
            values[k][exact] = getattr(other, k)[ys[exact], xs[exact]]
        warped.append(values)
    p, n = warped
    brighter = np.minimum(c - p["hi"], c - n["hi"])
    darker = np.minimum(p["lo"] - c, n["lo"] - c)
    least = np.maximum(np.maximum(brighter, darker), 0)
    ep = brighter > darker
    # busy, badly compensated areas (texture, motion blur) raise the local bar: the median over
    # a window wider than a speck (a speck alone does not raise it)
    busy = np.zeros((h, w), np.uint8)
    busy[ys, xs] = np.clip(least, 0, 255)
    window = max(15, 2 * opt["speck_size"] + 1)
    if s < 1:
        busy = cv2.resize(busy, cur.small.shape[::-1], interpolation=cv2.INTER_AREA)
    local = _sample(cv2.medianBlur(busy, min(255, _odd(window * s))), sx, sy)
    level = np.maximum(sigma, local)
    consistent = np.abs(p["gray"] - n["gray"]) <= opt["agreement"] * least + sigma
    # a speck or scratch is a small structure of its own: a top-hat the neighbours do not have,
    # most of it new (a thin line that flickers was already there, dimmer)
    whole = np.where(ep, cur.bright[ys, xs], cur.dark[ys, xs]).astype(np.float32)
    structure = whole - np.where(ep, np.maximum(p["bright"], n["bright"]), np.maximum(p["dark"], n["dark"]))
    new = structure >= opt["novelty"] * whole
    evidence = np.minimum(least, structure)
    weak_at = consistent & new & (evidence > opt["transient_low"] * level)
    strong_at = weak_at & (evidence > opt["transient_high"] * level)
    weak, strong = empty.copy(), empty.copy()
    weak[ys[weak_at], xs[weak_at]] = True
    strong[ys[strong_at], xs[strong_at]] = True
    labels, stats = _components(weak)
    seeded = _holding(labels, strong)
    # where the flow is not smooth (fast limbs, motion blur) only speck-sized finds are trusted
    smooth = _smooth_motion(fp, fn, opt, s)
    smooth_at = smooth[np.clip(np.round(sy).astype(int), 0, smooth.shape[0] - 1),
                       np.clip(np.round(sx).astype(int), 0, smooth.shape[1] - 1)]
    strong_smooth, weak_smooth = empty.copy(), empty.copy()
    strong_smooth[ys[strong_at & smooth_at], xs[strong_at & smooth_at]] = True
    weak_smooth[ys[weak_at & smooth_at], xs[weak_at & smooth_at]] = True
    sized, small = _sizes(stats, opt)
    keep = seeded & sized & (small | _holding(labels, strong_smooth))
    faint = ~seeded & sized & (small | _holding(labels, weak_smooth))
    faint[0] = False
    return keep[labels], faint[labels]


def _smooth_motion(fp, fn, options, scale=1.0):
    """Where the flow (computed at `scale` of the frame's size) is smooth (camera motion, rigid
    objects); fast limbs and rackets are not."""
    kernel = np.ones((_odd(options["flow_window"] * scale),) * 2, np.uint8)
    spread = np.zeros(fp.shape[:2], np.float32)
    for flow in (fp, fn):
        for k in range(2):
            spread = np.maximum(spread, cv2.dilate(flow[..., k], kernel) - cv2.erode(flow[..., k], kernel))
    return spread <= options["flow_spread"] * scale


def _sizes(stats, opt):
    """Per component: (sized, small).  Sized: a speck (at most `speck_size` across, with room for
    a soft edge) or a line (a scratch: at most a few pixels thick on average, any length) — a
    larger blob is motion the flow missed.  Small: speck-sized (`speck_radius`)."""
    width, height = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    area = stats[:, cv2.CC_STAT_AREA]
    reach = 1.5 * opt["speck_size"]
    speck = (width <= reach) & (height <= reach)
    speck_px = 2 * opt["speck_radius"] + 1
    return (area >= opt["min_area"]) & (speck | _lines(stats, opt)), (width <= speck_px) & (height <= speck_px)


def _lines(stats, opt):
    """Per component: a line (scratch): longer than a speck can be, at most `line_width` thick
    on average."""
    longest = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    return (stats[:, cv2.CC_STAT_AREA] <= opt["line_width"] * longest) & (longest > 1.5 * opt["speck_size"])


def _gradients(gray):
    g = gray.astype(np.float32)
    return cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)


def _impulses(frame, contrast, size):
    """(luma, chroma): pixels of blocks up to `size` pixels across that stand out from everything
    around them (a ring just outside such a block) by more than `contrast` levels in luma (full
    size), and in chroma by half as much (half size, as 4:2:0 keeps it: hot pixels of one colour,
    whose chroma spreads over a pixel or two more; None for a grey frame)."""
    if frame.ndim == 2:
        return _standing_out(frame, size, contrast), None
    ycc = cv2.cvtColor(frame, cv2.COLOR_RGB2YCrCb)
    h, w = ycc.shape[:2]
    half = cv2.resize(ycc[..., 1:], (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
    ring = max(1, (size + 3) // 2)
    chroma = _standing_out(half[..., 0], ring, contrast / 2) | _standing_out(half[..., 1], ring, contrast / 2)
    return _standing_out(ycc[..., 0], size, contrast), chroma


def _ring_extremes(channel, radius):
    """(max, min) over the ring at `radius` around each pixel (outside the frame: ignored), from
    four shifted line filters (a ring-shaped kernel is many times slower)."""
    line = 2 * radius + 1
    h_hi, v_hi = cv2.dilate(channel, np.ones((1, line), np.uint8)), cv2.dilate(channel, np.ones((line, 1), np.uint8))
    h_lo, v_lo = cv2.erode(channel, np.ones((1, line), np.uint8)), cv2.erode(channel, np.ones((line, 1), np.uint8))
    low, high = (0, 255) if channel.dtype == np.uint8 else (-np.inf, np.inf)
    hi, lo = np.full_like(channel, low), np.full_like(channel, high)
    r = radius
    for out, pick, h, v in ((hi, np.maximum, h_hi, v_hi), (lo, np.minimum, h_lo, v_lo)):
        pick(out[r:], h[:-r], out=out[r:])
        pick(out[:-r], h[r:], out=out[:-r])
        pick(out[:, r:], v[:, :-r], out=out[:, r:])
        pick(out[:, :-r], v[:, r:], out=out[:, :-r])
    return hi, lo


def _standing_out(channel, radius, contrast):
    hi, lo = _ring_extremes(channel, radius)
    g = channel.astype(np.int16)
    return (g - hi > contrast) | (lo - g > contrast)


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


def overlay_features(frame, options):
    """What `OverlayAccumulator.add` takes of a frame (RGB or luma), computed apart, on any
    thread: its luma, half-size luma, standing-out blocks in luma and chroma, gradients."""
    gray = luma(frame)
    small = cv2.resize(gray, (gray.shape[1] // 2, gray.shape[0] // 2), interpolation=cv2.INTER_AREA)
    found, chroma = _impulses(frame, options["stuck_contrast"], options["stuck_size"])
    return gray, small, found, chroma, _gradients(gray)


class OverlayAccumulator:
    """Streams frames of one span and finds what stays put while the picture behind it moves,
    and stuck pixels: dots that stand out from their surroundings in nearly every frame."""

    def __init__(self, shape, options):
        self.options, self.count, self.frames, self.reference = options, 0, 0, None
        self.position, self.positions = np.zeros(2), []  # the camera's, in half-size pixels
        self.gx, self.gy, self.energy = (np.zeros(shape, np.float32) for _ in range(3))
        self.impulses, self.chroma = np.zeros(shape, np.int32), None
        self.activity, self.last = np.zeros(shape, np.float32), None  # how much each pixel flickers
        # the same with each frame's change capped (see `_stuck`): sustained change, not events
        self.noise, self.cap = np.zeros(shape, np.float32), max(1, int(np.ceil(2 * options["stuck_flicker"])))

    def _camera_moved(self, small):
        """Whether the camera moved by `static_camera` pixels since the last frame that counted
        (`small`: the frame at half size): a slow pan counts every few frames, a still shot none."""
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

    def add(self, features):
        """Add one frame's `overlay_features`.  Overlay edges count only frames where the camera
        moved: on a still shot an overlay is undecidable.  Stuck pixels count every frame."""
        gray, small, found, chroma, (gx, gy) = features
        self.frames += 1
        self.impulses += found
        if chroma is not None:
            self.chroma = np.zeros(chroma.shape, np.int32) if self.chroma is None else self.chroma
            self.chroma += chroma
        if self.last is not None:
            change = cv2.absdiff(gray, self.last)
            self.activity += change
            pairs = self.frames - 2  # frame pairs counted before this one
            cap = self.cap if pairs < 1 else np.maximum(self.cap, NOISE_CAP * self.noise / pairs)
            self.noise += np.minimum(change, cap)
        self.last = gray
        if not self._camera_moved(small):
            return
        self.gx += gx
        self.gy += gy
        self.energy += gx * gx + gy * gy
        self.count += 1

    def mask(self):
        return self._overlays() | self._stuck()

    def _stuck(self):
        """Blocks that stand out in nearly every frame.  On a shot where the camera does not move,
        a dot of the scene does that too; there a stuck pixel must also be still while the
        picture around it flickers (sensor noise, grain): under half its surroundings' frame-to-
        frame change, where that is at least `stuck_flicker` levels (else: undecidable, not flagged).
        That change is the sustained one: each frame's is capped at `NOISE_CAP` times the pixel's
        mean so far (and at least twice `stuck_flicker`), so the change a transient defect makes in
        a frame or two hardly counts, while motion that goes on does (a one-frame scratch past a
        dot of a still scene had made the dot look stuck: 39 pixels flagged in every frame)."""
        opt = self.options
        if self.frames < opt["static_min_frames"]:
            return np.zeros(self.impulses.shape, bool)
        stuck = self.impulses >= opt["stuck_share"] * self.frames
        if self.chroma is not None:
            chroma = (self.chroma >= opt["stuck_share"] * self.frames).astype(np.uint8)
            stuck |= cv2.resize(chroma, stuck.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
        flicker = self.activity / max(1, self.frames - 1)
        if self.count >= opt["static_min_frames"]:
            return stuck | self._still_blocks(flicker)
        if not stuck.any():
            return stuck
        flicker = self.noise / max(1, self.frames - 1)
        around, _ = _ring_extremes(flicker, opt["stuck_size"] + 2)  # the most flickering pixel of the ring
        around = np.minimum(around, cv2.blur(flicker, (4 * opt["stuck_size"] + 5,) * 2) * 2)
        return stuck & (around >= opt["stuck_flicker"]) & (flicker < 0.5 * around)

    def _still_blocks(self, flicker):
        """On a moving shot: blocks up to `stuck_size` that keep their value while everything
        around them changes (every pixel of the ring just outside changes by `stuck_moving` levels
        a frame on average, the block by under a third of that) — a stuck pixel of any colour,
        whether or not it stands out from the picture."""
        opt = self.options
        _, around = _ring_extremes(flicker, opt["stuck_size"])
        still = (around >= opt["stuck_moving"]) & (flicker < around / 3)
        if not still.any():
            return still
        labels, stats = _components(still)
        small = (stats[:, cv2.CC_STAT_WIDTH] <= opt["stuck_size"]) & (stats[:, cv2.CC_STAT_HEIGHT] <= opt["stuck_size"])
        small[0] = False
        return small[labels]

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
        # the shape an overlay's edges outline: a badge whose edges along the camera's motion did
        # not show is still the box its other edges span
        filled = np.zeros(shape.shape, np.uint8)
        for i in np.flatnonzero(stats[:, cv2.CC_STAT_AREA] >= opt["min_area"]):
            if i:
                points = cv2.findNonZero((labels == i).astype(np.uint8))
                cv2.fillConvexPoly(filled, cv2.convexHull(points), 1)
        filled = filled > 0
        if filled.any() and opt["static_still"] > 0:
            # an opaque overlay's inside: pixels that hardly change from frame to frame while the
            # picture moves, joined to the overlay edges found: a small patch (not the sky), and
            # stiller on the whole than any part of a scene is (a drawn badge changes only by its
            # encoding's noise: 0.10-0.24 levels a frame measured; a rock under a slow tilt that a
            # stray edge touches, 0.47-0.74)
            flicker = self.activity / max(1, self.frames - 1)
            still = (flicker < opt["static_still"]).astype(np.uint8)
            count, labels, stats, _ = cv2.connectedComponentsWithStats(still, connectivity=4)
            touching = _holding(labels, cv2.dilate(filled.view(np.uint8), np.ones((3, 3), np.uint8)) > 0)
            area = stats[:, cv2.CC_STAT_AREA]
            small = area <= opt["static_still_area"] * still.size
            calm = np.bincount(labels.ravel(), weights=flicker.ravel(), minlength=count) < STILL_MEAN * opt["static_still"] * area
            filled |= (touching & small & calm)[labels]
        return filled


def blemish_frame(gray, options):
    """What `BlemishAccumulator.add` takes of a luma frame, computed apart, on any thread: the
    frame at the blemish detector's working size (at most `blemish_width` wide, at most half size)
    and its smoothed log (darkening is a ratio: a blemish takes the same share off every scene)."""
    h, w = gray.shape
    scale = min(0.5, options["blemish_width"] / w)
    small = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return small, cv2.GaussianBlur(np.log(small.astype(np.float32) + 8), (0, 0), 1.0)


class BlemishAccumulator:
    """Sensor dust: soft dark blobs fixed on the frame while the scene moves under them.

    Each frame is compared with an earlier frame of the shot the camera has since moved
    `blemish_travel` pixels from, shifted by the camera's motion between the two (corners tracked
    as in `camera_shift`): the scene lines up, a blemish does not, so the log ratio is b(x) minus
    b(x - shift) plus what the shift does not explain (parallax, moving subjects).  Its mean over
    many such pairs keeps the blemish, spreads its shifted copy, and averages the rest away (a
    per-pixel standard error measures how far).  Flagged: dark blobs at least `blemish_depth`
    deep, `blemish_score` standard errors from zero, round-ish and at most `blemish_size` across.
    On a still shot, or one the camera hardly moves over, nothing is decidable: nothing is flagged.
    """

    RING = 48  # frames held back (working size, uint8), to find one the camera moved far enough from

    def __init__(self, shape, options):
        self.shape, self.options = shape, options
        self.ring, self.position, self.pairs = [], np.zeros(2), 0
        self.sum = self.squares = self.count = None

    def add(self, features):
        """Add one frame's `blemish_frame`: the camera's motion since the frame before (a cut
        starts afresh), then the pair with the latest held frame it is `blemish_travel` from."""
        small, log = features
        if self.sum is None:
            self.sum, self.squares, self.count = (np.zeros(log.shape, np.float32) for _ in range(3))
        if self.ring:
            step = camera_shift(self.ring[-1][0], small)
            if not np.isfinite(step).all():
                self.ring = []
            self.position = self.position + (step if np.isfinite(step).all() else 0)
        travel = self.options["blemish_travel"] * small.shape[1] / self.shape[1]
        far = [held for held in self.ring if np.hypot(*(self.position - held[2])) >= travel]
        if far:
            old_small, old_log, _ = far[-1]
            shift = camera_shift(old_small, small)  # measured across the pair, not summed
            if np.isfinite(shift).all() and np.hypot(*shift) >= 0.7 * travel:
                self._pair(log, old_log, shift)
        self.ring = (self.ring + [(small, log, self.position)])[-self.RING:]

    def _pair(self, log, old_log, shift):
        h, w = log.shape
        move = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
        lined_up = cv2.warpAffine(old_log, move, (w, h), flags=cv2.INTER_LINEAR, borderValue=np.nan)
        ratio = log - lined_up
        valid = np.isfinite(ratio)
        ratio[~valid] = 0
        self.sum += ratio
        self.squares += ratio * ratio
        self.count += valid
        self.pairs += 1

    def mask(self):
        opt, out = self.options, np.zeros(self.shape, bool)
        enough = opt["blemish_min_pairs"]
        if self.pairs < enough:
            return out
        n = np.maximum(self.count, 1)
        mean = self.sum / n
        spread = np.sqrt(np.maximum(self.squares / n - mean * mean, 1e-6))
        score = np.where(self.count >= enough, -mean / spread * np.sqrt(n), 0)
        deep = np.log(1 - opt["blemish_depth"])
        strong = (mean < deep) & (score > opt["blemish_score"])
        if not strong.any():
            return out
        weak = (mean < 0.5 * deep) & (score > 0.5 * opt["blemish_score"])
        labels, stats = _components(weak)
        keep = np.zeros(len(stats), bool)
        keep[np.unique(labels[strong])] = True
        keep[0] = False
        w, h, area = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_AREA]
        scale = mean.shape[1] / self.shape[1]
        keep &= np.maximum(w, h) <= opt["blemish_size"] * scale  # a blob, not a band or the vignette
        keep &= (np.maximum(w, h) <= 2.5 * np.minimum(w, h)) & (area >= 0.4 * w * h)
        if not keep.any():
            return out
        found = cv2.resize(keep[labels].view(np.uint8), self.shape[::-1], interpolation=cv2.INTER_NEAREST)
        return cv2.dilate(found, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))) > 0


def luma(frame):
    """The uint8 luma of an RGB frame (BT.601 weights; a grey frame as it is)."""
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame


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

    `read(a, b, colour=True)` yields the uint8 RGB (or luma) frames [a, b) (luma where `colour`
    is False, or any frames: they are made luma); `options` is a checked `automask` config
    section (aivid.workflow.config), `cut_threshold` the plan's `shot_threshold` (the same cut
    detector as the plan's, aivid.repair.shots).  Two passes over the span (plus two frames of
    context each side): the first finds overlays and shot cuts, the second the transient defects,
    holding five frames at a time.  Memory does not grow with the span's length.
    """
    from aivid.repair.shots import find_cuts, thumbnail

    opt = options
    lo, hi = max(0, start - 2), min(frames, stop + 2)
    static, blemish = "static" in opt["detectors"], "blemish" in opt["detectors"]
    acc, dust, thumbs, shape = None, None, [], None

    def work(frame):
        features = overlay_features(frame, opt) if static else (luma(frame),)
        return features, (blemish_frame(features[0], opt) if blemish else None)

    with ThreadPoolExecutor(_threads()) as pool:
        for features, dusty in _ahead(pool, work, read(lo, hi, colour=static), 2 * _threads()):
            shape = features[0].shape
            if static:
                acc = acc or OverlayAccumulator(shape, opt)
                acc.add(features)
            if blemish:
                dust = dust or BlemishAccumulator(shape, opt)
                dust.add(dusty)
            thumbs.append(thumbnail(features[0]))
    cuts = [lo + i for i in find_cuts(thumbs, cut_threshold)]
    allowed = exclusion(shape, opt["exclude"])
    fixed = acc.mask() if static else np.zeros(shape, bool)
    if blemish:
        fixed = fixed | dust.mask()
    found = None
    if "transient" in opt["detectors"]:
        found = _transients(map(luma, read(lo, hi, colour=False)), lo, hi, start, stop, cuts, opt)
    for t in range(start, stop):
        mask = fixed | next(found) if found is not None else fixed.copy()
        yield t, mask & allowed


def _threads():
    """Threads for the detectors' per-frame work (OpenCV lets go of the GIL): the cores this
    process may use, at most 4."""
    return max(1, min(4, len(os.sched_getaffinity(0))))


def _ahead(pool, work, items, depth):
    """`work(item)` for each item on `pool`, up to `depth` items ahead, yielded in order."""
    from collections import deque

    queue = deque()
    for item in items:
        queue.append(pool.submit(work, item))
        if len(queue) > depth:
            yield queue.popleft().result()
    while queue:
        yield queue.popleft().result()


def _transients(frames, lo, hi, start, stop, cuts, opt):
    """Yield the transient mask of each frame in [start, stop).  Each frame needs its neighbours
    (two either side) and the results of the frames before and after it.  `frames` yields the
    luma frames [lo, hi); their `Frame`s and masks are computed a few frames ahead on threads
    (OpenCV lets go of the GIL), so memory stays a few frames."""
    threads = _threads()
    ahead = 2 * threads
    source = enumerate(frames, lo)
    first, last = max(lo, start - 1), min(hi, stop + 1)
    with ThreadPoolExecutor(threads) as prepare, ThreadPoolExecutor(threads) as compare:
        prepared, pending, results = {}, {}, {}

        def frame(i):
            while max(prepared, default=lo - 1) < i:
                j, gray = next(source)
                prepared[j] = prepare.submit(Frame, gray, opt)
            return prepared[i]

        def masks(t, pair):
            if pair is None:
                empty = np.zeros(prepared[t].result().gray.shape, bool)
                return empty, empty
            return transient_masks(*(prepared[i].result() for i in (pair[0], t, pair[1])), opt,
                                   between=pair[0] < t < pair[1])

        for t in range(first, last):
            for u in range(max(pending, default=first - 1) + 1, min(last, t + ahead + 1)):
                pair = _neighbours(u, lo, hi, cuts)
                for i in (pair or ()) + (u,):
                    frame(i)
                pending[u] = compare.submit(masks, u, pair)
            results[t] = pending.pop(t).result()
            for old in [i for i in prepared if i < t - 2]:
                del prepared[old]
            if start <= t - 1 < stop:
                yield _with_faint(results, t - 1, opt)
            for old in [v for v in results if v < t - 1]:
                del results[old]
        if start <= last - 1 < stop:
            yield _with_faint(results, last - 1, opt)


def _with_faint(results, t, opt):
    """`_near_in_time` on the box around frame t's finds and faint candidates (whole frames of
    labels cost more than the rest of the step)."""
    found, faint = results[t]
    box = cv2.boundingRect((found | faint).view(np.uint8))
    if box[2] == 0:
        return found
    pad = max(opt["repeat_reach"], opt["hysteresis_reach"]) + 1
    h, w = found.shape
    x0, y0, x1, y1 = max(0, box[0] - pad), max(0, box[1] - pad), min(w, box[0] + box[2] + pad), min(h, box[1] + box[3] + pad)
    crop = {v: (results[v][0][y0:y1, x0:x1], results[v][1][y0:y1, x0:x1]) for v in (t - 1, t, t + 1) if v in results}
    out = np.zeros_like(found)
    out[y0:y1, x0:x1] = _near_in_time(crop, t, opt)
    return out


def _near_in_time(results, t, opt):
    """Frame t's defects, plus its faint candidates within `hysteresis_reach` pixels of a defect
    found in the frame before or after (temporal hysteresis: a scratch that fades over frames),
    less the blobs that come back next to themselves: a find in frame t with something found
    (or faint) within `repeat_reach` pixels in the frame before or after is a moving thing the
    flow missed, not dust (which lands somewhere new each frame).  Lines (scratches) may repeat."""
    found, faint = results[t]
    around = [results[v][0] for v in (t - 1, t + 1) if v in results]
    if not around:
        return found
    if found.any() and opt["repeat_reach"] > 0:
        again = [results[v][0] for v in (t - 1, t + 1) if v in results]
        reach = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * opt["repeat_reach"] + 1,) * 2)
        near = cv2.dilate(np.logical_or.reduce(again).astype(np.uint8), reach) > 0
        labels, stats = _components(found)
        found = found & ~(_holding(labels, near) & ~_lines(stats, opt))[labels]
    if not faint.any():
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
    read = lambda a, b, colour=True: iter(frames[a:b])  # noqa: E731
    options, cuts = section("automask", overrides), section("plan")["shot_threshold"]
    return np.stack([m for _, m in detect(read, 0, len(frames), len(frames), options, cuts)])
