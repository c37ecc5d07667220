"""Re-encoding the pieces of the output: the GOPs a repair reaches (laid over by ffmpeg), or whole
segments; aivid.output.remux puts them in place of the source's frames."""

import logging
from fractions import Fraction

import ffmpeg
import numpy as np

from aivid.atomic import atomic_output
from aivid.repair.boxes import box_of
from aivid.media.lazy import LazyVideo
from aivid.media.decode import exact_stream, iter_frame_blocks, working_format
from aivid.media.encode import _colour_args, feed_process
from aivid.errors import AividError
from aivid.media.ffmpeg_bin import last_error_line, require, run_capture
from aivid.media.probe import packet_index


log = logging.getLogger("aivid")

def _sps_id(extradata):
    """The seq_parameter_set_id of an H.264 stream's first SPS (avcC extradata), or 0."""
    if not extradata or extradata[0] != 1 or len(extradata) < 12:
        return 0
    bits = "".join(f"{b:08b}" for b in extradata[8 + 4: 8 + 12])  # after NAL header, profile, flags, level
    zeros = len(bits) - len(bits.lstrip("0"))
    return int(bits[zeros: 2 * zeros + 1], 2) - 1 if zeros < 8 else 0


def source_sps_id(info):
    import av

    try:
        with av.open(info.path) as src:
            return _sps_id(src.streams[info.stream].codec_context.extradata)
    except (av.error.FFmpegError, IndexError):
        return 0


def field_args(info):
    """Encoder options that code an interlaced source's re-encoded frames as fields (empty for
    progressive).  The field order is not set here: libx264 takes it from each decoded frame,
    as the source's own pictures say it (a container's field_order may say otherwise)."""
    if (info.field_order or "progressive") in ("progressive", "unknown"):
        return {}
    return {"flags": "+ilme+ildct"}


# The pixel formats re-encoded frames can have: the source's, where ffmpeg's overlay can lay a
# patch over it at that depth and chroma ({format: (overlay format, patch format)}; ffmpeg 5.1's
# overlay has no 10-bit 4:4:4 and no 12 bits).
OVERLAY_FORMATS = {"yuv420p": ("yuv420", "yuva420p"), "yuv420p10le": ("yuv420p10", "yuva420p10le"),
                   "yuv422p": ("yuv422", "yuva422p"), "yuv422p10le": ("yuv422p10", "yuva422p10le"),
                   "yuv444p": ("yuv444", "yuva444p")}
H264_PROFILES = {"baseline": "baseline", "main": "main", "high": "high", "high 10": "high10",
                 "high 4:2:2": "high422", "high 4:4:4 predictive": "high444"}


ENCODER_FORMATS = {name: tuple(OVERLAY_FORMATS) for name in ("libx264", "libx265", "libvpx-vp9")}
ENCODER_FORMATS.update({name: ("yuv420p", "yuv420p10le") for name in ("libsvtav1", "libaom-av1")})


def reencode_pix_fmt(info, formats=tuple(OVERLAY_FORMATS)):
    """The pixel format of re-encoded frames, among `formats` (what the encoder and the overlay
    take): the source's own where it can be kept (full-range `yuvj` formats as their `yuv` twin,
    the range is tagged), else the nearest that keeps its depth (10-bit 4:2:2, else 4:2:0, for a
    deeper source; 8-bit 4:2:0 for the rest)."""
    own = (info.pix_fmt or "yuv420p").replace("yuvj", "yuv")
    if own in formats:
        return own
    deep = [f for f in ("yuv422p10le", "yuv420p10le") if f in formats]
    return deep[0] if info.bit_depth > 8 and deep else "yuv420p"


def matched_settings(info, settings):
    """Encoder settings for GOPs that join the source's copied packets into one stream: the
    source stream's profile and level, no more frame reordering than the source has (the
    re-encoded packets take the source's dts), and parameter-set ids other
    than the source's, so the source's own SPS/PPS stay valid for the copied GOP after."""
    from dataclasses import replace

    extra = dict(settings.extra or {})
    profile = (info.profile or "").lower().replace("constrained ", "").replace(" intra", "")
    if profile in H264_PROFILES:
        extra["profile:v"] = H264_PROFILES[profile]
    if info.level and info.level > 0:
        extra["level"] = f"{info.level / 10:.1f}"
    delay = (info.index or packet_index(info.path)).reorder_delay()
    params = [f"sps-id={(source_sps_id(info) + 1) % 32}"]
    params += ["bframes=0"] if delay == 0 else ["b-pyramid=none"] if delay == 1 else []
    extra["x264-params"] = ":".join(params)
    return replace(settings, pix_fmt=reencode_pix_fmt(info), extra=extra)


def piece_settings(info, output, piece_ext):
    """EncodeSettings of a video's pieces (aivid.output.route.piece_format): matched to the source
    stream where they join its copied packets ("ts"), else the `output` config's (its encoder
    resolved for this source: aivid.output.route.video_encoder), with frames at the source's
    depth and chroma as far as the encoder takes them (reencode_pix_fmt)."""
    from dataclasses import replace

    from aivid.media.encode import EncodeSettings
    from aivid.output.route import output_for

    settings = EncodeSettings.from_config(output_for(info, output))
    if piece_ext == "ts":
        return matched_settings(info, settings)
    if not settings.lossless and settings.codec in ENCODER_FORMATS:
        return replace(settings, pix_fmt=reencode_pix_fmt(info, ENCODER_FORMATS[settings.codec]))
    return settings


def _source_frames(info, start, stop, settings):
    """The source's frames [start, stop) as an ffmpeg-python stream in stored orientation (not
    rotated for display: the output keeps the display matrix), at its range, in the pixel format
    the encoder gets; and the global args that reading needs."""
    stream, copyts = exact_stream(info, start, stop, autorotate=False)
    if settings.lossless:  # through RGB exactly as decoding does, so pixels match the decoded source
        return stream.filter("format", working_format(info)[0]), copyts
    if info.color_range == "pc":  # a full-range source stays full range (not squeezed to 16-235)
        stream = stream.filter("scale", in_range="pc", out_range="pc")
    return stream.filter("format", settings.pix_fmt), copyts


def _encode_args(info, settings, count):
    """ffmpeg output options for `count` re-encoded frames: the settings, the source's colour
    tags, its interlacing (lossy H.264/HEVC), its frames' own timing order."""
    tags, _ = _colour_args(info.to_dict(), settings.lossless)
    fields = field_args(info) if not settings.lossless and settings.codec in ("libx264", "libx265") else {}
    depth = {"pix_fmt": LOSSLESS_DEEP} if settings.lossless and working_format(info)[1] != np.uint8 else {}
    args = {**settings.video_args(), **depth, **fields, **tags, "fps_mode": "passthrough", "frames:v": count}
    return _with_hdr(info, settings, args)


HDR_PARAMS = {"libx264": ("x264-params", {"display": "mastering-display", "light": "cll"}),
              "libx265": ("x265-params", {"display": "master-display", "light": "max-cll"})}


def _with_hdr(info, settings, args):
    """`args` with the source's HDR10 static metadata (mastering display, content light level:
    aivid.media.probe.hdr_metadata) given to x264 / x265, so re-encoded frames carry it too."""
    from aivid.media.probe import hdr_metadata

    if settings.lossless or settings.codec not in HDR_PARAMS:
        return args
    key, names = HDR_PARAMS[settings.codec]
    found = hdr_metadata(info.path)
    params = [p for p in (args.get(key) or "").split(":") if p] + [f"{names[k]}={v}" for k, v in found.items()]
    return {**args, key: ":".join(params)} if params else args


LOSSLESS_DEEP = "gbrp16le"  # FFV1 of a source deeper than 8 bits: the 16-bit RGB frames aivid repairs, exactly


def transcode_segment(info, start, stop, out, settings):
    """Re-encode frames [start, stop) straight from the source with ffmpeg (nothing stored)."""
    require("ffmpeg")
    stream, copyts = _source_frames(info, start, stop, settings)
    with atomic_output(out) as tmp:
        args = stream.output(str(tmp), **_encode_args(info, settings, stop - start)).global_args(
            "-nostdin", "-v", "error", "-y", *copyts).compile()
        code, _, err = run_capture(args)
        if code != 0:
            raise AividError(info.path, f"re-encoding frames {start}-{stop} failed ({last_error_line(err)})")
    return out


def reencoded_span(info, seg_start, seg_stop, changed):
    """[a, b): the whole GOPs (safe cut point to safe cut point, aivid.media.probe.safe_cut_points)
    of a segment that its `changed` frames [first, last) (of the segment) fall in: what a
    repaired segment re-encodes."""
    first, last = changed
    index = info.index or packet_index(info.path)
    keys = [k for k in index.safe_keys if seg_start < k < seg_stop]
    a = max([seg_start] + [k for k in keys if k <= seg_start + first])
    b = min([seg_stop] + [k for k in keys if k >= seg_start + last])
    return a, b


def encode_repaired_gops(info, seg_start, seg_stop, store, out, settings, changed):
    """The piece of a repaired segment whose other GOPs are copied at the join: only the GOPs
    (safe cut to safe cut) that the `changed` frames [first, last) of the segment fall in are
    re-encoded, with the repair laid over (aivid.output.remux puts them in place)."""
    a, b = reencoded_span(info, seg_start, seg_stop, changed)
    log.info("frames %d-%d re-encoded, %d of the segment's %d frames stream-copied", a, b,
             seg_stop - seg_start - (b - a), seg_stop - seg_start)
    return encode_repaired(info, seg_start, a, b, store, out, settings)


def stored_box(info, box):
    """(x0, y0, x1, y1) of a box given in displayed pixels, in the stored frame's pixels, and
    the np.rot90 turns that take displayed pixels to stored ones."""
    turns = ((360 - info.rotation) % 360) // 90 if info.rotation in (90, 180, 270) else 0
    x0, y0, x1, y1 = box
    width, height = info.width, info.height  # displayed
    for _ in range(turns):  # np.rot90 once: (row, col) -> (W-1-col, row)
        x0, y0, x1, y1 = y0, width - x1, y1, width - x0
        width, height = height, width
    return (x0, y0, x1, y1), turns


def encode_repaired(info, seg_start, start, stop, store, out, settings):
    """Re-encode frames [start, stop) straight from the source with the repair box of `store` (a
    segment starting at frame `seg_start`) laid over them by ffmpeg: only the box travels through
    a pipe, no full frame is stored or converted to RGB and back (lossless output overlays in
    RGB, so untouched pixels stay exact).  The box is turned into the stored orientation of a
    rotated source, whose frames are encoded as stored."""
    from aivid.repair.blend import repair_patches

    require("ffmpeg")
    if settings.lossless and working_format(info)[1] != np.uint8:
        return _encode_repaired_deep(info, seg_start, start, stop, store, out, settings)
    first, last, y0, y1, x0, x1 = box_of(store)
    (sx0, sy0, sx1, sy1), turns = stored_box(info, (x0, y0, x1, y1))
    lo, hi = start - seg_start, stop - seg_start  # frames of the segment (and of `store`)
    fps = Fraction(info.fps)
    # both inputs on one frame clock, in one time base: frame n at n ticks of 1/fps exactly (a
    # pts of n/fps in the source's time base rounds, and the overlay then pairs a frame with the
    # patch before it; the output's timestamps are the source's anyway, set by the join)
    clock = f"{fps.denominator}/{fps.numerator}"
    main, copyts = _source_frames(info, start, stop, settings)
    patch = ffmpeg.input("pipe:", format="rawvideo", pix_fmt=working_format(info)[0], s=f"{sx1 - sx0}x{sy1 - sy0}",
                         framerate=f"{fps.numerator}/{fps.denominator}").video
    _, scale = _colour_args(info.to_dict(), settings.lossless)
    pix_fmt = "rgb24" if settings.lossless else settings.pix_fmt
    overlay_format, patch_format = ("rgb", None) if settings.lossless else OVERLAY_FORMATS[settings.pix_fmt]
    if not settings.lossless:
        # straight to the overlay's own input format (yuva420p, ...): an automatic conversion
        # there would squeeze a full-range patch to limited range
        patch = (patch.filter("scale", **scale) if scale else patch).filter("format", patch_format)
    patch = patch.filter("format", pix_fmt) if settings.lossless else patch
    video = main.filter("settb", clock).filter("setpts", "N").overlay(
        patch.filter("settb", clock).filter("setpts", "N"), x=sx0, y=sy0, eof_action="pass",
        format=overlay_format, enable=f"between(n,{first - lo},{last - 1 - lo})")
    patches = repair_patches(store, lo, hi)
    if turns:
        patches = (np.ascontiguousarray(np.rot90(block, turns, axes=(1, 2))) for block in patches)
    with atomic_output(out) as tmp:
        args = video.output(str(tmp), **_encode_args(info, settings, stop - start)).global_args(
            "-nostdin", "-v", "error", "-y", *copyts).compile()
        code, err, _ = feed_process(args, patches)
        if code != 0:
            raise AividError(info.path, f"re-encoding frames {start}-{stop} failed ({err})")
    return out


def _encode_repaired_deep(info, seg_start, start, stop, store, out, settings):
    """encode_repaired for lossless output of a source deeper than 8 bits: ffmpeg's overlay has
    no 16-bit RGB, so the source's frames are decoded to 16-bit RGB (as the repair saw them), the
    box pasted in, and the frames piped to FFV1 at 16 bits: every pixel exact, the repaired ones
    at full depth."""
    from aivid.repair.blend import repair_patches

    first, last, y0, y1, x0, x1 = box_of(store)
    (sx0, sy0, sx1, sy1), turns = stored_box(info, (x0, y0, x1, y1))
    lo, hi = start - seg_start, stop - seg_start
    block = LazyVideo.open(store).chunks[0]
    pix_fmt, _ = working_format(info)

    def pictures():
        decoded = iter_frame_blocks(info.path, start, stop, block, pix_fmt=pix_fmt, info=info, autorotate=False)
        for (t0, frames), patch in zip(decoded, repair_patches(store, lo, hi)):
            t = t0 - seg_start
            a, b = max(t, first), min(t + len(frames), last)
            if a < b:
                part = patch[a - t : b - t]
                part = np.rot90(part, turns, axes=(1, 2)) if turns else part
                frames[a - t : b - t, sy0:sy1, sx0:sx1] = part
            yield frames

    height, width = (info.width, info.height) if turns % 2 else (info.height, info.width)
    fps = Fraction(info.fps)
    video = ffmpeg.input("pipe:", format="rawvideo", pix_fmt=pix_fmt, s=f"{width}x{height}",
                         framerate=f"{fps.numerator}/{fps.denominator}").video
    with atomic_output(out) as tmp:
        args = video.output(str(tmp), **_encode_args(info, settings, stop - start)).global_args(
            "-nostdin", "-v", "error", "-y").compile()
        code, err, _ = feed_process(args, pictures())
        if code != 0:
            raise AividError(info.path, f"re-encoding frames {start}-{stop} failed ({err})")
    return out
