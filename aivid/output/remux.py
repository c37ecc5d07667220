"""Writing the output file: every packet of every source stream copied as it is -- its bytes and
its timestamps -- except the video packets of the re-encoded spans, which are replaced by the
packets of the re-encoded pieces, stamped with the source frames' own timestamps.

So the container, the audio (PCM included), subtitles, data and attachments, the display matrix,
the tags, the chapters, VFR timing, edit lists and audio priming are the source's by construction,
and nothing is converted to a frame rate.  ffmpeg's concat demuxer cannot do this (it rebuilds
timestamps from durations), so the packets are muxed one by one through PyAV's libavformat.
"""

import bisect
import logging
from dataclasses import dataclass
from pathlib import Path

import av

from aivid.errors import AividError
from aivid.media.probe import packet_index

log = logging.getLogger("aivid")

# containers the whole-re-encode routes (H.264 or FFV1 video) may keep; others become Matroska
REENCODE_CONTAINERS = {"h264": ("mp4", "mov", "m4v", "mkv"), "hevc": ("mp4", "mov", "m4v", "mkv"),
                       "vp9": ("webm", "mkv", "mp4"), "av1": ("webm", "mkv", "mp4"), "ffv1": ("mkv",)}


@dataclass
class Span:
    """Frames [start, stop) of the source replaced by the re-encoded frames of the piece `path`
    (its frames from `offset` on: a piece may hold several spans, one after another, `held`
    frames in all; None: just this span's)."""

    start: int
    stop: int
    path: str
    offset: int = 0
    held: int | None = None


def output_container(info, video_codec=None):
    """(extension, reason) of the output file: the source's own container, or Matroska where it
    cannot hold `video_codec` (a whole re-encode to another codec; None: the source's codec,
    packets copied) -- `reason` says why, else None."""
    ext = Path(info.path).suffix.lower().lstrip(".") or "mkv"
    if video_codec is None:
        if _muxer(ext) is None:
            return "mkv", f"ffmpeg has no muxer for .{ext} files"
        return ext, None
    if ext in REENCODE_CONTAINERS.get(video_codec, ()):
        return ext, None
    return "mkv", f".{ext} files cannot hold the re-encoded {video_codec} video"


def _muxer(ext):
    try:
        return av.format.ContainerFormat(_FORMAT_OF.get(ext, ext), "w")
    except (ValueError, av.error.FFmpegError):
        return None


_FORMAT_OF = {"mkv": "matroska", "m2ts": "mpegts", "mts": "mpegts", "m2t": "mpegts", "m4v": "ipod", "ts": "mpegts",
              "mxf": "mxf", "webm": "webm", "avi": "avi", "mov": "mov", "mp4": "mp4"}


def _annexb_units(data):
    """The NAL units of an Annex B access unit (start codes removed)."""
    units, i, n = [], 0, len(data)
    starts = []
    while True:
        j = data.find(b"\x00\x00\x01", i)
        if j < 0:
            break
        starts.append(j + 3)
        i = j + 3
    for k, s in enumerate(starts):
        e = (starts[k + 1] - 3) if k + 1 < len(starts) else n
        unit = data[s:e]
        while unit.endswith(b"\x00") and k + 1 < len(starts):  # the zero byte of a 4-byte start code
            unit = unit[:-1]
        if unit:
            units.append(unit)
    return units


def _length_size(codec, extradata):
    """The NAL length size of length-prefixed (MP4-style) H.264/HEVC, or None for Annex B."""
    if not extradata or extradata[:3] in (b"\x00\x00\x01",) or extradata[:4] == b"\x00\x00\x00\x01":
        return None
    if codec == "h264" and extradata[0] == 1:
        return (extradata[4] & 3) + 1
    if codec == "hevc" and len(extradata) > 22:
        return (extradata[21] & 3) + 1
    return None


_AUD = {"h264": lambda u: u[0] & 0x1F == 9, "hevc": lambda u: (u[0] >> 1) & 0x3F == 35}


def to_stream_format(data, codec, length_size):
    """Re-encoded Annex B access unit `data` in the source stream's format: length-prefixed NAL
    units when the source's are (access unit delimiters dropped), else as it is."""
    if length_size is None or codec not in _AUD:
        return data
    out = bytearray()
    for unit in _annexb_units(bytes(data)):
        if not _AUD[codec](unit):
            out += len(unit).to_bytes(length_size, "big") + unit
    return bytes(out)


HEVC_PARAMETER_SETS = (32, 33, 34)  # VPS, SPS, PPS


def parameter_sets(codec, extradata, length_size):
    """The source's HEVC VPS/SPS/PPS (from its hvcC or Annex B extradata) in the stream's NAL
    framing: sent again before the first copied GOP after a re-encoded span, whose own
    parameter sets (x265 gives them the same ids) replaced them in the decoder (b"" for other
    codecs, whose re-encoded parameter sets take other ids)."""
    if codec != "hevc" or not extradata:
        return b""
    if extradata[:3] == b"\x00\x00\x01" or extradata[:4] == b"\x00\x00\x00\x01":
        units = _annexb_units(extradata)
    else:
        units, at = [], 23  # hvcC: 22 bytes of configuration, then numOfArrays
        for _ in range(extradata[22] if len(extradata) > 22 else 0):
            count = int.from_bytes(extradata[at + 1: at + 3], "big")
            at += 3
            for _ in range(count):
                size = int.from_bytes(extradata[at: at + 2], "big")
                units.append(extradata[at + 2: at + 2 + size])
                at += 2 + size
    units = [u for u in units if u and (u[0] >> 1) & 0x3F in HEVC_PARAMETER_SETS]
    if length_size is None:
        return b"".join(b"\x00\x00\x00\x01" + u for u in units)
    return b"".join(len(u).to_bytes(length_size, "big") + u for u in units)


def _piece_packets(span, source_pts):
    """The video packets of one piece in decode order: (bytes, pts, key, presentation rank), the
    pts being the source's frame pts; AividError if the piece does not hold the span's frames."""
    with av.open(span.path) as piece:
        stream = piece.streams.video[0]
        rows = [(bytes(p), p.pts if p.pts is not None else p.dts, p.is_keyframe) for p in piece.demux(stream)
                if p.size]
        extradata = stream.codec_context.extradata
    count = span.stop - span.start
    held = span.held or count
    if len(rows) != held or any(ts is None for _, ts, _ in rows):
        what = f"frames {span.start}-{span.stop} of the source are {count}" if held == count else \
            f"its spans of the source's frames are {held}"
        raise AividError(span.path, f"holds {len(rows)} frames with timestamps, {what}")
    rows = rows[span.offset: span.offset + count]
    order = sorted(range(count), key=lambda i: rows[i][1])
    rank = {i: r for r, i in enumerate(order)}
    return [(data, source_pts[span.start + rank[i]], key, rank[i]) for i, (data, _, key) in enumerate(rows)], extradata


def _piece_delay(path):
    """How many frames a piece's decoder holds back (its reorder delay), from its packets' pts."""
    with av.open(str(path)) as piece:
        stamps = [p.pts for p in piece.demux(piece.streams.video[0]) if p.size]
    rank = {ts: r for r, ts in enumerate(sorted(stamps))}
    return max([0] + [i - rank[ts] for i, ts in enumerate(stamps)])


def remux(info, spans, out, whole=False):
    """Write `out` (see _remux); an FFmpeg error while muxing is one line naming the source."""
    try:
        return _remux(info, spans, out, whole)
    except av.error.FFmpegError as exc:
        raise AividError(info.path, f"writing {Path(out).suffix} output failed ({exc})") from None


def _remux(info, spans, out, whole=False):
    """Write `out`: the source `info` with the frames of each Span replaced.

    Smart render (`whole` false): spans start and stop at safe cut points; the output video
    stream is the source's (its codec parameters), copied packets keep their bytes, pts and dts,
    and a span's packets take the dts of the source packets they replace, so DTS stays monotonic
    across every join.  The re-encoded packets carry their own parameter sets (other ids than the
    source's, see aivid.output.assemble.matched_settings), converted to the source's NAL framing.

    Whole re-encode (`whole` true): spans cover every frame; the video stream takes the pieces'
    codec parameters (which must agree) and dts follow the pieces' own reorder delay.
    Returns a list of (start, stop) of the spans, in frames.
    """
    index = info.index or packet_index(info.path)
    spans = sorted(spans, key=lambda s: s.start)
    if whole and (not spans or spans[0].start != 0 or spans[-1].stop != info.frames
                  or any(a.stop != b.start for a, b in zip(spans, spans[1:]))):
        raise AividError(info.path, "the re-encoded pieces do not cover the whole video")
    pts = index.pts
    starts = [pts[s.start] for s in spans]
    # the caller writes under a temporary name (aivid.atomic) and checks it before renaming
    with av.open(info.path) as src:
        video = src.streams[info.stream]
        with av.open(str(out), "w", format=_FORMAT_OF.get(Path(out).suffix.lower().lstrip("."))) as dst:
            dst.metadata.update(src.metadata)
            streams = {}
            muxer = dst.format.name
            for s in src.streams:
                if s.type == "data" and "timecode" in s.metadata and muxer in ("mov", "mp4", "ipod"):
                    continue  # a timecode track: the muxer writes it again from the video's timecode tag
                if whole and s.index == video.index:
                    with av.open(spans[0].path) as first:
                        template_stream = _stream_like(dst, first.streams.video[0])
                    if template_stream.codec_context is None and s.sample_aspect_ratio not in (None, 0, 1):
                        raise AividError(info.path, f"its pixel aspect {s.sample_aspect_ratio} cannot be kept on a "
                                                    f"re-encoded {template_stream.name} stream yet; set output.codec: libx264")
                    template_stream.time_base = video.time_base
                    _copy_stream_facts(s, template_stream)
                    _copy_colour(s, template_stream)
                    streams[s.index] = template_stream
                    continue
                try:
                    streams[s.index] = dst.add_stream_from_template(s)
                except (ValueError, av.error.FFmpegError) as exc:
                    raise AividError(info.path, f"stream {s.index} ({s.type}) cannot be copied into "
                                                f"{Path(out).suffix} ({exc})") from None
                streams[s.index].time_base = s.time_base
                _copy_stream_facts(s, streams[s.index])
                if s.index == video.index and Path(out).suffix.lower() == Path(info.path).suffix.lower():
                    _copy_codec_tag(s, streams[s.index])
            try:
                dst.set_chapters(src.chapters())
            except (AttributeError, ValueError, av.error.FFmpegError):
                pass
            length_size = None if whole else _length_size(info.codec, video.codec_context.extradata)
            resend = b"" if whole else parameter_sets(info.codec, video.codec_context.extradata, length_size)
            pending = False  # the source's parameter sets are due before the next copied packet
            out_video = streams[video.index]
            done, replaced_dts = set(), _replaced_dts(index, spans) if not whole else None
            delay = max(_piece_delay(sp.path) for sp in spans) if whole else 0
            first_extradata = None
            for packet in src.demux():
                if packet.stream.index not in streams or (packet.size == 0 and packet.pts is None):
                    continue
                if packet.stream.index != video.index:
                    packet.stream = streams[packet.stream.index]
                    dst.mux(packet)
                    continue
                ts = packet.pts if packet.pts is not None else packet.dts
                k = _span_of(spans, starts, pts, ts, packet.is_discard)
                if k is None:
                    if pending:
                        packet, pending = _with_prefix(packet, resend, video.time_base), False
                    packet.stream = out_video
                    dst.mux(packet)
                    continue
                if k in done:
                    continue
                done.add(k)
                packets, extradata = _piece_packets(spans[k], pts)
                if not whole and info.codec == "ffv1" and extradata != video.codec_context.extradata:
                    raise AividError(spans[k].path, "its FFV1 setup (extradata) differs from the source's: its frames "
                                                    "would not decode in the source's stream")
                if whole:
                    first_extradata = extradata if first_extradata is None else first_extradata
                    if extradata != first_extradata:
                        raise AividError(spans[k].path, "was encoded with other settings than the first piece")
                for i, (data, p_ts, key, rank) in enumerate(packets):
                    new = av.Packet(to_stream_format(data, info.codec, length_size))
                    new.stream = out_video
                    new.time_base = video.time_base
                    new.pts = p_ts
                    # the source frame's own duration (the next frame's pts minus its own): a muxer
                    # that knows no frame rate (a stream for muxing alone) would otherwise end an
                    # MP4 edit list at the last frame's start and hide it
                    g = spans[k].start + rank
                    new.duration = pts[g + 1] - pts[g] if g + 1 < len(pts) else _tick(pts[-2:])
                    if whole:
                        g = spans[k].start + i  # each piece decodes its own frames, closed
                        new.dts = pts[g - delay] if g >= delay else pts[0] - (delay - g) * _tick(pts)
                    else:
                        new.dts = replaced_dts[k][i]
                    if new.dts is not None and new.dts > new.pts:
                        raise AividError(info.path, f"frames {spans[k].start}-{spans[k].stop} were re-encoded with "
                                                    "more frame reordering than the source's stream allows")
                    new.is_keyframe = key
                    dst.mux(new)
                pending = bool(resend)
            missing = set(range(len(spans))) - done
            if missing:
                raise AividError(info.path, f"frames {spans[min(missing)].start}- were not found in the source's packets")
    return [(s.start, s.stop) for s in spans]


def _with_prefix(packet, prefix, time_base):
    """A copy of source video `packet` with `prefix` (parameter sets) before its bytes."""
    new = av.Packet(prefix + bytes(packet))
    new.time_base = time_base
    new.pts, new.dts, new.is_keyframe = packet.pts, packet.dts, packet.is_keyframe
    if packet.duration:
        new.duration = packet.duration
    return new


def _tick(pts):
    return max(1, pts[1] - pts[0]) if len(pts) > 1 else 1


def _stream_like(dst, template):
    """A new stream of `dst` for the packets of `template`'s stream: its codec parameters copied
    (PyAV looks the codec up by its decoder's name, and AV1's, libdav1d, has no encoder: then a
    stream for muxing alone, whose sequence header the muxer takes from the first packet)."""
    try:
        return dst.add_stream_from_template(template)
    except av.codec.codec.UnknownCodecError:
        return dst.add_mux_stream(template.codec_context.codec.canonical_name, width=template.width,
                                  height=template.height)


def _copy_stream_facts(src, dst):
    dst.metadata.update(src.metadata)
    if src.type == "video" and src.sample_aspect_ratio and dst.codec_context is not None \
            and not dst.codec_context.sample_aspect_ratio:
        # the container's own aspect (MOV's pasp: ProRes frames do not carry one), which a
        # template's codec parameters leave out
        dst.codec_context.sample_aspect_ratio = src.sample_aspect_ratio
    try:
        dst.disposition = src.disposition
    except (AttributeError, ValueError, TypeError):
        pass


def _copy_codec_tag(src, dst):
    """The source's codec tag on a stream copied into the same container: a template leaves it
    out and the muxer picks its default (MOV: `apch`, ProRes HQ, for a 4444 stream)."""
    try:
        dst.codec_context.codec_tag = src.codec_context.codec_tag
    except (AttributeError, ValueError, TypeError):
        pass


def _copy_colour(src, dst):
    """The source's colour description on a re-encoded stream: an encoder leaves out what is the
    default (limited range), the container then says nothing, and a player has to guess."""
    for name in ("color_range", "color_primaries", "color_trc", "colorspace"):
        value = getattr(src.codec_context, name, None)
        if value:
            try:
                setattr(dst.codec_context, name, value)
            except (AttributeError, ValueError, TypeError):
                pass


def _replaced_dts(index, spans):
    """The dts of the source packets each span replaces, in decode order (frames, not the packets
    an edit list hides): the span's re-encoded packets take them."""
    result = []
    for s in spans:
        lo, hi = index.pts[s.start], index.pts[s.stop] if s.stop < len(index.pts) else None
        dts = [d for p, d in zip(index.decode_pts, index.decode_dts) if p >= lo and (hi is None or p < hi)]
        if len(dts) != s.stop - s.start:
            raise AividError(s.path, f"frames {s.start}-{s.stop} are not one run of packets in the source "
                                     "(not cut at safe points)")
        result.append(dts)
    return result


def _span_of(spans, starts, pts, ts, discard):
    """The index of the span a source video packet (pts `ts`) belongs to, or None (copied).  The
    packets an edit list hides before the first frame belong to a span starting at frame 0."""
    if discard or ts is None or ts < pts[0]:
        return 0 if spans and spans[0].start == 0 else None
    k = bisect.bisect_right(starts, ts) - 1
    if k < 0:
        return None
    stop = spans[k].stop
    return k if stop >= len(pts) or ts < pts[stop] else None
