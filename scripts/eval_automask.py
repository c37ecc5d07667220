"""How well the automatic mask finds defects as footage has them, kind by kind, on real clips.

    python scripts/eval_automask.py CLIP.mp4 [CLIP.mp4 ...] [--still] [--frames 60] [--width 432]
                                    [--seeds 0 1] [--kinds speck hot ...] [--set key=value ...]

Each clip's first frames (scaled to at most --width) are taken as clean; with --still, a locked-off
shot of each clip's first frame with fresh sensor noise is evaluated too.  For every kind of
aivid.masks.evaluate.KINDS and seed, the kind's defects are drawn in, the clip goes through H.264
4:2:0, and aivid's detectors (the config's defaults, or --set automask keys) run on the result.
Printed per clip and kind: recall, coverage and precision (see aivid.masks.evaluate), per clip the
clean false alarms, and per kind the mean over clips and seeds; then the detector's frames/s.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aivid.masks.automatic import detect_span  # noqa: E402
from aivid.masks import evaluate  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--width", type=int, default=432)
    parser.add_argument("--still", action="store_true", help="also a locked-off shot of each clip's first frame")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--kinds", nargs="+", default=evaluate.KINDS, choices=evaluate.KINDS)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="automask settings")
    args = parser.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    clips = []
    for path in args.clips:
        frames = evaluate.load(path, args.frames, args.width)
        clips.append((Path(path).stem[:24], frames))
        if args.still:
            clips.append((Path(path).stem[:18] + " still", evaluate.still(frames[0], len(frames))))
    seconds, count = 0.0, 0

    def run(video):
        nonlocal seconds, count
        began = time.perf_counter()
        found = detect_span(video, overrides)
        seconds, count = seconds + time.perf_counter() - began, count + len(video)
        return found

    print(f"{'clip':26s} {'kind':12s} {'recall':>7s} {'coverage':>8s} {'precision':>9s}")
    table = {kind: [] for kind in args.kinds}
    for name, frames in clips:
        clean = evaluate.through_h264(frames)
        print(f"{name:26s} {'(clean)':12s} {'':>7s} {'':>8s} {'':>9s}  flagged {100 * run(clean).mean():.4f} %")
        for kind in args.kinds:
            rows = []
            for seed in args.seeds:
                video, defects = evaluate.inject(frames, kind, np.random.default_rng(seed))
                encoded = evaluate.through_h264(video)
                defects, erased = evaluate.visible(defects, encoded, clean)
                rows.append({**evaluate.score(run(encoded), defects), "erased": erased})
            row = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
            table[kind].append(row)
            print(f"{name:26s} {kind:12s} {row['recall']:7.3f} {row['coverage']:8.3f} {row['precision']:9.3f}"
                  f"  ({row['erased']:.0f} erased by the encoder)", flush=True)
    for kind, rows in table.items():
        mean = {k: np.mean([r[k] for r in rows]) for k in ("recall", "coverage", "precision")}
        worst = min(r["recall"] for r in rows)
        print(f"{'mean':26s} {kind:12s} {mean['recall']:7.3f} {mean['coverage']:8.3f} {mean['precision']:9.3f}"
              f"  (lowest recall {worst:.3f})")
    print(f"detector: {count / seconds:.1f} frames/s at these sizes")


if __name__ == "__main__":
    main()
