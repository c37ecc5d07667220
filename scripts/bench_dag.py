#!/usr/bin/env python3
"""How fast Snakemake builds aivid's DAG for a long video, and how many jobs it makes.

    python scripts/bench_dag.py [--minutes 60] [--defects 30] [--workdir DIR]

Builds a 1080p H.264 video of --minutes (a 10 s clip stream-copied end to end, so it takes
seconds), configures --defects small boxes spread through it, and times `snakemake -n` twice:
cold (the video is probed and its keyframes listed) and warm (probe cached).  Segment plans are
checkpoints, so a dry run lists the jobs up to the plans; the job count after planning is
estimated from the windows each defect needs, and so is the number of Slurm jobs the profile in
workflow/profiles/slurm makes of it (mask scans grouped, plans/copies/join local).
"""

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

SNAKEFILE = Path(__file__).resolve().parent.parent / "workflow" / "Snakefile"
SLURM_PROFILE = SNAKEFILE.parent / "profiles" / "slurm" / "config.yaml"


def make_video(work, minutes):
    clip = work / "clip10.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25",
                    "-t", "10", "-c:v", "libx264", "-preset", "ultrafast", "-g", "250", clip], check=True)
    listing = work / "list.txt"
    listing.write_text(f"file '{clip}'\n" * (minutes * 6))
    video = work / "long.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", listing,
                    "-c", "copy", video], check=True)
    return video


def dry_run(work):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(work), "--configfile",
           str(work / "config.yaml"), "--cores", "2", "-n", "--quiet", "rules"]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    seconds = time.perf_counter() - start
    return seconds, {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", out, re.M)}


def slurm_jobs(counts, defects, segments):
    """Cluster and local jobs after planning under the Slurm profile (one window per defect)."""
    group = yaml.safe_load(SLURM_PROFILE.read_text())["group-components"]["scan"]
    cluster = -(-counts.get("mask", 0) // group) + defects * 4  # decode, window, blend, piece
    local = counts.get("plan", 0) + 1  # plans, the join (untouched segments are copied by it)
    return cluster, local


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--defects", type=int, default=30)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        video = make_video(work, args.minutes)
        frames = args.minutes * 60 * 25
        print(f"made a {args.minutes}-minute 1080p video ({frames} frames) in {time.perf_counter() - t:.0f} s")
        spacing = frames // args.defects
        regions = [{"box": [200 + 40 * (i % 20), 300, 64, 64], "frames": [i * spacing + 100, i * spacing + 160]}
                   for i in range(args.defects)]
        (work / "config.yaml").write_text(yaml.safe_dump({"videos": {"long": {"path": str(video), "regions": regions}}}))
        cold, counts = dry_run(work)
        warm, _ = dry_run(work)
        jobs = counts.get("total", 0)
        segments = len(yaml.safe_load((work / "results" / "long" / "segments.json").read_text()))
        print(f"segments: {segments}; jobs before the plan checkpoints: {jobs}")
        after = jobs + args.defects * 4
        print(f"after planning, about {after} jobs: decode, one window, blend and piece per defect (untouched "
              f"segments need no job: their packets are copied at the join)")
        cluster, local = slurm_jobs(counts, args.defects, segments)
        print(f"with workflow/profiles/slurm: about {cluster} Slurm jobs (mask scans grouped, then decode, window, "
              f"blend, piece per defect) and {local} local jobs (plans, the join)")
        print(f"DAG build (snakemake -n): cold {cold:.1f} s (probe + keyframe listing), warm {warm:.1f} s")


if __name__ == "__main__":
    main()
