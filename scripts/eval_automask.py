"""How well the automatic mask finds injected defects on real clips, and what it flags on clean ones.

    python scripts/eval_automask.py CLIP.mp4 [CLIP.mp4 ...] [--frames 100] [--seed 0]

For each clip: the luma of its first frames is taken as clean; known defects are drawn in (dark or
bright specks of 1-3 px radius in single frames, one-frame scratches, a semi-transparent logo and
stuck pixels in every frame).  Reported per clip, for aivid's detectors and for a naive
frame-difference spike detector:
  recall     defects found (half of a defect's pixels within 2 px of a flagged pixel; a logo or
             stuck pixel counts as one defect, found in at least half of the frames)
  precision  flagged pixels within 3 px of a true defect pixel of the same frame
  no logo    the same, away from the logo (whose many pixels otherwise outweigh everything else)
  clean      flagged share of all pixels on the untouched clip
"""

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aivid.masks.automatic import detect_span  # noqa: E402
from aivid.media.decode import read_frames  # noqa: E402
from aivid.media.probe import probe  # noqa: E402


def load_luma(path, frames):
    info = probe(path)
    return read_frames(path, 0, min(frames, info.frames), pix_fmt="gray", info=info)[..., 0]


def _polarity(frame, y, x):
    return 0 if frame[max(0, y - 4) : y + 5, max(0, x - 4) : x + 5].mean() > 110 else 255


def inject(clean, rng):
    """Defected copy of `clean` and its defects: (kind, frames or None, bool (H, W) pixels)."""
    video, defects = clean.copy(), []
    t_n, h, w = clean.shape
    for _ in range(max(4, t_n // 3)):  # specks
        t, y, x, r = rng.integers(1, t_n - 1), rng.integers(8, h - 8), rng.integers(8, w - 8), rng.integers(1, 4)
        spot = np.zeros((h, w), np.uint8)
        cv2.circle(spot, (int(x), int(y)), int(r) - 1, 1, -1) if r > 1 else spot.__setitem__((y, x), 1)
        video[t][spot > 0] = _polarity(clean[t], y, x)
        defects.append(("speck", [t], spot > 0))
    for _ in range(max(2, t_n // 10)):  # one-frame scratches
        t, y, x = rng.integers(1, t_n - 1), rng.integers(10, h - 100), rng.integers(10, w - 10)
        length, width = rng.integers(20, 80), rng.integers(1, 3)
        line = np.zeros((h, w), np.uint8)
        cv2.line(line, (int(x), int(y)), (int(x + rng.integers(-6, 7)), int(y + length)), 1, int(width))
        video[t][line > 0] = _polarity(clean[t], y + length // 2, x)
        defects.append(("scratch", [t], line > 0))
    logo = np.zeros((h, w), np.uint8)  # semi-transparent white text, top right
    scale = max(0.6, w / 640)
    cv2.putText(logo, "LOGO", (int(w * 0.72), int(h * 0.14)), cv2.FONT_HERSHEY_SIMPLEX, scale, 1, max(2, int(2 * scale)))
    sel = logo > 0
    video[:, sel] = (0.5 * video[:, sel] + 0.5 * 235).astype(np.uint8)
    defects.append(("logo", None, sel))
    for _ in range(4):  # stuck pixels
        y, x = rng.integers(4, h - 4), rng.integers(4, w - 4)
        px = np.zeros((h, w), bool)
        px[y, x] = True
        video[:, y, x] = _polarity(clean[0], y, x)
        defects.append(("stuck", None, px))
    return video, defects


def naive(video, level=30):
    out = np.zeros(video.shape, bool)
    v = video.astype(np.int16)
    out[1:-1] = (np.abs(v[1:-1] - v[:-2]) > level) & (np.abs(v[1:-1] - v[2:]) > level)
    return out


def _near(mask, pixels):
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * pixels + 1,) * 2, np.uint8)) > 0


def score(found, defects, shape):
    t_n = shape[0]
    truth = np.zeros(shape, bool)
    for _, frames, px in defects:
        for t in frames if frames is not None else range(t_n):
            truth[t] |= px
    hits = []
    for kind, frames, px in defects:
        frames = frames if frames is not None else range(t_n)
        covered = [(_near(found[t], 2)[px]).mean() >= 0.5 for t in frames]
        hits.append(np.mean(covered) >= 0.5)
    near_truth = np.stack([_near(t, 3) for t in truth])
    away_from_logo = ~_near(next(px for kind, _, px in defects if kind == "logo"), 3)
    missed = sorted({k for (k, _, _), h in zip(defects, hits) if not h})
    return float(np.mean(hits)), _precision(found, near_truth), _precision(found & away_from_logo, near_truth), missed


def _precision(found, near_truth):
    flagged = found.sum()
    return float((found & near_truth).sum() / flagged) if flagged else 1.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"{'clip':32s} {'detector':8s} {'recall':>7s} {'precision':>9s} {'no logo':>8s} {'clean':>8s}  missed")
    totals = {"aivid": [], "naive": []}
    for path in args.clips:
        clean = load_luma(path, args.frames)
        video, defects = inject(clean, rng)
        for name, detect in (("aivid", lambda v: detect_span(list(v), {})), ("naive", naive)):
            recall, precision, rest, missed = score(detect(video), defects, video.shape)
            false_alarm = detect(clean).mean()
            totals[name].append((recall, precision, rest, false_alarm))
            print(f"{Path(path).name[:32]:32s} {name:8s} {recall:7.3f} {precision:9.3f} {rest:8.3f} "
                  f"{100 * false_alarm:7.3f}%  {','.join(missed)}")
    for name, rows in totals.items():
        r, p, q, f = np.mean(rows, axis=0)
        print(f"{'mean':32s} {name:8s} {r:7.3f} {p:9.3f} {q:8.3f} {100 * f:7.3f}%")


if __name__ == "__main__":
    main()
