"""Defects as footage has them, drawn into real clips with known truth, and the automatic mask
scored against them kind by kind (scripts/eval_automask.py, tests/test_automask.py).

A clip's frames are taken as clean.  One kind of defect at a time is drawn in, in colour, and the
result goes through H.264 4:2:0 at a typical quality (so hot pixels smear into their chroma
neighbourhood and soft edges get blocky, as in a camera file); the clean frames take the same
trip, so the clean false alarms are measured on what the detector would be given.

Kinds (every size and contrast drawn at random within the ranges below):

    speck        dust in single frames: round, 1-10 px across, soft-edged, dark or bright,
                 40-100 % of the way to black or white
    speck-large  the same, 11-20 px across
    scratch      one-frame vertical lines 1-3 px wide, 15-100 % of the height, slightly slanted,
                 35-100 % contrast
    hot          stuck or hot pixels: 1x1, 2x2 or 3x3 blocks of one random colour in every frame
    logo         translucent text (40-70 % white), hollow or filled, in a corner, every frame
    logo-opaque  an opaque coloured badge with text, every frame
    blemish      sensor dust: soft dark blobs (6-30 px) darkening the picture 15-40 %, every frame

A defect's pixels are those the encoded file shows (`visible`: where the defected and the clean
encode differ by VISIBLE levels); a defect the encoder erased is not counted.
Scores per kind: recall (share of defect-frames where at least half the defect's pixels lie within
2 px of a flagged pixel), coverage (share of all defect pixels so covered), precision (flagged
pixels within 3 px of a defect pixel of their frame, over all flagged pixels).  Clean: flagged
share of the clean clip's pixels.
"""

import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np

KINDS = ["speck", "speck-large", "scratch", "hot", "logo", "logo-opaque", "blemish"]
VISIBLE = 10  # a defect's pixels: where it changes the frame by this many levels or more


def load(path, frames, width=None):
    """The first `frames` frames of a clip as uint8 RGB, scaled to `width` (even height) if given."""
    from aivid.media.decode import read_frames
    from aivid.media.probe import probe

    info = probe(path)
    size = None
    if width and width < info.width:
        size = (width, 2 * round(info.height * width / info.width / 2))
    return read_frames(path, 0, min(frames, info.frames), info=info, size=size)


def still(frame, frames, noise=2.0, seed=0):
    """A locked-off camera on one real frame: the same picture with fresh sensor noise each frame."""
    rng = np.random.default_rng(seed)
    base = frame.astype(np.float32)
    return np.stack([np.clip(base + rng.normal(0, noise, base.shape), 0, 255).astype(np.uint8)
                     for _ in range(frames)])


def through_h264(video, crf=20):
    """`video` after an H.264 4:2:0 encode and decode (what a camera or editor file holds)."""
    from aivid.media.decode import read_frames

    t, h, w, _ = video.shape
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip.mp4"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                        "-r", "25", "-i", "pipe:", "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf),
                        "-pix_fmt", "yuv420p", "-g", "50", str(out)], input=video.tobytes(), check=True)
        return read_frames(out)


class Drawing:
    """Defects drawn into a float copy of a clip: `add(frames, alpha, colour)` blends `colour`
    (RGB, or an (H, W, 3) image) over the frames with per-pixel opacity `alpha` (H, W)."""

    def __init__(self, clean):
        self.video = clean.astype(np.float32)
        self.defects = []  # (frames, bool (H, W))

    def add(self, frames, alpha, colour):
        a = alpha[..., None].astype(np.float32)
        before = self.video[frames].copy()
        self.video[frames] = (1 - a) * self.video[frames] + a * np.asarray(colour, np.float32)
        change = np.abs(self.video[frames] - before).max(axis=-1)
        visible = (change >= VISIBLE).mean(axis=0) >= 0.5 if change.ndim == 3 else change >= VISIBLE
        if visible.any():
            self.defects.append((list(frames) if not isinstance(frames, slice) else None, visible))

    def multiply(self, frames, factor):
        before = self.video[frames].copy()
        self.video[frames] *= factor[..., None]
        visible = (np.abs(self.video[frames] - before).max(axis=-1) >= VISIBLE).mean(axis=0) >= 0.5
        if visible.any():
            self.defects.append((None, visible))

    def result(self):
        return np.clip(np.round(self.video), 0, 255).astype(np.uint8), self.defects


def _disc(shape, y, x, diameter, soft):
    """Opacity of a round spot `diameter` px across with a soft edge (`soft` px of fall-off)."""
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    r = np.hypot(yy - y, xx - x)
    radius = diameter / 2
    return np.clip((radius + soft / 2 - r) / max(soft, 0.5), 0, 1)


def _target(rng):
    return (0.0, 0.0, 0.0) if rng.random() < 0.6 else (255.0, 255.0, 255.0)


def _specks(draw, rng, sizes):
    t_n, h, w = draw.video.shape[:3]
    for _ in range(max(6, t_n // 2)):
        d = float(rng.uniform(*sizes))
        y, x, t = rng.uniform(d, h - d), rng.uniform(d, w - d), int(rng.integers(1, t_n - 1))
        alpha = _disc((h, w), y, x, d, soft=max(1.0, d / 4)) * rng.uniform(0.4, 1.0)
        draw.add([t], alpha, _target(rng))


def _scratches(draw, rng):
    t_n, h, w = draw.video.shape[:3]
    for _ in range(max(4, t_n // 6)):
        length = int(rng.uniform(0.15, 1.0) * h)
        y0 = int(rng.integers(0, h - length + 1))
        x = float(rng.uniform(8, w - 8))
        width, slope = int(rng.integers(1, 4)), rng.uniform(-0.05, 0.05)
        strength, colour = rng.uniform(0.35, 1.0), _target(rng)
        t = int(rng.integers(1, t_n - 1))
        line = np.zeros((h, w), np.float32)
        cv2.line(line, (int(x), y0), (int(x + slope * length), y0 + length - 1), 1.0, width)
        draw.add([t], cv2.GaussianBlur(line, (3, 3), 0.6) * strength, colour)


def _hot(draw, rng):
    t_n, h, w = draw.video.shape[:3]
    for _ in range(8):
        size = int(rng.integers(1, 4))
        y, x = int(rng.integers(4, h - 4 - size)), int(rng.integers(4, w - 4 - size))
        alpha = np.zeros((h, w), np.float32)
        alpha[y : y + size, x : x + size] = 1
        draw.add(slice(None), alpha, rng.integers(0, 256, 3).astype(np.float32))


def _corner(rng, h, w, bw, bh):
    x = int(rng.choice([0.04 * w, w - bw - 0.04 * w]))
    y = int(rng.choice([0.05 * h, h - bh - 0.05 * h]))
    return max(0, x), max(0, y)


def _logo(draw, rng):
    t_n, h, w = draw.video.shape[:3]
    scale = max(0.45, w / 700)
    thick = max(1, int(round(2 * scale)))
    (tw, th), _ = cv2.getTextSize("LOGO", cv2.FONT_HERSHEY_DUPLEX, scale, thick)
    x, y = _corner(rng, h, w, tw, th)
    text = np.zeros((h, w), np.uint8)
    cv2.putText(text, "LOGO", (x, y + th), cv2.FONT_HERSHEY_DUPLEX, scale, 255, thick, cv2.LINE_AA)
    if rng.random() < 0.5:  # hollow: the outline of the letters
        grown = cv2.dilate(text, np.ones((3, 3), np.uint8))
        text = np.maximum(grown - cv2.erode(text, np.ones((3, 3), np.uint8)), 0)
    draw.add(slice(None), text.astype(np.float32) / 255 * rng.uniform(0.4, 0.7), (235.0, 235.0, 235.0))


def _badge(draw, rng):
    t_n, h, w = draw.video.shape[:3]
    bw, bh = int(w * rng.uniform(0.12, 0.2)), int(h * rng.uniform(0.07, 0.12))
    x, y = _corner(rng, h, w, bw, bh)
    colour = rng.integers(30, 226, 3).astype(np.float32)
    image = np.zeros((h, w, 3), np.uint8) + colour.astype(np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    cv2.rectangle(alpha, (x, y), (x + bw - 1, y + bh - 1), 255, -1, cv2.LINE_AA)
    scale = bh / 40
    cv2.putText(image, "TV", (x + bw // 5, y + int(bh * 0.8)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), max(1, int(2 * scale)), cv2.LINE_AA)
    draw.add(slice(None), alpha.astype(np.float32) / 255, image.astype(np.float32))


def _blemishes(draw, rng):
    t_n, h, w = draw.video.shape[:3]
    factor = np.ones((h, w), np.float32)
    for _ in range(4):
        d = float(rng.uniform(6, 30))
        y, x = rng.uniform(d, h - d), rng.uniform(d, w - d)
        yy, xx = np.ogrid[:h, :w]
        blob = np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * (d / 4) ** 2))
        factor *= 1 - rng.uniform(0.15, 0.4) * blob
    draw.multiply(slice(None), factor)


DRAW = {"speck": lambda d, r: _specks(d, r, (1, 10)), "speck-large": lambda d, r: _specks(d, r, (11, 20)),
        "scratch": _scratches, "hot": _hot, "logo": _logo, "logo-opaque": _badge, "blemish": _blemishes}


def inject(clean, kind, rng):
    """(defected uint8 RGB video, [(frames or None for every frame, bool (H, W) pixels)])."""
    draw = Drawing(clean)
    DRAW[kind](draw, rng)
    return draw.result()


def visible(defects, encoded, encoded_clean):
    """The defects as the encoded file shows them: each one's pixels (grown by one, for the
    encoder's smear) where the defected and the clean encode differ by VISIBLE levels or more
    (persistent ones: in half the frames); defects the encoder erased are left out.
    Returns (defects, how many were left out)."""
    change = np.abs(encoded.astype(np.int16) - encoded_clean.astype(np.int16)).max(axis=-1) >= VISIBLE
    kept, erased = [], 0
    grow = np.ones((3, 3), np.uint8)
    for frames, px in defects:
        near = cv2.dilate(px.astype(np.uint8), grow) > 0
        shown = change[frames].any(axis=0) if frames is not None else change.mean(axis=0) >= 0.5
        shown &= near
        if shown.any():
            kept.append((frames, shown))
        else:
            erased += 1
    return kept, erased


def _near(mask, pixels):
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * pixels + 1,) * 2, np.uint8)) > 0


def score(found, defects):
    """{recall, coverage, precision} of bool (T, H, W) `found` against `defects`."""
    t_n = found.shape[0]
    truth = np.zeros(found.shape, bool)
    hits, covered, total = [], 0, 0
    near_found = [None] * t_n
    for frames, px in defects:
        for t in frames if frames is not None else range(t_n):
            truth[t] |= px
            if near_found[t] is None:
                near_found[t] = _near(found[t], 2)
            inside = near_found[t][px]
            hits.append(inside.mean() >= 0.5)
            covered, total = covered + int(inside.sum()), total + int(px.sum())
    near_truth = np.stack([_near(t, 3) for t in truth])
    flagged = int(found.sum())
    precision = float((found & near_truth).sum() / flagged) if flagged else 1.0
    return {"recall": float(np.mean(hits)), "coverage": covered / max(total, 1), "precision": precision}
