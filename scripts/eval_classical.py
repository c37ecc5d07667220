#!/usr/bin/env python3
"""Measure the classical backend on real clips with a known answer.

    python scripts/eval_classical.py CLIP [CLIP ...] [--frames 81] [--area 0.10]

Each shot (hard cuts found with aivid.repair.shots) of at least 24 frames is one test: a stationary box
covering --area of the frame is removed from up to --frames frames, filled, and compared with the
true pixels (PSNR inside the mask, MSE pooled over the shot), for aivid's classical backend and
for per-frame OpenCV Telea (the baseline).  Also a transient check: a 6x6 speck in one frame.
"""

import argparse

import cv2
import numpy as np

from aivid.repair.backends.classical import ClassicalBackend
from aivid.media.decode import read_frames
from aivid.media.probe import probe
from aivid.repair.shots import detect_cuts
from aivid.workflow.config import section  # noqa: E402


def mse(a, b, where):
    return ((a.astype(np.float64) - b.astype(np.float64)) ** 2)[where].mean()


def db(err):
    return 10 * np.log10(255**2 / max(err, 1e-12))


def stationary_box(shape, area):
    t, h, w = shape[:3]
    bw, bh = int(w * np.sqrt(area) * 1.2), int(h * np.sqrt(area) / 1.2)
    x, y = int(w * 0.55) - bw // 2, int(h * 0.5) - bh // 2
    mask = np.zeros((t, h, w), bool)
    mask[:, y : y + bh, x : x + bw] = True
    return mask


def shots(path, max_frames, min_frames=24):
    info = probe(path)
    cuts = [0] + detect_cuts(path, 0, info.frames, section("plan")["shot_threshold"], info) + [info.frames]
    for a, b in zip(cuts, cuts[1:]):
        if b - a >= min_frames:
            yield a, min(b, a + max_frames)


def evaluate(clip, frames_per_shot, area, backend):
    rows = []
    for a, b in shots(clip, frames_per_shot):
        frames = read_frames(clip, a, b)
        mask = stationary_box(frames.shape, area)
        ours = backend.inpaint(frames, mask)
        telea = np.stack([cv2.inpaint(f, m.astype(np.uint8), 5, cv2.INPAINT_TELEA) for f, m in zip(frames, mask)])
        speck = np.zeros_like(mask)
        h, w = mask.shape[1:]
        speck[len(frames) // 2, h // 3 : h // 3 + 6, w // 3 : w // 3 + 6] = True
        fixed = backend.inpaint(frames, speck)
        rows.append((mse(ours, frames, mask), mse(telea, frames, mask), mse(fixed, frames, speck)))
        print(f"  {clip} frames {a}-{b}: classical {db(rows[-1][0]):.1f} dB, Telea {db(rows[-1][1]):.1f} dB, "
              f"speck {db(rows[-1][2]):.1f} dB", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--area", type=float, default=0.10)
    args = parser.parse_args()
    backend, everything = ClassicalBackend(section("inpaint", {})), []
    for clip in args.clips:
        rows = evaluate(clip, args.frames, args.area, backend)
        everything += rows
        ours, telea, speck = np.mean(rows, axis=0)
        print(f"{clip}: {len(rows)} shots | PSNR in a stationary {args.area:.0%} mask: classical {db(ours):.1f} dB, "
              f"per-frame Telea {db(telea):.1f} dB | one-frame speck {db(speck):.1f} dB")
    ours, telea, speck = np.mean(everything, axis=0)
    print(f"ALL: classical {db(ours):.1f} dB, per-frame Telea {db(telea):.1f} dB, speck {db(speck):.1f} dB")


if __name__ == "__main__":
    main()
