"""Re-encoding the pieces of the output: the GOPs a repair reaches (laid over by ffmpeg), or whole
segments; aivid.output.remux puts them in place of the source's frames."""

import functools
import logging
import tempfile
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import ffmpeg
import numpy as np

from aivid.atomic import atomic_output
from aivid.repair.boxes import patch_box
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


# the source's ProRes profile (as ffprobe names it) -> prores_ks's number for it (a name such as
# "4444" would be read as a number there)
PRORES_PROFILES = {"proxy": 0, "lt": 1, "standard": 2, "hq": 3, "4444": 4, "4444 xq": 5, "4444xq": 5}
DNXHR_PROFILES = {"dnxhr lb": "dnxhr_lb", "dnxhr sq": "dnxhr_sq", "dnxhr hq": "dnxhr_hq", "dnxhr hqx": "dnxhr_hqx",
                  "dnxhr 444": "dnxhr_444"}
MJPEG_QUALITY = 2  # -q:v of re-encoded MJPEG frames (the source's quantisers are not known): near the best
# an intra-only source's pixel format (as its decoder gives it) -> what its encoder takes for it
# (ProRes 4444 decodes to 12 bits, prores_ks codes 10; MJPEG's full-range yuvj formats are tagged pc)
INTRA_FORMATS = {
    "prores": {"yuv422p10le": "yuv422p10le", "yuv444p10le": "yuv444p10le", "yuv444p12le": "yuv444p10le"},
    "dnxhd": {"yuv422p": "yuv422p", "yuv422p10le": "yuv422p10le", "yuv444p10le": "yuv444p10le"},
    "mjpeg": {f"{p}{c}p": f"yuv{c}p" for p in ("yuvj", "yuv") for c in ("420", "422", "444")},
    "ffv1": {f: f for f in OVERLAY_FORMATS},  # lossless: the overlay keeps every pixel outside the patch
}
# FFV1 version 3 keeps its setup in the stream's extradata, which re-encoded frames must share:
# the options tried, most usual first (archives: level 3, one frame a GOP, slice CRCs)
FFV1_TRIALS = [{"slices": n, "slicecrc": crc, "coder": coder, "context": context}
               for crc in (1, 0) for n in (24, 16, 4, 30, 12, 9, 6, 2) for coder in (1, 0, 2) for context in (0, 1)]


def intra_reason(info):
    """Why re-encoded frames of an intra-only source cannot match its stream (None: they can)."""
    profile = (info.profile or "").lower()
    if info.pix_fmt not in INTRA_FORMATS[info.codec]:
        return f"the source's pixel format {info.pix_fmt} is not matched yet" + (
            " (its alpha channel would be lost)" if (info.pix_fmt or "").startswith(("yuva", "gbrap")) else "")
    if info.codec == "prores" and profile not in PRORES_PROFILES:
        return f"the source's ProRes profile {info.profile} is not matched yet"
    if info.codec == "dnxhd" and profile not in DNXHR_PROFILES:
        return f"the source's {info.profile or 'DNxHD'} profile is not matched yet (DNxHR LB/SQ/HQ/HQX/444 are)"
    index = info.index or packet_index(info.path)
    if info.codec == "ffv1" and len(index.keyframes) != info.frames:
        return "FFV1 with GOPs (not every frame a keyframe: -g 1) is not matched yet"
    return None


@functools.lru_cache(maxsize=None)
def ffv1_options(path, stream, width, height, pix_fmt):
    """ffv1 encoder options whose frames decode with the source's own setup: level 1 where the
    source has no extradata (each keyframe carries its setup), else the level 3 options, among
    FFV1_TRIALS, whose one-frame encode has the source's extradata byte for byte."""
    import av

    with av.open(path) as src:
        wanted = src.streams[stream].codec_context.extradata
    if not wanted:
        return {"level": 1, "g": 1}
    require("ffmpeg")
    with tempfile.TemporaryDirectory() as tmp:
        for options in FFV1_TRIALS:
            trial = Path(tmp) / "trial.mkv"
            args = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", f"color=size={width}x{height}",
                    "-frames:v", "1", "-pix_fmt", pix_fmt, "-c:v", "ffv1", "-level", "3", "-g", "1",
                    *[str(x) for k, v in options.items() for x in (f"-{k}", v)], str(trial)]
            if run_capture(args)[0] != 0:
                continue
            with av.open(str(trial)) as made:
                if made.streams.video[0].codec_context.extradata == wanted:
                    return {"level": 3, "g": 1, **options}
    raise AividError(path, "its FFV1 setup (extradata) is not one ffmpeg's ffv1 encoder makes with the usual "
                           "options: its repaired frames cannot join its stream (set output.lossless: true)")


def matched_settings(info, settings):
    """Encoder settings for frames that join the source's copied packets into one stream.

    H.264: the source stream's profile and level, no more frame reordering than the source has
    (the re-encoded packets take the source's dts), and parameter-set ids other than the
    source's, so the source's own SPS/PPS stay valid for the copied GOP after.  HEVC: the same
    with x265 (_x265_params), whose parameter sets have the source's ids.  An intra-only
    codec (aivid.output.route.INTRA_CODECS): its own encoder and profile (ProRes, DNxHR), every
    frame decoded on its own."""
    from aivid.output.route import COPY_CODECS, INTRA_CODECS

    extra = dict(settings.extra or {})
    profile = (info.profile or "").lower()
    if info.codec in INTRA_CODECS:
        if info.codec == "prores":
            extra["profile:v"] = PRORES_PROFILES[profile]
        elif info.codec == "dnxhd":
            extra["profile:v"] = DNXHR_PROFILES[profile]
        elif info.codec == "ffv1":
            stored = (info.height, info.width) if info.rotation in (90, 270) else (info.width, info.height)
            extra.update(ffv1_options(info.path, info.stream, *stored, info.pix_fmt))
        else:
            extra["q:v"] = MJPEG_QUALITY
        return replace(settings, codec=COPY_CODECS[info.codec], pix_fmt=INTRA_FORMATS[info.codec][info.pix_fmt],
                       extra=extra)
    delay = (info.index or packet_index(info.path)).reorder_delay()
    if info.codec == "hevc":
        return replace(settings, pix_fmt=reencode_pix_fmt(info), extra={**extra, "x265-params": _x265_params(info, delay)})
    profile = profile.replace("constrained ", "").replace(" intra", "")
    if profile in H264_PROFILES:
        extra["profile:v"] = H264_PROFILES[profile]
    if info.level and info.level > 0:
        extra["level"] = f"{info.level / 10:.1f}"
    params = [f"sps-id={(source_sps_id(info) + 1) % 32}"]
    params += ["bframes=0"] if delay == 0 else ["b-pyramid=none"] if delay == 1 else []
    extra["x264-params"] = ":".join(params)
    return replace(settings, pix_fmt=reencode_pix_fmt(info), extra=extra)


def _x265_params(info, delay):
    """x265 options for HEVC GOPs that join the source's copied ones: the source's level, no
    more frame reordering than the source has, parameter sets in band (x265 cannot give them
    other ids than the source's: aivid.output.remux sends the source's again before the copied
    GOP after), no log."""
    params = ["repeat-headers=1", "log-level=error"]
    if info.level and info.level > 0:
        params.append(f"level-idc={info.level / 30:.1f}")  # ffprobe gives general_level_idc, 30 x the level
    params += ["bframes=0"] if delay == 0 else ["b-pyramid=0"] if delay == 1 else []
    return ":".join(params)


def piece_settings(info, output, piece_ext):
    """EncodeSettings of a video's pieces (aivid.output.route.piece_format): matched to the source
    stream where they join its copied packets (smart render), else the `output` config's (its encoder
    resolved for this source: aivid.output.route.video_encoder), with frames at the source's
    depth and chroma as far as the encoder takes them (reencode_pix_fmt)."""
    from aivid.media.encode import EncodeSettings
    from aivid.output.route import output_for, smart_render

    settings = EncodeSettings.from_config(output_for(info, output))
    if smart_render(piece_ext):
        return matched_settings(info, settings)
    if not settings.lossless and settings.codec in ENCODER_FORMATS:
        return replace(settings, pix_fmt=reencode_pix_fmt(info, ENCODER_FORMATS[settings.codec]))
    return settings


def _source_frames(info, start, stop, settings, stream=None):
    """The source's frames [start, stop) as an ffmpeg-python stream in stored orientation (not
    rotated for display: the output keeps the display matrix), at its range, in the pixel format
    the encoder gets; and the global args that reading needs (`stream`: those frames as read,
    exact_stream's, to take them from)."""
    stream, copyts = stream or exact_stream(info, start, stop, autorotate=False)
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
    return _with_params(args, key, [f"{names[k]}={v}" for k, v in found.items()]) if found else args


def _with_params(args, key, params):
    """`args` with `params` added to the ':'-separated encoder option `key` (x264-params, x265-params)."""
    return {**args, key: ":".join([p for p in (args.get(key) or "").split(":") if p] + list(params))}


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


def reencoded_spans(info, seg_start, seg_stop, plan):
    """[(a, b), ...]: the frames of a repaired segment (absolute numbers) that smart render
    re-encodes, every other frame's packet copied.  An intra-only source (every frame a safe
    cut): the runs of frames the repair changes (the segment's masked frames; the blend changes
    no other frame).  Otherwise the whole GOPs its windows reach (reencoded_span)."""
    from aivid.output.route import INTRA_CODECS
    from aivid.repair.boxes import window_frames

    if info.codec not in INTRA_CODECS:
        return [reencoded_span(info, seg_start, seg_stop, window_frames(plan["windows"]))]
    runs = []
    for frame in sorted(f for f in plan["segment"]["active_frames"] if seg_start <= f < seg_stop):
        if runs and runs[-1][1] == frame:
            runs[-1][1] = frame + 1
        else:
            runs.append([frame, frame + 1])
    return [tuple(run) for run in runs]


def encode_repaired_spans(info, seg_start, seg_stop, store, out, settings, spans):
    """The piece of a repaired segment whose other packets are copied at the join: the frames of
    `spans` (reencoded_spans) re-encoded with the repair laid over, one after another in one file
    (aivid.output.remux puts each span in place)."""
    import av

    from aivid.output.check import check_files

    count = sum(b - a for a, b in spans)
    log.info("frames %s re-encoded, %d of the segment's %d frames stream-copied",
             ", ".join(f"{a}-{b}" for a, b in spans), seg_stop - seg_start - count, seg_stop - seg_start)
    out = Path(out)
    for a, b in spans:  # what an earlier run left for the check must not outlive this piece
        for path in check_files(out.parent, a, b):
            path.unlink(missing_ok=True)
    if len(spans) == 1:
        return encode_repaired(info, seg_start, *spans[0], store, out, settings, capture=out.parent)
    parts = [out.with_name(f".part{k}.{out.name}") for k in range(len(spans))]
    try:
        for (a, b), part in zip(spans, parts):
            encode_repaired(info, seg_start, a, b, store, part, settings, capture=out.parent)
        with atomic_output(out) as tmp:
            try:
                _join_intra(parts, tmp, out.suffix.lstrip("."))
            except (ValueError, av.error.FFmpegError) as exc:
                raise AividError(info.path, f"joining the re-encoded frames {spans[0][0]}-{spans[-1][1]} failed "
                                            f"({exc})") from None
    finally:
        for part in parts:
            part.unlink(missing_ok=True)
    return out


def _join_intra(parts, out, container):
    """Write the video packets of `parts` (pieces of an intra-only codec, one encoder setup) one
    after another into `out`, each frame one tick of the first part's time base after the last."""
    import av

    with av.open(str(parts[0])) as first, av.open(str(out), "w", format=container) as dst:
        template = first.streams.video[0]
        stream = dst.add_stream_from_template(template)
        stream.time_base = template.time_base
        stream.codec_context.codec_tag = template.codec_context.codec_tag  # a template leaves it out
        frame = 0
        for part in parts:
            with av.open(str(part)) as src:
                video = src.streams.video[0]
                packets = [p for p in src.demux(video) if p.size]
                step = max(1, round(1 / (Fraction(video.average_rate) * video.time_base))) if video.average_rate else 1
                for packet in packets:
                    packet.stream = stream
                    packet.pts = packet.dts = frame * step
                    dst.mux(packet)
                    frame += 1


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


def encode_repaired(info, seg_start, start, stop, store, out, settings, capture=None):
    """Re-encode frames [start, stop) straight from the source with the repair box of `store` (a
    segment starting at frame `seg_start`) laid over them by ffmpeg: only the box travels through
    a pipe, no full frame is stored or converted to RGB and back (lossless output overlays in
    RGB, so untouched pixels stay exact).  The box is turned into the stored orientation of a
    rotated source, whose frames are encoded as stored.  `capture` (a folder): the source's
    frames, as decoded for this encode, are also kept there for the join's self-check
    (aivid.output.check.SourceCapture)."""
    from aivid.output.check import EncoderRecon, SourceCapture
    from aivid.repair.blend import repair_patches

    require("ffmpeg")
    if (settings.lossless and working_format(info)[1] != np.uint8) or \
            (not settings.lossless and settings.pix_fmt not in OVERLAY_FORMATS):
        return _encode_repaired_frames(info, seg_start, start, stop, store, out, settings)
    first, last, y0, y1, x0, x1 = patch_box(store)
    (sx0, sy0, sx1, sy1), turns = stored_box(info, (x0, y0, x1, y1))
    lo, hi = start - seg_start, stop - seg_start  # frames of the segment (and of `store`)
    fps = Fraction(info.fps)
    # both inputs on one frame clock, in one time base: frame n at n ticks of 1/fps exactly (a
    # pts of n/fps in the source's time base rounds, and the overlay then pairs a frame with the
    # patch before it; the output's timestamps are the source's anyway, set by the join)
    clock = f"{fps.denominator}/{fps.numerator}"
    seen, outputs = None, []
    if capture is not None and SourceCapture.possible(info):
        seen = SourceCapture(info, start, stop, capture)
        # the decoder reads on past the span for the capture's frames after it; the encode takes the span's
        read, copyts = exact_stream(info, start, stop + seen.after, autorotate=False)
        split = read.split()
        source = (split[0].filter("trim", end_frame=stop - start), copyts)
        outputs.append(seen.output(split[1]))
    else:
        source = exact_stream(info, start, stop, autorotate=False)
    recon = EncoderRecon(info, start, stop, capture, settings) if capture is not None and \
        EncoderRecon.possible(info, settings, stop - start) else None
    if recon is not None:
        settings = replace(settings, extra=_with_params(settings.extra or {}, "x264-params", [recon.params()]))
    main, copyts = _source_frames(info, start, stop, settings, source)
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
        encoded = video.output(str(tmp), **_encode_args(info, settings, stop - start))
        args = ffmpeg.merge_outputs(encoded, *outputs).global_args("-nostdin", "-v", "error", "-y", *copyts).compile()
        try:
            code, err, _ = feed_process(args, patches, reader=seen.read if seen else None)
            if code != 0:
                raise AividError(info.path, f"re-encoding frames {start}-{stop} failed ({err})")
            if recon is not None:
                recon.reduce(tmp)
        finally:
            if recon is not None:
                recon.discard()
    return out


def _encode_repaired_frames(info, seg_start, start, stop, store, out, settings):
    """encode_repaired where ffmpeg's overlay cannot lay the patch over: no 16-bit RGB (lossless
    output of a source deeper than 8 bits) and no 10-bit 4:4:4 (ProRes 4444, DNxHR 444).  The
    source's frames are decoded to RGB at the working depth (as the repair saw them), the box
    pasted in, and whole frames piped to the encoder: lossless FFV1 at 16 bits keeps every pixel
    exactly, the repaired ones at full depth; a lossy intra codec gets them converted back with
    the source's matrix and range (only the repaired frames of an intra source take this path)."""
    from aivid.repair.blend import repair_patches

    first, last, y0, y1, x0, x1 = patch_box(store)
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
    _, scale = _colour_args(info.to_dict(), settings.lossless)
    if scale:
        video = video.filter("scale", **scale)
    with atomic_output(out) as tmp:
        args = video.output(str(tmp), **_encode_args(info, settings, stop - start)).global_args(
            "-nostdin", "-v", "error", "-y").compile()
        code, err, _ = feed_process(args, pictures())
        if code != 0:
            raise AividError(info.path, f"re-encoding frames {start}-{stop} failed ({err})")
    return out
