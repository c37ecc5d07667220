"""Turning segments into pieces of the output file, and joining the pieces with the source's audio."""

import logging
from fractions import Fraction
from pathlib import Path

import ffmpeg

from aivid.atomic import atomic_output
from aivid.repair.boxes import box_of
from aivid.media.decode import seek_options, seek_seconds
from aivid.media.encode import _colour_args, feed_process
from aivid.errors import AividError
from aivid.media.ffmpeg_bin import last_error_line, require, run_capture
from aivid.media.probe import frame_count, packet_index


log = logging.getLogger("aivid")

def matched_settings(info, settings):
    """Encoder settings that reproduce the source stream's profile and level, so re-encoded and
    copied segments join into one stream that decodes cleanly."""
    from dataclasses import replace

    extra = dict(settings.extra or {})
    profile = (info.profile or "").lower().replace("constrained ", "")
    if profile in ("baseline", "main", "high"):
        extra["profile:v"] = profile
    if info.level and info.level > 0:
        extra["level"] = f"{info.level / 10:.1f}"
    return replace(settings, pix_fmt="yuv420p", extra=extra)


def copy_segment(info, start, stop, out):
    """Copy the packets of frames [start, stop) (start is a keyframe) into an MPEG-TS piece."""
    require("ffmpeg")
    seek = seek_seconds(info, start, after=True)
    with atomic_output(out) as tmp:
        args = ["ffmpeg", "-nostdin", "-v", "error", "-y"] + (["-ss", f"{seek:.6f}"] if seek else [])
        args += ["-i", info.path, "-map", "0:v:0", "-c", "copy", "-frames:v", str(stop - start), "-f", "mpegts", str(tmp)]
        code, _, err = run_capture(args)
        if code != 0:
            raise AividError(info.path, f"copying frames {start}-{stop} failed ({last_error_line(err)})")
    return out


def transcode_segment(info, start, stop, out, settings):
    """Re-encode frames [start, stop) straight from the source with ffmpeg (nothing stored)."""
    require("ffmpeg")
    stream = ffmpeg.input(info.path, **seek_options(info, start)).video
    tags, scale = _colour_args(info.to_dict(), settings.lossless)
    # lossless goes through rgb24 exactly as decoding does, so pixels match the decoded source
    stream = stream.filter("format", "rgb24") if settings.lossless else stream
    stream = stream.filter("scale", **scale) if scale and not settings.lossless else stream
    with atomic_output(out) as tmp:
        args = stream.output(str(tmp), **settings.video_args(), **tags, fps_mode="passthrough",
                             **{"frames:v": stop - start}).global_args("-nostdin", "-v", "error", "-y").compile()
        code, _, err = run_capture(args)
        if code != 0:
            raise AividError(info.path, f"re-encoding frames {start}-{stop} failed ({last_error_line(err)})")
    return out


def reencoded_span(info, seg_start, seg_stop, changed):
    """[a, b): the whole GOPs (keyframe to keyframe) of a segment that its `changed` frames
    [first, last) (of the segment) fall in: what a repaired segment re-encodes."""
    first, last = changed
    index = info.index or packet_index(info.path)
    keys = [k for k in index.keyframes if seg_start < k < seg_stop]
    a = max([seg_start] + [k for k in keys if k <= seg_start + first])
    b = min([seg_stop] + [k for k in keys if k >= seg_start + last])
    return a, b


def encode_repaired_gops(info, seg_start, seg_stop, store, out, settings, changed):
    """The piece of a repaired segment that is joined with stream copies: only the GOPs (keyframe
    to keyframe) that the `changed` frames [first, last) of the segment fall in are re-encoded;
    the segment's other GOPs are stream-copied, and the parts joined into `out` (one MPEG-TS
    piece)."""
    a, b = reencoded_span(info, seg_start, seg_stop, changed)
    spans = [span for span in ((seg_start, a), (a, b), (b, seg_stop)) if span[0] < span[1]]
    log.info("frames %d-%d re-encoded, %d of the segment's %d frames stream-copied", a, b,
             seg_stop - seg_start - (b - a), seg_stop - seg_start)
    if len(spans) == 1:
        return encode_repaired(info, seg_start, a, b, store, out, settings)
    with atomic_output(out) as tmp:
        parts = [Path(f"{tmp}.{i}.ts") for i in range(len(spans))]
        try:
            for (lo, hi), part in zip(spans, parts):
                if (lo, hi) == (a, b):
                    encode_repaired(info, seg_start, lo, hi, store, part, settings)
                else:
                    copy_segment(info, lo, hi, part)
            code, err = _join(parts, [hi - lo for lo, hi in spans], info.fps, tmp,
                              ["-map", "0:v:0", "-c:v", "copy", "-fps_mode", "passthrough", "-f", "mpegts"])
        finally:
            for part in parts:
                part.unlink(missing_ok=True)
        if code != 0:
            raise AividError(out, f"joining the copied and re-encoded GOPs failed ({err})")
    return out


def encode_repaired(info, seg_start, start, stop, store, out, settings):
    """Re-encode frames [start, stop) straight from the source with the repair box of `store` (a
    segment starting at frame `seg_start`) laid over them by ffmpeg: only the box travels through
    a pipe, no full frame is stored or converted to RGB and back (lossless output overlays in
    RGB, so untouched pixels stay exact)."""
    from aivid.repair.blend import repair_patches

    require("ffmpeg")
    first, last, y0, y1, x0, x1 = box_of(store)
    lo, hi = start - seg_start, stop - seg_start  # frames of the segment (and of `store`)
    fps = Fraction(info.fps)
    every = f"N*{fps.denominator}/{fps.numerator}/TB"  # both inputs on the same frame clock
    main = ffmpeg.input(info.path, **seek_options(info, start)).video
    patch = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{x1 - x0}x{y1 - y0}",
                         framerate=f"{fps.numerator}/{fps.denominator}").video
    tags, scale = _colour_args(info.to_dict(), settings.lossless)
    pix_fmt = "rgb24" if settings.lossless else settings.pix_fmt
    patch = patch.filter("scale", **scale) if scale and not settings.lossless else patch
    video = main.filter("format", pix_fmt).filter("setpts", every).overlay(
        patch.filter("format", pix_fmt).filter("setpts", every), x=x0, y=y0, eof_action="pass",
        format="rgb" if settings.lossless else "yuv420", enable=f"between(n,{first - lo},{last - 1 - lo})")
    with atomic_output(out) as tmp:
        args = video.output(str(tmp), **settings.video_args(), **tags, fps_mode="passthrough",
                            **{"frames:v": stop - start}).global_args("-nostdin", "-v", "error", "-y").compile()
        code, err, _ = feed_process(args, repair_patches(store, lo, hi))
        if code != 0:
            raise AividError(info.path, f"re-encoding frames {start}-{stop} failed ({err})")
    return out


def concat_entry(path):
    """A concat-list `file` line for `path`, quoted the concat demuxer's way: any character in a
    name (an apostrophe, a leading dash, a colon) reaches ffmpeg as it is."""
    return "file '" + str(Path(path).resolve()).replace("'", "'\\''") + "'\n"


def _join(parts, counts, fps, out, args):
    """Run ffmpeg's concat demuxer over `parts` (`counts` frames each) with the further `args`
    (inputs, maps, codecs) into `out`; returns (exit code, last error line)."""
    fps = Fraction(fps)
    listing = Path(f"{out}.txt")
    listing.write_text("".join(f"{concat_entry(p)}duration {float(n / fps):.6f}\n" for p, n in zip(parts, counts)))
    code, _, err = run_capture(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "concat", "-safe", "0",
                                "-i", str(listing), *args, str(out)])
    listing.unlink(missing_ok=True)
    return code, last_error_line(err) if code else ""


def concat_pieces(pieces, info, out, expected_frames, frames_per_piece):
    """Join `pieces` in order, copy audio and subtitles from the source (`info`), and check the
    frame count."""
    require("ffmpeg")
    args = ["-i", info.path, "-map", "0:v:0"]
    if info.audio:
        args += ["-map", "1:a", "-c:a", "copy"]
    if info.subtitles:
        args += ["-map", "1:s", "-c:s", "mov_text" if Path(out).suffix == ".mp4" else "copy"]
    with atomic_output(out) as tmp:
        code, err = _join(pieces, frames_per_piece, info.fps, tmp,
                          args + ["-c:v", "copy", "-fps_mode", "passthrough", "-r", info.fps])
        if code != 0:
            raise AividError(out, f"joining segments failed ({err})")
        got = frame_count(tmp)
        if got != expected_frames:
            raise AividError(info.path, f"the joined output has {got} frames, the source {expected_frames}: "
                                        "the source may be damaged; nothing was written")
    return out
