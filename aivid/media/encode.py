"""Encoding frames back to a video file with the source's exact frame rate, colour tags and streams."""

import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import ffmpeg
import numpy as np

from aivid.atomic import atomic_output
from aivid.errors import AividError
from aivid.media.ffmpeg_bin import StderrCollector, exit_code, last_error_line, require

# ffprobe colour names -> swscale matrix names for the RGB -> YUV conversion.
_SWS_MATRIX = {"bt709": "bt709", "bt470bg": "bt601", "smpte170m": "bt601", "bt2020nc": "bt2020",
               "bt2020c": "bt2020", "fcc": "fcc", "smpte240m": "smpte240m"}


@dataclass
class EncodeSettings:
    """How to encode: a lossy codec with CRF, or lossless FFV1 (bit-exact RGB) in Matroska.
    Made from a checked `output` config section (`from_config`), whose schema holds the defaults."""

    codec: str
    crf: int
    preset: str
    lossless: bool
    pix_fmt: str = "yuv420p"
    extra: dict | None = None

    @classmethod
    def from_config(cls, output=None, **overrides):
        """From the workflow config's `output` section (checked here, so a partial one gets the
        schema's defaults), with `overrides` (pix_fmt, extra) on top."""
        from aivid.workflow.config import section

        output = section("output", output)
        codec = "libx264" if output["codec"] == "auto" else output["codec"]  # auto, with no source to follow
        return cls(codec=codec, crf=output["crf"], preset=output["preset"], lossless=output["lossless"], **overrides)

    def video_args(self):
        if self.lossless:
            return {"c:v": "ffv1", "level": 3, "pix_fmt": "gbrp", "g": 1, "slices": 4, "slicecrc": 1}
        args = {"c:v": self.codec, "pix_fmt": self.pix_fmt}
        if self.codec in ("libx264", "libx265", "libvpx-vp9", "libsvtav1", "libaom-av1"):
            args["crf"] = self.crf
        if self.codec in ("libx264", "libx265"):
            args["preset"] = self.preset
        speed = PRESETS.index(self.preset) if self.preset in PRESETS else PRESETS.index("medium")
        if self.codec == "libvpx-vp9":  # constant quality; x264's preset names mapped to its speeds
            args.update({"b:v": 0, "row-mt": 1, "deadline": "good", "cpu-used": max(0, min(5, speed - 2))})
        elif self.codec == "libaom-av1":
            args.update({"b:v": 0, "row-mt": 1, "cpu-used": max(1, min(8, speed))})
        elif self.codec == "libsvtav1":
            args["preset"] = max(1, min(12, speed + 4))
        return {**args, **(self.extra or {})}


PRESETS = ["placebo", "veryslow", "slower", "slow", "medium", "fast", "faster", "veryfast", "superfast", "ultrafast"]


def _colour_args(source, lossless):
    """Colour tags of the source, and the matching RGB->YUV matrix for swscale."""
    tags, scale = {}, {}
    if not source:
        return tags, scale
    for key, opt in (("color_primaries", "color_primaries"), ("color_transfer", "color_trc"),
                     ("color_space", "colorspace"), ("color_range", "color_range")):
        if source.get(key) and source[key] != "unknown" and not (lossless and key == "color_space"):
            tags[opt] = source[key]
    if not lossless:
        if source.get("color_space") in _SWS_MATRIX:
            scale["out_color_matrix"] = _SWS_MATRIX[source["color_space"]]
        if source.get("color_range") in ("tv", "pc"):
            scale["out_range"] = source["color_range"]
    return tags, scale


def _other_streams(audio_from, out_path):
    """Input and map arguments that copy audio and subtitles from `audio_from`."""
    if audio_from is None:
        return [], {}
    from aivid.media.probe import probe

    info = probe(audio_from)
    src = ffmpeg.input(str(audio_from))
    streams, args = [], {}
    if info.audio:
        streams.append(src["a"])
        args["c:a"] = "copy"
    if info.subtitles:
        streams.append(src["s"])
        args["c:s"] = "mov_text" if Path(out_path).suffix.lower() in (".mp4", ".mov", ".m4v") else "copy"
    return streams, args


def build_encode_command(out, width, height, fps, settings, source=None, audio_from=None, gray=False):
    """The ffmpeg command line that reads raw RGB (or grey) frames on stdin and writes `out`."""
    fps = Fraction(fps)
    video = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="gray" if gray else "rgb24", s=f"{width}x{height}",
                         framerate=f"{fps.numerator}/{fps.denominator}").video
    tags, scale = _colour_args(source, settings.lossless)
    if scale:
        video = video.filter("scale", **scale)
    streams, stream_args = _other_streams(audio_from, out)
    video_args = settings.video_args()
    if gray:  # masks: lossless single-channel
        video_args = {**video_args, "c:v": "ffv1", "pix_fmt": "gray"}
    output = ffmpeg.output(video, *streams, str(out), **video_args, **tags, **stream_args,
                           fps_mode="passthrough")
    return output.global_args("-nostdin", "-v", "error", "-y").compile()


def encode_frames(frames, out, width, height, fps, settings=None, source=None, audio_from=None, gray=False):
    """Encode an iterable of (H, W, 3) frames or (n, H, W, 3) blocks to `out`, atomically.

    With `gray`, frames are (H, W) or (n, H, W) and `out` is lossless single-channel FFV1 (masks).

    `source` is a probe dict whose colour tags are copied; `audio_from` a file whose audio and
    subtitle streams are copied.  Returns the number of frames written.
    """
    require("ffmpeg")
    settings = settings or EncodeSettings.from_config()
    count = 0
    with atomic_output(out) as tmp:
        args = build_encode_command(tmp, width, height, fps, settings, source, audio_from, gray)
        code, err, count = feed_process(args, frames, (height, width) if gray else (height, width, 3))
        if code != 0:
            raise AividError(out, f"encoding failed ({err})")
        if count == 0:
            raise AividError(out, "no frames to encode")
    return count


def feed_process(args, frames, shape=None, reader=None):
    """Run ffmpeg `args`, writing the uint8 (or uint16) frame blocks `frames` to its stdin (each of `shape`
    per frame, if given), and, with `reader`, giving its stdout to `reader(stream)` on a thread
    (an output to pipe:1).  Returns (exit code, last error line, frames written); an exception
    of `reader` is raised once ffmpeg has ended."""
    import threading

    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE if reader else subprocess.DEVNULL)
    errors, count, failed = StderrCollector(proc.stderr), 0, []
    if reader:
        def read():
            try:
                reader(proc.stdout)
            except BaseException as exc:  # noqa: B036 -- raised again below, on the caller's thread
                failed.append(exc)
            finally:
                proc.stdout.read()  # drain: ffmpeg must never block on a full pipe
        thread = threading.Thread(target=read, daemon=True)
        thread.start()
    try:
        for block in frames:
            block = np.asarray(block)
            if shape and block.ndim == len(shape):
                block = block[None]
            if (shape and block.shape[1:] != shape) or block.dtype not in (np.uint8, np.uint16):
                raise AividError(None, f"frame of shape {block.shape[1:]} {block.dtype}, expected {shape} uint8 or uint16")
            proc.stdin.write(memoryview(np.ascontiguousarray(block)).cast("B"))
            count += len(block)
    except BrokenPipeError:
        pass
    finally:
        proc.stdin.close()
        code = proc.wait()
        if reader:
            thread.join()
            proc.stdout.close()
    if failed and code == 0:  # else ffmpeg's own error says more
        raise failed[0]
    text = errors.text()
    return exit_code(code, text), last_error_line(text), count


def encode_zarr(store, out, settings=None, audio_from=None):
    """Encode a (T, H, W, 3) Zarr video (as written by decode_to_zarr) to `out`."""
    from aivid.media.lazy import LazyVideo

    video = LazyVideo.open(store)
    _, height, width, _ = video.shape
    return encode_frames((b for _, b in video.iter_blocks()), out, width, height, video.fps,
                         settings, video.attrs.get("source"), audio_from)
