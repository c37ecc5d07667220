#!/usr/bin/env python3
"""Measure the classical backend on real clips with a known answer.

    python scripts/eval_classical.py CLIP [CLIP ...] [--frames 81] [--area 0.10]

A stationary box covering --area of the frame (centre-right, where there is content) is removed
from the first --frames frames, filled, and compared with the true pixels: PSNR inside the mask,
for aivid's classical backend and for per-frame OpenCV Telea (the baseline).  Also a transient
check: a 6x6 speck in one frame only.
"""

import argparse

import cv2
import numpy as np

from aivid.backends.classical import ClassicalBackend
from aivid.decode import iter_frame_blocks


def psnr(a, b, where):
    err = ((a.astype(np.float64) - b.astype(np.float64)) ** 2)[where].mean()
    return 10 * np.log10(255**2 / max(err, 1e-12))


def load(path, frames):
    return np.concatenate([b.copy() for _, b in iter_frame_blocks(path, 0, frames)])


def stationary_box(shape, area):
    t, h, w = shape[:3]
    bw, bh = int(w * np.sqrt(area) * 1.2), int(h * np.sqrt(area) / 1.2)
    x, y = int(w * 0.55) - bw // 2, int(h * 0.5) - bh // 2
    mask = np.zeros((t, h, w), bool)
    mask[:, y : y + bh, x : x + bw] = True
    return mask


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--area", type=float, default=0.10)
    args = parser.parse_args()
    backend = ClassicalBackend({})
    for clip in args.clips:
        frames = load(clip, args.frames)
        mask = stationary_box(frames.shape, args.area)
        ours = backend.inpaint(frames, mask)
        telea = np.stack([cv2.inpaint(f, m.astype(np.uint8), 5, cv2.INPAINT_TELEA) for f, m in zip(frames, mask)])
        speck = np.zeros_like(mask)
        speck[len(frames) // 2, 100:106, 200:206] = True
        fixed = backend.inpaint(frames, speck)
        print(f"{clip}: mask {mask[0].mean():.1%} of the frame, {len(frames)} frames | PSNR in mask: "
              f"classical {psnr(ours, frames, mask):.1f} dB, per-frame Telea {psnr(telea, frames, mask):.1f} dB | "
              f"one-frame speck {psnr(fixed, frames, speck):.1f} dB")


if __name__ == "__main__":
    main()
