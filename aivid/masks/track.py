"""Masks that follow an object: a box or clicked points on one frame, tracked through its shot
(to the hard cuts either side, or over given frames), one mask per frame.

Trackers share one interface (`Tracker.follow`): frames at a reduced working size, the prompt
frame first and then outward from it, and the prompt scaled to that size in; one bool mask per
frame out (`follow_region` runs it forward, then backward).  `classical` needs no weights;
`Sam2Tracker` runs SAM2's video model (or SAM3's tracker) through transformers
(`Sam2VideoModel` / `Sam3TrackerVideoModel`, a hub id or a local folder) from a box or points;
`Sam3TextTracker` runs SAM3's video model (`Sam3VideoModel`) from words.  The masks are stored at the working size (`results/NAME/regions/R/mask.zarr`)
and scaled to the video's size when a segment's mask is built (aivid.masks.manual.TrackedRegions).
"""

import abc
import os

import cv2
import numpy as np

from aivid.errors import AividError


def is_tracked(region):
    """Whether a configured region is followed through its shot (`track: true`, or points or
    text, which only a tracker reads); a plain region is a fixed box."""
    return bool(region.get("track") or region.get("points") or region.get("text"))


def _disk(r):
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


class Tracker(abc.ABC):
    """Segment an object on one frame and follow it through the others."""

    name = "tracker"

    @abc.abstractmethod
    def follow(self, frames, box=None, points=None, text=None):
        """frames: an iterable of (h, w, 3) uint8 RGB frames at the working size, the prompt
        frame first, then its neighbours one by one away from it (forward or backward in time:
        the trackers do not care); box [x, y, w, h] and points [[x, y], ...] on the prompt frame
        at that size, or `text` (words naming the object: every instance of it is followed).  Yields one (h, w) bool mask per frame, and may stop early where the object
        has left the picture (the frames after it have no mask)."""


class ClassicalTracker(Tracker):
    """No weights: the box is followed by the optical flow of the object's own pixels, trimmed
    to the object where it separates from what surrounds it, and joined by what moves unlike
    the camera next to it.

    On each frame the object's pixels are estimated by GrabCut in the box grown by GROW (its
    colours against the band around it). The box moves and scales by a similarity fitted
    (RANSAC) to the flow of those pixels -- not of the whole box, which in a panning shot holds
    mostly background -- stretches to hold a part of them that moves away from the rest (a box
    round two people, one of whom walks off: `_parted`), and takes in what GrabCut finds beyond
    it. The box is trimmed to the
    object's pixels (closed over small gaps, within their hull) grown by `margin` of its size
    only where that estimate is trustworthy (it fills a plausible share of the box and reaches
    across it; the margin is of the object's own scale, the prompt box's as it grew or shrank,
    where the box stretched past it); else it stays whole: inpainting a little more than the object is fine, missing
    part of it is not. Limbs and ends the box misses are caught by motion: pixels whose flow
    departs from the camera's (a homography fitted to the whole frame's flow, the flow at the
    working size's full resolution), connected to the object's pixels and mostly within GROW of
    the box, are added (up to NEAR of it). The object's pixels that decide the trim are
    GrabCut's and the moving ones, with the few pixels of motion the flow smears past the
    object's edge cut back by a second GrabCut (`_trim_halo`).
    """

    name = "classical"

    def __init__(self, margin=0.1, refine=True):
        self.margin, self.refine = margin, refine
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        # what moves is decided on a flow at the working size itself, refined twice as long: the
        # medium preset's (half size) smears a limb's motion several pixels past its edge
        self._fine = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self._fine.setFinestScale(0)
        self._fine.setVariationalRefinementIterations(10)

    def _object(self, frame, box):
        """GrabCut's object pixels inside `box` (x0, y0, x1, y1), or None where GrabCut fails."""
        x0, y0, x1, y1 = box
        h, w = frame.shape[:2]
        if x1 - x0 < 8 or y1 - y0 < 8 or (x1 - x0) * (y1 - y0) > 0.9 * w * h:
            return None
        pad = max(8, (x1 - x0 + y1 - y0) // 4)
        X0, Y0, X1, Y1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
        gc = np.zeros((Y1 - Y0, X1 - X0), np.uint8)
        bg, fg = np.zeros((1, 65)), np.zeros((1, 65))
        try:
            cv2.grabCut(np.ascontiguousarray(frame[Y0:Y1, X0:X1]), gc, (x0 - X0, y0 - Y0, x1 - x0, y1 - y0),
                        bg, fg, 3, cv2.GC_INIT_WITH_RECT)
        except cv2.error:
            return None
        found = np.zeros((h, w), bool)
        found[Y0:Y1, X0:X1] = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
        return found

    def _mask(self, shape, box, found, size=None):
        """The box, trimmed to the object's pixels `found` where they are trustworthy; `size`
        is the object's own scale (the prompt box's, as the object grew or shrank since): a box
        that stretched to hold two objects parting trims by their scale, not its own."""
        x0, y0, x1, y1 = box
        out = np.zeros(shape, bool)
        out[y0:y1, x0:x1] = True
        if not self.refine or found is None:
            return out
        inside = found[y0:y1, x0:x1]
        share = inside.mean()
        rows, cols = np.flatnonzero(inside.any(1)), np.flatnonzero(inside.any(0))
        if not (0.2 <= share <= 0.95) or not len(rows):
            return out
        if (rows[-1] - rows[0] + 1) < 0.8 * (y1 - y0) or (cols[-1] - cols[0] + 1) < 0.8 * (x1 - x0):
            return out  # the estimate lost an end of the object: keep the box
        hull = np.zeros(shape, np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(found.astype(np.uint8))
        for k in range(1, n):
            if stats[k, cv2.CC_STAT_AREA] >= 0.02 * found.sum():
                points = np.argwhere(labels == k)[:, ::-1].astype(np.int32)
                cv2.fillConvexPoly(hull, cv2.convexHull(points), 1)
        scale = np.sqrt((x1 - x0) * (y1 - y0))
        r = max(2, int(round(self.margin * (scale if size is None else min(scale, size)))))
        # the object's own shape (its pixels closed over gaps up to 2r), grown by r, within its
        # hull grown by r: the space between a runner's legs is not the runner
        shape = cv2.morphologyEx(found.astype(np.uint8), cv2.MORPH_CLOSE, _disk(2 * r))
        return out & (cv2.dilate(hull, _disk(r)) > 0) & (cv2.dilate(shape, _disk(r)) > 0)

    def _follow(self, prev, frame, box, found, moving):
        """(box on `frame`, scale): the box moved from `prev` by the flow of the object's pixels,
        stretched to hold a part of them that parts from the rest (`_parted`)."""
        x0, y0, x1, y1 = box
        h, w = frame.shape[:2]
        flow = self._dis.calc(prev, frame, None)
        sel = np.zeros((h, w), bool)
        if found is not None and found[y0:y1, x0:x1].sum() >= 30:
            sel[y0:y1, x0:x1] = found[y0:y1, x0:x1]
        else:  # the box's middle
            dx, dy = (x1 - x0) // 4, (y1 - y0) // 4
            sel[y0 + dy : y1 - dy, x0 + dx : x1 - dx] = True
        ys, xs = np.nonzero(sel)
        step = max(1, len(ys) // 2000)
        ys, xs = ys[::step], xs[::step]
        src = np.stack([xs, ys], 1).astype(np.float32)
        dst = src + flow[ys, xs]
        cx, cy, bw, bh = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
        fit = None
        if len(src) >= 6:
            fit, kept = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=2.0)
        if fit is None:
            shift = np.median(dst - src, axis=0) if len(src) else np.zeros(2)
            scale = 1.0
            cx, cy = cx + shift[0], cy + shift[1]
        else:
            scale = float(np.clip(np.sqrt(abs(np.linalg.det(fit[:, :2]))), 0.98, 1.02))
            cx, cy = fit @ np.array([cx, cy, 1.0])
        bw, bh = bw * scale, bh * scale
        nx0, ny0 = int(round(cx - bw / 2)), int(round(cy - bh / 2))
        nx1, ny1 = int(round(cx + bw / 2)), int(round(cy + bh / 2))
        moved = max(0, nx0), max(0, ny0), min(w, nx1), min(h, ny1)
        if fit is not None:
            moved = self._parted(moved, src, dst, fit, kept.ravel().astype(bool), moving)
        return moved, scale

    #: a part of the object's pixels parts from the rest when it holds this share of them ...
    PART_SHARE = 0.2
    #: ... lies on what moves unlike the camera (this share of it) while the rest mostly does not
    PART_MOVING, REST_MOVING = 0.5, 0.3
    #: ... and moves more than this (pixels) away from where the rest's motion would take it
    PART_AWAY = 1.0
    #: the parting pixels' extent is padded by this share of it
    PART_PAD = 0.05

    def _parted(self, box, src, dst, fit, kept, moving):
        """`box` stretched to hold the object's pixels that move apart from the rest: a box
        drawn round two people, one of whom walks away, holds both.  The main motion (`fit`,
        RANSAC's inliers `kept`) is the box's; a second similarity fitted (RANSAC) to the rest of
        the pixels is another object's when it holds PART_SHARE of them, on pixels moving unlike
        the camera (`moving`) while the main motion's are mostly still (a swinging limb of a
        moving body is not a second object), and takes them PART_AWAY from where the main motion
        would: the box takes in where they went.  One part is enough here: several parting
        objects stretch the box one frame at a time."""
        rest = ~kept
        if rest.sum() < max(6, self.PART_SHARE * len(src)):
            return box
        fit2, kept2 = cv2.estimateAffinePartial2D(src[rest], dst[rest], method=cv2.RANSAC, ransacReprojThreshold=2.0)
        if fit2 is None or kept2.sum() < self.PART_SHARE * len(src):
            return box
        h, w = moving.shape
        part = kept2.ravel().astype(bool)
        came, went = src[rest][part], dst[rest][part]

        def on_moving(points):
            at = np.clip(np.round(points).astype(int), 0, [w - 1, h - 1])
            return moving[at[:, 1], at[:, 0]].mean() if len(at) else 1.0

        away = np.median(np.linalg.norm(went - cv2.transform(came[None], fit)[0], axis=1))
        if (away <= self.PART_AWAY or on_moving(went) < self.PART_MOVING
                or on_moving(dst[kept]) > self.REST_MOVING):
            return box
        lo, hi = went.min(0), went.max(0)
        pad = self.PART_PAD * (hi - lo)
        lo, hi = lo - pad, hi + pad
        return (max(0, min(box[0], int(lo[0]))), max(0, min(box[1], int(lo[1]))),
                min(w, max(box[2], int(hi[0]) + 1)), min(h, max(box[3], int(hi[1]) + 1)))

    def _grown(self, box, shape, by):
        x0, y0, x1, y1 = box
        dx, dy = int(by * (x1 - x0)) + 1, int(by * (y1 - y0)) + 1
        return max(0, x0 - dx), max(0, y0 - dy), min(shape[1], x1 + dx), min(shape[0], y1 + dy)

    def _seen(self, frame, base):
        """(box, object pixels) on one frame around the followed box `base`: the object is
        sought in the box grown by GROW, and the box grows to take in what is found there."""
        search = self._grown(base, frame.shape, self.GROW)
        found = self._object(frame, search)
        box = base
        if found is not None and found.any():
            ys, xs = np.nonzero(found)
            box = (min(base[0], xs.min()), min(base[1], ys.min()), max(base[2], xs.max() + 1), max(base[3], ys.max() + 1))
        return box, found

    #: the object is sought this far (a share of the box's size) outside the followed box
    GROW = 0.2
    #: moving pixels are added this far (a share of the box's size) outside the followed box
    NEAR = 0.5

    def _moving(self, prev, frame):
        """Pixels of `frame` that move unlike the camera: their backward flow departs from a
        homography fitted (RANSAC) to the flow of 4000 pixels spread over the frame by more than
        a pixel and three times the median departure."""
        h, w = frame.shape
        back = self._fine.calc(frame, prev, None)  # frame(x) ~ prev(x + back(x))
        gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
        grid = np.stack([gx, gy], -1)
        pick = np.random.default_rng(0).choice(h * w, min(h * w, 4000), replace=False)
        src = grid.reshape(-1, 2)[pick]
        fit, _ = cv2.findHomography(src, src + back.reshape(-1, 2)[pick], cv2.RANSAC, 1.0)
        if fit is None:
            return np.zeros((h, w), bool)
        camera = cv2.perspectiveTransform(grid.reshape(-1, 1, 2), fit).reshape(h, w, 2)
        departure = np.linalg.norm(grid + back - camera, axis=-1)
        return departure > max(1.0, 3 * float(np.median(departure)))

    def _moving_part(self, moving, box, found):
        """The moving pixels connected to the object's own pixels (`found`; the box where
        GrabCut failed), within NEAR of `box`: a moving region is taken only if most of it lies
        within GROW of the box (another moving thing that touches the object reaches far
        beyond it)."""
        x0, y0, x1, y1 = box
        seeds = np.zeros_like(moving)
        seeds[y0:y1, x0:x1] = True
        if found is not None and (seeds & found).any():
            seeds &= found
        count, labels = cv2.connectedComponents(moving.astype(np.uint8))
        touching = np.unique(labels[moving & seeds])
        touching = touching[touching > 0]
        added = np.zeros_like(moving)
        if not len(touching):
            return added
        x0, y0, x1, y1 = self._grown(box, moving.shape, self.GROW)
        sizes = np.bincount(labels.ravel(), minlength=count)
        inside = np.bincount(labels[y0:y1, x0:x1].ravel(), minlength=count)
        taken = touching[inside[touching] >= self.INSIDE * sizes[touching]]
        x0, y0, x1, y1 = self._grown(box, moving.shape, self.NEAR)
        added[y0:y1, x0:x1] = np.isin(labels[y0:y1, x0:x1], taken)
        return added

    def _trim_halo(self, frame, found, moved):
        """GrabCut from the object's pixels (sure) and the moving ones (probable): the flow's
        smoothness spreads motion a few pixels past the object's edge, colour finds the edge."""
        union = moved if found is None else found | moved
        if not union.any():
            return union
        h, w = union.shape
        ys, xs = np.nonzero(union)
        pad = 12
        X0, Y0, X1, Y1 = max(0, xs.min() - pad), max(0, ys.min() - pad), min(w, xs.max() + pad + 1), min(h, ys.max() + pad + 1)
        u = union[Y0:Y1, X0:X1].astype(np.uint8)
        gc = np.full(u.shape, cv2.GC_BGD, np.uint8)
        gc[cv2.dilate(u, _disk(4)) > 0] = cv2.GC_PR_BGD
        gc[u > 0] = cv2.GC_PR_FGD
        if found is not None:
            gc[cv2.erode(found[Y0:Y1, X0:X1].astype(np.uint8), _disk(1)) > 0] = cv2.GC_FGD
        bg, fg = np.zeros((1, 65)), np.zeros((1, 65))
        try:
            cv2.grabCut(np.ascontiguousarray(frame[Y0:Y1, X0:X1]), gc, None, bg, fg, 2, cv2.GC_INIT_WITH_MASK)
        except cv2.error:
            return union
        out = np.zeros_like(union)
        out[Y0:Y1, X0:X1] = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
        return out

    #: the share of a moving region that must lie within GROW of the box for it to be taken
    INSIDE = 0.6

    def follow(self, frames, box=None, points=None, text=None):
        if box is None:  # check_tracked says so in the user's words before any job runs
            raise AividError("track.model", "the classical tracker follows a box")
        frames = iter(frames)
        first = next(frames)
        h, w = first.shape[:2]
        x, y, bw, bh = box
        current = (max(0, x), max(0, y), min(w, x + bw), min(h, y + bh))
        size = np.sqrt((current[2] - current[0]) * (current[3] - current[1]))  # the object's scale
        found = self._object(first, current)
        yield self._mask((h, w), current, found, size)
        prev = cv2.cvtColor(first, cv2.COLOR_RGB2GRAY)
        for frame in frames:
            gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
            moving = self._moving(prev, gray)
            current, scale = self._follow(prev, gray, current, found, moving)
            size *= scale
            if current[2] - current[0] < 2 or current[3] - current[1] < 2:
                return  # the object left the picture
            box, found = self._seen(frame, current)
            moved = self._moving_part(moving, box, found)
            # the object's pixels as colour and motion see them decide the box's trim
            yield self._mask((h, w), box, self._trim_halo(frame, found, moved), size) | moved
            prev = gray


def tracker_for(options, region=None):
    """The tracker `track.model` names for `region`'s prompt: `classical`, or a SAM2 / SAM3 video
    model (a hub id or a local folder holding a transformers checkpoint; a `text` prompt takes
    SAM3's video model, a box or points its tracker or SAM2)."""
    model = options["model"]
    if model == "classical":
        return ClassicalTracker(options["margin"], options["refine"])
    return load_sam_tracker(model, options, text=bool(region and region.get("text")))


def working_size(width, height, limit):
    """(w, h) of the frames a tracker sees: at most `limit` wide, the video's shape, even."""
    scale = min(1.0, limit / width)
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def _scaled(region, sx, sy, w, h):
    box = points = None
    if region.get("box"):
        x, y, bw, bh = region["box"]
        x0, y0 = int(np.floor(x * sx)), int(np.floor(y * sy))
        x1, y1 = int(np.ceil((x + bw) * sx)), int(np.ceil((y + bh) * sy))
        box = [max(0, x0), max(0, y0), min(w, x1) - max(0, x0), min(h, y1) - max(0, y0)]
    if region.get("points"):
        points = [[float(px) * sx, float(py) * sy] for px, py in region["points"]]
    return box, points


def _frames_forward(path, info, a, b, size):
    """Frames a, a+1, ..., b-1 at `size`, decoded as one stream."""
    from aivid.media.decode import iter_frame_blocks

    for _, block in iter_frame_blocks(path, a, b, size=size, info=info):
        yield from (frame.copy() for frame in block)


def _frames_backward(path, info, a, n, size, block=64):
    """Frames n, n-1, ..., a at `size`, decoded `block` frames at a time from the end (each block
    from the keyframe before it): memory holds one block, not the shot."""
    from aivid.media.decode import read_frames

    hi = n + 1
    while hi > a:
        lo = max(a, hi - block)
        yield from read_frames(path, lo, hi, info=info, size=size)[::-1]
        hi = lo


def follow_region(path, info, region, a, b, options, tracker=None):
    """Yield (frame, working-size mask) for frames [a, b) of `path` as the tracker follows
    `region`'s prompt from its `frame`: forward to b, then backward to a.  Frames where the object
    has left the picture are not yielded.  Only the frames in play are in memory."""
    w, h = working_size(info.width, info.height, options["width"])
    box, points = _scaled(region, w / info.width, h / info.height, w, h)
    tracker = tracker or tracker_for(options, region)
    n, text = region["frame"], region.get("text")
    for t, mask in enumerate(tracker.follow(_frames_forward(path, info, n, b, (w, h)), box, points, text), n):
        yield t, mask
    if n > a:
        backward = tracker.follow(_frames_backward(path, info, a, n, (w, h)), box, points, text)
        next(backward)  # the prompt frame, already given
        for t, mask in zip(range(n - 1, a - 1, -1), backward):
            yield t, mask


def track_small(path, info, region, a, b, options, tracker=None):
    """Frames [a, b) of `path` tracked from `region`'s prompt on its `frame`: (T, h, w) bool at
    the working size, in memory (short clips, the command line, evaluations)."""
    w, h = working_size(info.width, info.height, options["width"])
    masks = np.zeros((b - a, h, w), bool)
    for t, mask in follow_region(path, info, region, a, b, options, tracker):
        masks[t - a] = mask
    return masks


def full_size(mask, width, height):
    """A working-size mask at the video's size (bilinear, then > 0.5: edges stay smooth)."""
    return cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR) > 0.5


def track_frames(path, info, region, a, b, options, tracker=None):
    """Yield the full-size masks of frames [a, b) (see track_small)."""
    for mask in track_small(path, info, region, a, b, options, tracker):
        yield full_size(mask, info.width, info.height)


HUB_IDS = {"tracking": "facebook/sam2.1-hiera-small", "SAM2": "facebook/sam2.1-hiera-small", "SAM3": "facebook/sam3"}


def _model_not_found(model, kind, exc):
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0")
    return (f"cannot load the {kind} model (looked in that folder and in the Hugging Face cache"
            f"{', offline' if offline else ''}): get it with `hf download {HUB_IDS[kind]} --local-dir DIR` "
            f"and set track.model: DIR ({str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__})")


def _model_type(model):
    """The checkpoint's model_type (config.json), or None where it cannot be read."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(model).model_type
    except (OSError, ValueError) as exc:
        raise AividError(model, _model_not_found(model, "tracking", exc)) from None


def load_sam_tracker(model, options, text=False):
    """A SAM2 / SAM3 video model from a hub id or a local folder: SAM3's video model for words
    (`text`), else SAM2's video model or SAM3's tracker (which a SAM3 checkpoint also holds)."""
    kind = _model_type(model)
    if text:
        if kind not in Sam3TextTracker.MODEL_TYPES:
            raise AividError(model, f"track.model is a {kind} checkpoint; a text prompt needs a SAM3 video model "
                             f"({', '.join(Sam3TextTracker.MODEL_TYPES)}, e.g. facebook/sam3)")
        return Sam3TextTracker(model, options)
    if kind not in Sam2Tracker.MODEL_TYPES:
        raise AividError(model, f"track.model is a {kind} checkpoint; a tracker needs a SAM2 or SAM3 video model "
                         f"({', '.join(Sam2Tracker.MODEL_TYPES)})")
    return Sam2Tracker(model, options, kind)


def torch_device(name):
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


class _SamVideo(Tracker):
    """What SAM2's and SAM3's video models share here: loading (a hub id or a local folder; on
    CUDA in bfloat16, else float32 on the CPU) and frames prepared as their processors prepare
    them -- resized to the model's square input (bilinear), scaled to [0, 1], normalised by the
    processor's mean and std -- done by aivid because transformers' SAM processors need
    torchvision.  Frames are streamed one at a time (memory does not grow with the shot)."""

    MEAN = STD = None

    def _load(self, cls, model, options, kind):
        import torch
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.device = torch_device(options["device"])
        self.dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        try:
            self.model = cls.from_pretrained(model, dtype=self.dtype).to(self.device).eval()
        except (OSError, ValueError) as exc:
            raise AividError(model, _model_not_found(model, kind, exc)) from None
        self.size = int(self.model.config.image_size)

    def _pixels(self, frame):
        import torch

        resized = cv2.resize(frame, (self.size, self.size), interpolation=cv2.INTER_LINEAR)
        pixels = (resized.astype(np.float32) / 255.0 - self.mean) / self.std
        return torch.from_numpy(pixels.transpose(2, 0, 1).copy()).to(self.device, self.dtype)

    @staticmethod
    def _forget_pixels(session, i):
        """A streamed frame is not read again: keep its index, not its pixels."""
        if i:
            session.processed_frames[i - 1] = session.processed_frames[i - 1].new_empty(0)


class Sam2Tracker(_SamVideo):
    """SAM2's video model (Sam2VideoModel, e.g. facebook/sam2.1-hiera-small) or SAM3's tracker
    (Sam3TrackerVideoModel, from a SAM3 checkpoint such as facebook/sam3, which holds it), through
    transformers' `from_pretrained`, from a box or points: forward from the prompt frame and then,
    in a second session, backward.

    A box is given as its two corners with SAM's labels 2 and 3, points with label 1, in the
    resized frame's coordinates.  Mean and std: ImageNet's (SAM2's processor) or 0.5 (SAM3's,
    transformers.image_utils' IMAGENET_STANDARD_*).  Masks are the model's logits resized to the
    working size, > 0.
    """

    MODEL_TYPES = ("sam2_video", "sam3_tracker_video", "sam3_video")

    def __init__(self, model, options, kind="sam2_video"):
        from transformers import image_utils

        if kind == "sam2_video":
            from transformers import Sam2VideoInferenceSession as session, Sam2VideoModel as cls

            self.name, mean, std = "sam2", image_utils.IMAGENET_DEFAULT_MEAN, image_utils.IMAGENET_DEFAULT_STD
        else:
            from transformers import Sam3TrackerVideoInferenceSession as session, Sam3TrackerVideoModel as cls

            self.name, mean, std = "sam3", image_utils.IMAGENET_STANDARD_MEAN, image_utils.IMAGENET_STANDARD_STD
        self.session_class = session
        self._load(cls, model, options, self.name.upper())
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)

    def _session(self, h, w, box, points):
        import torch

        session = self.session_class(video_height=h, video_width=w, inference_device=self.device,
                                     video_storage_device=self.device, inference_state_device=self.device,
                                     dtype=self.dtype)
        coords, labels = [], []
        sx, sy = self.size / w, self.size / h
        if box is not None:
            x, y, bw, bh = box
            coords += [[x * sx, y * sy], [(x + bw) * sx, (y + bh) * sy]]
            labels += [2, 3]
        for px, py in points or []:
            coords.append([px * sx, py * sy])
            labels.append(1)
        obj = session.obj_id_to_idx(1)
        session.add_point_inputs(obj, 0, {"point_coords": torch.tensor([[coords]], dtype=torch.float32),
                                          "point_labels": torch.tensor([[labels]], dtype=torch.int32)})
        session.obj_with_new_inputs = [1]
        return session

    def follow(self, frames, box=None, points=None, text=None):
        import torch
        import torch.nn.functional as F

        if box is None and not points:
            raise AividError("track", "a tracked region needs a box or points")
        session = None
        with torch.inference_mode():
            for i, frame in enumerate(frames):
                h, w = frame.shape[:2]
                if session is None:
                    session = self._session(h, w, box, points)
                result = self.model(inference_session=session, frame_idx=i, frame=self._pixels(frame))
                logits = F.interpolate(result.pred_masks.float(), size=(h, w), mode="bilinear", align_corners=False)
                yield logits[0, 0].cpu().numpy() > 0
                self._forget_pixels(session, i)


class Sam3TextTracker(_SamVideo):
    """SAM3's video model (Sam3VideoModel, e.g. facebook/sam3) from words: on every frame its
    detector finds each instance of what `text` names and its tracker follows them; the mask is
    the union of the objects it reports on that frame, less those it suppresses or removes (as
    Sam3VideoProcessor.postprocess_outputs does).  The words are tokenised with the checkpoint's
    own tokenizer, padded to 32 tokens (as Sam3VideoProcessor.add_text_prompt does); frames as
    Sam3's image processor prepares them (mean and std 0.5)."""

    name = "sam3-text"
    MODEL_TYPES = ("sam3_video",)
    MAX_TOKENS = 32  # Sam3VideoProcessor.add_text_prompt's padding length

    def __init__(self, model, options):
        from transformers import AutoTokenizer, Sam3VideoModel, image_utils

        self._load(Sam3VideoModel, model, options, "SAM3")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model)
        except (OSError, ValueError) as exc:
            raise AividError(model, _model_not_found(model, "SAM3", exc)) from None
        self.mean = np.asarray(image_utils.IMAGENET_STANDARD_MEAN, np.float32)
        self.std = np.asarray(image_utils.IMAGENET_STANDARD_STD, np.float32)

    def _session(self, h, w, text):
        from transformers import Sam3VideoInferenceSession

        session = Sam3VideoInferenceSession(video_height=h, video_width=w, inference_device=self.device,
                                            video_storage_device=self.device, inference_state_device=self.device,
                                            dtype=self.dtype)
        prompt = session.add_prompt(text)
        tokens = self.tokenizer(text, return_tensors="pt", padding="max_length", max_length=self.MAX_TOKENS)
        session.prompt_input_ids[prompt] = tokens.input_ids.to(self.device)
        session.prompt_attention_masks[prompt] = tokens.attention_mask.to(self.device)
        return session

    def follow(self, frames, box=None, points=None, text=None):
        import torch
        import torch.nn.functional as F

        if not text:
            raise AividError("track", "SAM3's video model follows what a `text` prompt names")
        session = None
        with torch.inference_mode():
            for i, frame in enumerate(frames):
                h, w = frame.shape[:2]
                if session is None:
                    session = self._session(h, w, text)
                result = self.model(inference_session=session, frame_idx=i, frame=self._pixels(frame))
                hidden = set(result.suppressed_obj_ids or ()) | set(session.hotstart_removed_obj_ids)
                hidden |= set(result.removed_obj_ids or ())
                logits = [m for k, m in sorted(result.obj_id_to_mask.items()) if k not in hidden]
                if logits:
                    low = torch.cat(logits).float()[:, None]
                    found = F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)[:, 0] > 0
                    yield found.any(dim=0).cpu().numpy()
                else:
                    yield np.zeros((h, w), bool)
                self._forget_pixels(session, i)


def shot_around(path, info, n, threshold, reach=250):
    """[a, b): the shot that holds frame `n`, between the hard cuts either side of it
    (aivid.repair.shots, the plan's own detector), searched outward `reach` frames at a time:
    only the frames up to the cuts are decoded (small and grey), not the whole video."""
    from aivid.repair.shots import CUT_RADIUS, detect_cuts

    total = info.frames
    b, pos = total, n
    while pos + 1 < total:
        hi = min(total, pos + reach)
        cuts = [c for c in detect_cuts(path, max(0, pos - CUT_RADIUS), min(total, hi + CUT_RADIUS), threshold, info)
                if pos < c <= hi]
        if cuts:
            b = cuts[0]
            break
        pos = hi
    a, pos = 0, n
    while pos > 0:
        lo = max(0, pos - reach)
        cuts = [c for c in detect_cuts(path, max(0, lo - CUT_RADIUS), min(total, pos + 1 + CUT_RADIUS), threshold, info)
                if lo < c <= pos]
        if cuts:
            a = cuts[-1]
            break
        pos = lo
    return a, b


def region_span(path, info, region, threshold):
    """The frames a tracked region covers: its `frames` if given, else its prompt frame's shot."""
    if region.get("frames"):
        return tuple(region["frames"])
    return shot_around(path, info, region["frame"], threshold)


def track_region(path, info, region, options, threshold, out):
    """Track one configured region through its span and write its masks (working size, 255 =
    object) to the store `out`; returns the summary written beside it (track.json)."""
    import time

    from aivid.atomic import atomic_output
    from aivid.media.lazy import LazyVideo

    began = time.perf_counter()
    a, b = region_span(path, info, region, threshold)
    tracker = tracker_for(options, region)
    w, h = working_size(info.width, info.height, options["width"])
    areas = np.zeros(b - a)
    with atomic_output(out) as tmp:
        store = LazyVideo.create(tmp, (b - a, h, w, 1), info.fps,
                                 {"start": a, "stop": b, "width": info.width, "height": info.height})
        for t, mask in follow_region(path, info, region, a, b, options, tracker):
            store[t - a] = (mask * np.uint8(255))[..., None]
            areas[t - a] = mask.mean()
    return {"start": a, "stop": b, "frame": region["frame"], "tracker": tracker.name, "working_size": [w, h],
            "empty_frames": int((areas == 0).sum()), "mean_area": float(areas.mean()),
            "areas": [round(float(x), 6) for x in areas], "seconds": round(time.perf_counter() - began, 2)}


def check_tracked(region, i, width, height, frames, model, where):
    """A tracked region's prompt, checked before any job runs (one line naming what is wrong)."""
    key = where if i is None else f"{where}: region {i}"
    if "frame" not in region:
        raise AividError(key, "a tracked region needs `frame`: the frame its box, points or text are given on")
    n = region["frame"]
    if not 0 <= n < frames:
        raise AividError(key, f"frame {n} outside the video's {frames} frames")
    if region.get("frames"):
        a, b = region["frames"]
        if not (0 <= a <= n < b <= frames):
            raise AividError(key, f"frames [{a}, {b}) must hold frame {n} and lie inside the video's {frames} frames")
    if region.get("box"):
        x, y, w, h = region["box"]
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
            raise AividError(key, f"box {region['box']} lies outside the {width}x{height} frame")
    for p in region.get("points") or []:
        if len(p) != 2 or not (0 <= p[0] < width and 0 <= p[1] < height):
            raise AividError(key, f"point {p} lies outside the {width}x{height} frame")
    if "text" in region:
        if not str(region["text"]).strip():
            raise AividError(key, "`text` is empty: name the object to follow (e.g. text: microphone)")
        if region.get("box") or region.get("points"):
            raise AividError(key, "give the object as `text` or as a box/points, not both")
        if model == "classical":
            raise AividError(key, "a text prompt needs a SAM3 model (track.model: facebook/sam3 or a local folder "
                             "holding it); the classical tracker follows a box")
        return
    if not (region.get("box") or region.get("points")):
        raise AividError(key, "a tracked region needs a box, points or text on its frame")
    if model == "classical" and not region.get("box"):
        raise AividError(key, "points need a SAM2 model (track.model: facebook/sam2.1-hiera-small or a local "
                         "folder); the classical tracker follows a box")
