"""Measure a tracker against true object masks: coverage and area ratio per frame.

    python scripts/eval_track.py VIDEO MASK [--frame N] [--box X Y W H ...] [--model M] [--width W] [--per-frame]
        [--sheet PNG [--sheet-frames START STOP STEP]]

The prompt is what a user would give: a box around each object of the true mask on frame N
(its connected components over `--min-area` pixels, `--pad` pixels wider), or the boxes given
with `--box` (where objects touch on frame N, one component holds several of them: a user
would draw a box for each).  Each box is tracked
through the clip by aivid.masks.track; the union of the tracks is scored against the truth at the
video's own size: coverage (share of the object's pixels inside the mask) and area ratio (mask
area / object area) per frame.  The true masks are thresholded at 127 (they are lossy videos).
"""

import time

import click
import cv2
import numpy as np

from aivid.masks.track import track_frames, tracker_for
from aivid.media.decode import read_frames
from aivid.media.probe import probe
from aivid.workflow.config import section


@click.command()
@click.argument("video")
@click.argument("mask")
@click.option("--frame", "n", default=0, show_default=True)
@click.option("--model", help="track.model (default: the config schema's)")
@click.option("--width", type=int, help="track.width, the working width (default: the config schema's)")
@click.option("--box", "given", type=(int, int, int, int), multiple=True, help="a box X Y W H on frame N (repeat for each object) instead of the true mask's components")
@click.option("--pad", default=4, show_default=True)
@click.option("--min-area", default=400, show_default=True)
@click.option("--margin", type=float, help="track.margin (default: the config schema's)")
@click.option("--no-refine", is_flag=True)
@click.option("--per-frame", is_flag=True, help="print each frame's coverage and area ratio")
@click.option("--sheet", type=click.Path(), help="write a PNG of the frames --sheet-frames names: truth green, mask red")
@click.option("--sheet-frames", type=(int, int, int), default=(0, -1, 10), show_default=True,
              help="the sheet's frames: START STOP STEP (STOP -1: to the end)")
def main(video, mask, n, given, model, width, pad, min_area, margin, no_refine, per_frame, sheet, sheet_frames):
    info = probe(video)
    truth = read_frames(mask, pix_fmt="gray")[..., 0] > 127
    T, H, W = truth.shape
    count, _, stats, _ = cv2.connectedComponentsWithStats(truth[n].astype(np.uint8))
    boxes = [[int(x) - pad, int(y) - pad, int(w) + 2 * pad, int(h) + 2 * pad]
             for x, y, w, h, area in stats[1:] if area >= min_area]
    boxes = [list(b) for b in given] or boxes
    chosen = {"model": model, "width": width, "margin": margin, "refine": False if no_refine else None}
    options = section("track", {k: v for k, v in chosen.items() if v is not None})
    tracker = tracker_for(options)
    began = time.perf_counter()
    union = np.zeros((T, H, W), bool)
    for box in boxes:
        region = {"box": box, "frame": n, "track": True}
        for t, m in enumerate(track_frames(video, info, region, 0, T, options, tracker)):
            union[t] |= m
    took = time.perf_counter() - began
    area = truth.sum(axis=(1, 2))
    keep = area > 0
    cov = (union & truth).sum(axis=(1, 2))[keep] / area[keep]
    ratio = union.sum(axis=(1, 2))[keep] / area[keep]
    iou = (union & truth).sum(axis=(1, 2))[keep] / (union | truth).sum(axis=(1, 2))[keep]
    print(f"{video}: {len(boxes)} boxes on frame {n}, {T} frames, model {options['model']}, width {options['width']}")
    print(f"  coverage >= 0.95 in {np.mean(cov >= 0.95):.0%} of frames; coverage median {np.median(cov):.3f}, "
          f"min {cov.min():.3f}")
    print(f"  area ratio median {np.median(ratio):.2f}, 90th percentile {np.percentile(ratio, 90):.2f}, "
          f"max {ratio.max():.2f}; IoU median {np.median(iou):.3f}")
    if per_frame:
        for t, c, r in zip(np.flatnonzero(keep), cov, ratio):
            print(f"  frame {t}: coverage {c:.3f}, area ratio {r:.2f}{'' if c >= 0.95 else '  <'}")
    if sheet:
        frames, tiles = read_frames(video, info=info), []
        start, stop, step = sheet_frames
        for t in range(start, T if stop < 0 else min(stop, T), step):
            tile = frames[t].copy()
            tile[truth[t]] = tile[truth[t]] // 2 + np.array([0, 127, 0], np.uint8)
            for m, colour in ((union[t], (255, 0, 0)),):
                contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
                cv2.drawContours(tile, contours, -1, colour, 2)
            tiles.append(cv2.resize(tile, (W // 2, H // 2), interpolation=cv2.INTER_AREA))
        tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % 4)
        grid = np.concatenate([np.concatenate(tiles[i : i + 4], 1) for i in range(0, len(tiles), 4)], 0)
        cv2.imwrite(sheet, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    print(f"  {T * len(boxes) / took:.1f} frames/s tracked ({took:.1f} s)")


if __name__ == "__main__":
    main()
