"""The output's self-check, part of every join: the output is accepted only if ffprobe and ffmpeg,
reading the file just written, find what the source promised.

- every frame is there, each at its source frame's presentation time (to one tick of the coarser
  time base), and the video's DTS increase;
- every copied video packet is byte-identical to the source's (packet hashes: nothing decoded);
- each re-encoded span, and the GOP after it, decode without an error message and match the
  source outside the repair box (a PSNR per span, logged, against MIN_PSNR).

A failure is an AividError naming the video and the frames; the caller then leaves no output.
"""

import json
import logging
from fractions import Fraction
from pathlib import Path

import cv2
import ffmpeg
import numpy as np

from aivid.errors import AividError
from aivid.media.decode import eight_bit, read_frame_ranges, read_frames
from aivid.media.encode import _colour_args
from aivid.media.ffmpeg_bin import last_error_line, require, run_capture
from aivid.media.probe import probe_with_index

log = logging.getLogger("aivid")

# Measured on the footage matrix (tests/footage.py; README, "The output's self-check"): the
# worst frame of a faithful re-encode at the default CRF sits at 41.8-43.7 dB (luma, against the
# source with the repair laid over), the same frames one frame early or late at 24.7-29.5 dB.
# A frame under MIN_PSNR that matches a neighbour better than its own source frame is
# misaligned; one under DAMAGED_PSNR is wrong whatever it matches (a high CRF on grainy footage
# may sit under MIN_PSNR without being either).
MIN_PSNR = 35.0
DAMAGED_PSNR = 25.0
# frames checked at each end of a piece of a whole re-encode (its joins), and of the copied GOP
# after a re-encoded span (a join that breaks it breaks its first pictures: its keyframe, the
# pictures decoded right after it)
JOIN_FRAMES = 6
AFTER_FRAMES = 8
# frames are compared at most this wide (area-scaled by ffmpeg, both sides alike): enough to tell
# a frame from its neighbour, and the comparison costs little next to decoding
CHECK_WIDTH = 480


def _packets(path, stream, hashes):
    """[(pts, dts, flags, hash, size)] of one stream's packets in file (decode) order."""
    require("ffprobe")
    entries = "packet=pts,dts,flags,size" + (",data_hash" if hashes else "")
    args = ["ffprobe", "-v", "error", "-select_streams", str(stream), "-show_entries", entries,
            "-of", "compact=p=0:nk=0"] + (["-show_data_hash", "adler32"] if hashes else []) + [str(path)]
    code, out, err = run_capture(args)
    if code != 0:
        raise AividError(path, f"cannot read its packets back ({last_error_line(err)})")
    rows = []
    for line in out.decode().splitlines():
        fields = dict(part.split("=", 1) for part in line.split("|") if "=" in part)
        number = [int(fields[k]) if fields.get(k, "N/A") not in ("N/A", "") else None for k in ("pts", "dts")]
        rows.append((*number, fields.get("flags", ""), fields.get("data_hash"), int(fields.get("size") or 0)))
    return rows


def _time_base(path, stream):
    code, out, _ = run_capture(["ffprobe", "-v", "error", "-select_streams", str(stream), "-show_entries",
                                "stream=time_base", "-of", "json", str(path)])
    streams = json.loads(out or b"{}").get("streams") or [{}]
    return Fraction(streams[0].get("time_base") or "1/90000")


class SourceCapture:
    """The source's frames [start, stop) of a re-encoded span, and the `after` frames the check
    compares after it (capture_after), as the self-check compares them (their luma, at the
    check's size), kept from the frames the piece's own encode decodes (its decoder reads on
    past the span for those, into the copied GOP after): the check then decodes only the
    output's side.  The frames come through the very chain the check's own reading takes
    (aivid.media.decode.raw_output), so they are the pixels a second decode of the source would
    give.  A rotated source is not captured (its pieces read frames as stored, the check as
    displayed): the check decodes the source there, as it does where no capture is."""

    def __init__(self, info, start, stop, folder):
        width, height, factor = _check_size(info)
        self.after = capture_after(info, stop)
        self.path, self.count = capture_path(folder, start, stop), stop - start + self.after
        self.size, self.shape = ((width, height) if factor > 1 else None), (height, width)

    @staticmethod
    def possible(info):
        return info.rotation == 0

    def output(self, stream):
        """The capture's ffmpeg output (stdout) of `stream`, the source's frames [start, stop + after)."""
        from aivid.media.decode import raw_output

        return raw_output(stream, self.count, "rgb24", self.size, target="pipe:1")

    def read(self, pipe):
        """Read the capture's frames from ffmpeg's stdout into `self.path` (renamed once all are
        there: a short read, the encode having failed, leaves none)."""
        _write_luma(pipe, self.path, self.count, self.shape, f"{self.path}: the encode ended before its frames")


def _write_luma(pipe, path, count, shape, short):
    """Read `count` RGB frames of `shape` (height, width) from `pipe` and write their luma to
    `path` (renamed into place once all are there); EOFError(`short`) where fewer come."""
    from aivid.atomic import atomic_output

    height, width = shape
    size = height * width * 3
    with atomic_output(path) as tmp, open(tmp, "wb") as out:
        for _ in range(count):
            data = pipe.read(size)
            if len(data) < size:
                raise EOFError(short)
            out.write(_luma(np.frombuffer(data, np.uint8).reshape(height, width, 3)).tobytes())


def capture_after(info, stop):
    """How many source frames after a span ending at `stop` its capture holds: those the check
    compares after it (AFTER_FRAMES) and the neighbour after them (_compare)."""
    return max(0, min(info.frames, stop + AFTER_FRAMES + 1) - stop)


def capture_path(folder, start, stop):
    """Where the piece of frames [start, stop) leaves its SourceCapture, in the segment's folder."""
    return Path(folder) / f"check.{start}-{stop}.luma"


# x264's reconstruction dump (`dump-yuv`): planar frames in display order, at the encoder's depth
RECON_FORMATS = {"yuv420p": "yuv420p", "yuvj420p": "yuv420p", "yuv422p": "yuv422p", "yuvj422p": "yuv422p",
                 "yuv444p": "yuv444p", "yuvj444p": "yuv444p", "yuv420p10le": "yuv420p10le",
                 "yuv422p10le": "yuv422p10le", "yuv444p10le": "yuv444p10le"}


RECON_BYTES = 2**30  # the largest dump a piece may write beside it (130 frames of 1080p 10-bit 4:2:0: 0.8 GB)


class EncoderRecon:
    """The re-encoded frames as a decoder will show them, without decoding them: x264 writes its
    own reconstruction of every frame it encodes (`dump-yuv`, bit-identical to what a decoder
    makes of its packets: H.264 decoding is exact), and the piece's job turns it into luma at the
    check's size through the very chain the check decodes by (aivid.media.decode.raw_output, with
    the piece's colour tags), then deletes the dump.  The join's check takes these frames for a
    re-encoded span only when the output's packets of the span are byte for byte the piece's and
    the output's first two frames of the span, decoded, equal the reconstruction's exactly (its
    parameter sets and tags are the piece's); else it decodes the span as before."""

    def __init__(self, info, start, stop, folder, settings):
        width, height, factor = _check_size(info)
        self.path, self.count = recon_path(folder, start, stop), stop - start
        self.size, self.shape = ((width, height) if factor > 1 else None), (height, width)
        self.raw = RECON_FORMATS[settings.pix_fmt]
        self.stored = (info.width, info.height)
        self.colour = _colour_args(info.to_dict(), False)[0]  # the tags the piece is encoded with
        # beside the piece, where the run's large files are (not /tmp, which may be small or in memory)
        self.dump = Path(folder) / f".recon.{start}-{stop}.yuv"

    @staticmethod
    def possible(info, settings, count):
        """Whether an encode of `count` frames can leave one: x264, stored as displayed, a planar
        format, and a dump (as large as the raw frames) of at most RECON_BYTES."""
        if info.rotation != 0 or settings.codec != "libx264" or settings.lossless or settings.pix_fmt not in RECON_FORMATS:
            return False
        planes = {"420": 1.5, "422": 2, "444": 3}[RECON_FORMATS[settings.pix_fmt][3:6]]
        depth = 2 if settings.pix_fmt.endswith("le") else 1
        return count * info.width * info.height * planes * depth <= RECON_BYTES

    def params(self):
        """The x264 option that writes the dump (escaped for ffmpeg's `x264-params` parser)."""
        escaped = "".join("\\" + c if c in "\\:='\"" else c for c in str(self.dump))
        return f"dump-yuv={escaped}"

    def reduce(self, piece):
        """Turn the dump of the encode that wrote `piece` into the luma frames the check compares
        (renamed into place once all are there), and delete the dump."""
        from aivid.media.decode import raw_output
        from aivid.media.encode import feed_process

        try:
            width, height = self.stored
            stream = ffmpeg.input(str(self.dump), format="rawvideo", pix_fmt=self.raw, s=f"{width}x{height}",
                                  framerate=25, **self.colour).video
            args = raw_output(stream, self.count, "rgb24", self.size, target="pipe:1").global_args(
                "-nostdin", "-v", "error").compile()
            _digest_path(self.path).write_text(_file_digest(piece))  # whose reconstruction this is
            code, err, _ = feed_process(args, (), reader=lambda pipe: _write_luma(
                pipe, self.path, self.count, self.shape, f"{self.dump}: fewer frames than encoded"))
            if code != 0:
                self.path.unlink(missing_ok=True)
                raise EOFError(err)
        except (EOFError, OSError) as exc:  # no reconstruction: the check decodes the span
            log.info("no encoder reconstruction of frames %s (%s): the self-check decodes them", self.path.name, exc)
        finally:
            self.discard()

    def discard(self):
        """Delete the dump: it is as large as the frames, uncompressed."""
        self.dump.unlink(missing_ok=True)


def recon_path(folder, start, stop):
    """Where the piece of frames [start, stop) leaves its EncoderRecon, in the segment's folder."""
    return Path(folder) / f"recon.{start}-{stop}.luma"


def check_files(folder, start, stop):
    """Every file the piece of frames [start, stop) leaves for the check (one left by an earlier
    run must not outlive a new piece)."""
    recon = recon_path(folder, start, stop)
    return [capture_path(folder, start, stop), recon, _digest_path(recon)]


def _digest_path(path):
    return Path(path).with_suffix(".sha1")


def _file_digest(path):
    import hashlib

    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha1").hexdigest()


def _recon(info, span, size):
    """The luma frames of span `span` its piece's encoder reconstructed, at `size` (as _captured)."""
    path = recon_path(Path(span.path).parent, span.start, span.stop)
    digest = _digest_path(path)
    if not digest.is_file() or digest.read_text() != _file_digest(span.path):
        return None  # none, or made by another encode than the piece's
    return _luma_frames(info, span, size, path)


def _packet_frames(info, rows, out_tb):
    """Per output packet (rows: _packets, file order): (its pts in the source's time base, the
    source frame shown then, or None), in whole numbers (round half to even, as round())."""
    a, b = out_tb.numerator * info.index.time_base.denominator, out_tb.denominator * info.index.time_base.numerator
    frame_of = {ts: i for i, ts in enumerate(info.index.pts)}
    found = []
    for pts, *_ in rows:
        q, r = divmod(pts * a, b)
        q += 1 if 2 * r > b or (2 * r == b and q % 2) else 0
        found.append((q, frame_of.get(q)))
    return found


def _packets_kept(info, rows, frames, span, length_size):
    """Whether the output's packets of `span` (rows: _packets with hashes, file order; frames:
    _packet_frames of them) are the piece's, byte for byte, in the same order (as
    aivid.output.remux wrote them)."""
    import av
    import zlib

    from aivid.output.remux import _piece_packets, to_stream_format

    got = [r[3] for r, (_, frame) in zip(rows, frames) if frame is not None and span.start <= frame < span.stop]
    try:
        packets, _ = _piece_packets(span, info.index.pts)
    except (AividError, av.error.FFmpegError):
        return False
    want = [f"adler32:{zlib.adler32(to_stream_format(data, info.codec, length_size)):08x}" for data, *_ in packets]
    return got == want


def _captured(info, span, size):
    """The luma frames of span `span` (aivid.output.remux.Span) and the capture_after frames
    after it its piece captured, at `size` (None: the source's own): (T, H, W) uint8, or None
    where there is no capture of that size."""
    return _luma_frames(info, span, size, capture_path(Path(span.path).parent, span.start, span.stop),
                        capture_after(info, span.stop))


def _luma_frames(info, span, size, path, after=0):
    """The (T, H, W) uint8 luma frames of `span` (and `after` more) at `size` in the file `path`,
    or None where it does not hold as many frames of that size."""
    width, height = size or (info.width, info.height)
    count = span.stop - span.start + after
    if not path.is_file() or path.stat().st_size != count * height * width:
        return None
    return np.fromfile(path, np.uint8).reshape(count, height, width)


def _anchored(info, span, captured, size):
    """Whether a capture holds the span's own frames: its first two against the source's frames
    `span.start` and the one after, decoded apart from aivid's reading (PyAV, from the keyframe's
    packet, OpenCV's scaling), each closer to its own than to the other.  The capture shares the
    piece's choice of frames, so this is what still tells a piece that re-encoded its neighbours
    (a seek one frame off).  None where those frames cannot be found so (then the check decodes
    the source); AividError where the capture is off."""
    import av

    if len(captured) < 2:
        return None
    wanted = {info.index.pts[span.start + k]: k for k in range(2)}
    found = {}
    with av.open(info.path) as container:
        stream = container.streams[info.stream]
        container.seek(min(wanted), stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.pts in wanted:
                found[wanted[frame.pts]] = frame.to_ndarray(format="rgb24")
            if len(found) == 2 or frame.pts is None or frame.pts > max(wanted):
                break
    if len(found) < 2:
        return None
    own = [_luma(cv2.resize(found[k], size, interpolation=cv2.INTER_AREA) if size else found[k])
           for k in range(2)]
    keep = np.ones(own[0].shape, bool)
    for k in range(2):
        mine, other = (_psnr(captured[k], own[j], keep) for j in (k, 1 - k))
        if other > mine + 1.0:
            raise AividError(info.path, f"self-check: the frames re-encoded from frame {span.start} are not the "
                                        f"source's (frame {span.start + k} matches source frame "
                                        f"{span.start + 1 - k} better); nothing was written")
    return True


def _in_span(spans, frame):
    return any(s.start <= frame < s.stop for s in spans)


def check_output(info, out, spans, whole, repairs=()):
    """Check `out` (the remuxed output of `info` with `spans` re-encoded; `whole`: every frame
    re-encoded).  Returns log lines (one per checked span); AividError on any failure.
    `repairs`: (segment start, repaired store) of each repaired segment: the frames expected are
    the source's with the store's repair box laid over, so the repair's place is checked too.
    The readings run side by side (each is mostly one ffmpeg or ffprobe process); a failure is
    reported in the order the checks are listed above."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        # the source's packet hashes were listed when it was probed (aivid.workflow.config.probe_cached)
        listed = None if whole or info.index is None else info.index.packet_rows()
        source_packets = None if whole or listed else pool.submit(_packets, info.path, info.stream, True)
        out_info = probe_with_index(out, hashes=not whole)[0]  # one listing of the output's packets
        rows = out_info.index.packet_rows(hashed=not whole)
        if rows is None:
            rows = [r for r in _packets(out, info.stream, hashes=not whole) if "D" not in r[2]]
        frames = _check_timing(info, out_info, out, rows)
        length_size, resent = _source_setup(info) if not whole else (None, b"")
        compares = []
        for s in spans:
            kept = not whole and _packets_kept(info, rows, frames, s, length_size)
            for lo, hi in _checked_ranges(info, s, whole):
                compares.append((lo, hi, pool.submit(_compare, info, out_info, lo, hi, repairs,
                                                     None if whole else s, kept)))
        if not whole:
            _check_copied(info, rows, frames, spans, resent, listed or source_packets.result())
        lines = []
        for lo, hi, compared in compares:
            value, how = compared.result()
            lines.append(f"self-check: frames {lo}-{hi} decode cleanly{how}, worst frame {value:.1f} dB "
                         "against the source with the repair laid over")
    return lines


def _check_timing(info, out_info, out, rows):
    """The frame count, every frame's pts and the DTS order of the output's video packets `rows`;
    returns their _packet_frames."""
    index = info.index
    name = info.path
    src_tb, out_tb = index.time_base, out_info.index.time_base
    if len(rows) != info.frames:
        raise AividError(name, f"self-check: the output has {len(rows)} video frames, the source {info.frames}; "
                               "nothing was written")
    tick = max(src_tb, out_tb)
    shown = sorted(r[0] * out_tb for r in rows if r[0] is not None)
    if len(shown) != info.frames:
        raise AividError(name, "self-check: output video packets without timestamps; nothing was written")
    offset = _container_offset(info, out_info, out, shown[0] - index.pts[0] * src_tb, tick)
    for i, (got, want) in enumerate(zip(shown, (ts * src_tb for ts in index.pts))):
        if abs(got - want - offset) > tick:
            raise AividError(name, f"self-check: frame {i} is shown at {float(got):.6f} s, the source's at "
                                   f"{float(want + offset):.6f} s; nothing was written")
    dts = [r[1] for r in rows if r[1] is not None]
    if any(b <= a for a, b in zip(dts, dts[1:])):
        at = next(i for i, (a, b) in enumerate(zip(dts, dts[1:])) if b <= a)
        raise AividError(name, f"self-check: the output's DTS do not increase at packet {at + 1}; "
                               "nothing was written")
    return _packet_frames(info, rows, out_tb)


def _container_offset(info, out_info, out, offset, tick):
    """The shift every timestamp may have: none in the source's own container; in another one
    (Matroska for a lossless or whole re-encode) the muxer may shift the whole file to start at
    zero (it cannot hold the negative times of AAC priming), then the audio must have moved by
    exactly as much (the A/V offset kept)."""
    if out_info.container == info.container or abs(offset) <= tick:
        return 0
    if info.audio:
        first = lambda path: min(r[0] for r in _packets(path, "a:0", hashes=False) if r[0] is not None)
        moved = first(out) * _time_base(out, "a:0") - first(info.path) * _time_base(info.path, "a:0")
        if abs(moved - offset) > max(tick, _time_base(out, "a:0")):
            raise AividError(info.path, f"self-check: the output's audio moved by {float(moved):.6f} s, its video by "
                                        f"{float(offset):.6f} s; nothing was written")
    return offset


def _source_setup(info):
    """(NAL length size, parameter sets) of the source's video, from its extradata: how the join
    frames re-encoded packets (aivid.output.remux.to_stream_format), and what it may send again
    before the first copied GOP after a re-encoded span (aivid.output.remux.parameter_sets: HEVC)."""
    import av

    from aivid.output.remux import _length_size, parameter_sets

    with av.open(info.path) as src:
        extradata = src.streams[info.stream].codec_context.extradata
    length_size = _length_size(info.codec, extradata)
    return length_size, parameter_sets(info.codec, extradata, length_size)


def _check_copied(info, rows, frames, spans, resent=b"", source_packets=None):
    """Every output packet outside the re-encoded spans is the source's packet of that frame
    (the first after a span: the source's, or `resent` then the source's, byte for byte).
    `source_packets`: the source's _packets with hashes, where they were read already."""
    source = {}
    for pts, _, flags, digest, size in source_packets or _packets(info.path, info.stream, hashes=True):
        if "D" not in flags and pts is not None:
            source[pts] = (digest, size)
    after = {s.stop for s in spans}
    for (_, _, _, digest, _), (src_pts, frame) in zip(rows, frames):
        if frame is None or _in_span(spans, frame):
            continue
        want, size = source.get(src_pts, (None, 0))
        if digest != want and not (resent and frame in after and digest == _prefixed_hash(resent, want, size)):
            raise AividError(info.path, f"self-check: the copied packet of frame {frame} differs from the "
                                        "source's; nothing was written")


def _prefixed_hash(prefix, digest, size):
    """ffprobe's adler32 of `prefix` followed by a packet of `size` bytes whose adler32 is
    `digest` ("adler32:hex"), without its bytes (zlib's adler32_combine)."""
    import zlib

    if not digest or not digest.startswith("adler32:"):
        return None
    base, first, second = 65521, zlib.adler32(prefix), int(digest.split(":")[1], 16)
    rem = size % base
    low = (first & 0xFFFF) + (second & 0xFFFF) + base - 1
    high = (rem * (first & 0xFFFF)) % base + (first >> 16) + (second >> 16) + base - rem
    low, high = low % base, high % base
    return f"adler32:{low | (high << 16):08x}"


def _checked_ranges(info, span, whole):
    """The frames decoded for one span: all of it and the GOP after (smart render), or its ends
    (a piece of a whole re-encode, whose joins are where a misalignment shows)."""
    if whole:
        n = min(JOIN_FRAMES, span.stop - span.start)
        ranges = [(span.start, span.start + n)]
        if span.stop - n > span.start + n:
            ranges.append((span.stop - n, span.stop))
        return ranges
    return [(span.start, min(info.frames, span.stop + AFTER_FRAMES))]


def _check_size(info):
    """(width, height, factor) frames are compared at: the displayed size divided by a whole factor."""
    factor = max(1, -(-info.width // CHECK_WIDTH))
    return info.width // factor, info.height // factor, factor


def _expected(info, lo, hi, repairs, size, factor, span=None):
    """The source's frames [lo, hi) (scaled to `size`, None: as they are) as luma, with each
    repaired store's box laid over (at full size), and a mask of the pixels to compare: at a
    reduced size a box's pixels are left out (its patch cannot be scaled exactly as ffmpeg scales
    a whole frame).  The frames of `span` its piece captured are taken from there; the others
    (the frames after it, or all where there is no capture) are decoded."""
    from aivid.media.lazy import LazyVideo
    from aivid.repair.boxes import patch_box

    captured = _captured(info, span, size) if span is not None and lo == span.start else None
    if captured is not None and _anchored(info, span, captured, size):
        have = captured[lo - span.start: hi - span.start]
        rest = read_frames(info.path, lo + len(have), hi, info=info, size=size) if lo + len(have) < hi else ()
        want = np.concatenate([have, np.stack([_luma(f) for f in rest])]) if len(rest) else have.copy()
    else:
        want = np.stack([_luma(f) for f in read_frames(info.path, lo, hi, info=info, size=size)])
    keep = np.ones(want.shape[:3], bool)
    for seg_start, store in repairs:
        first, last, y0, y1, x0, x1 = patch_box(store)
        a, b = max(seg_start + first, lo), min(seg_start + last, hi)
        if a >= b:
            continue
        if factor == 1:
            patch = eight_bit(LazyVideo.open(store)[a - seg_start: b - seg_start, y0:y1, x0:x1].numpy())
            want[a - lo: b - lo, y0:y1, x0:x1] = [_luma(f) for f in patch]
        else:
            keep[a - lo: b - lo, max(0, y0 // factor - 1): y1 // factor + 2, max(0, x0 // factor - 1): x1 // factor + 2] = False
    return want, keep


def _luma(rgb):
    """The uint8 luma of an RGB frame (BT.601 weights, as aivid.masks.automatic.luma)."""
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def _psnr(a, b, keep):
    """PSNR of two uint8 luma frames over the pixels `keep` (bool) holds."""
    count = int(np.count_nonzero(keep)) if not keep.all() else keep.size
    if count == 0:
        return 99.0
    mask = None if count == keep.size else keep.view(np.uint8)
    mse = cv2.norm(a, b, cv2.NORM_L2SQR, mask) / count
    return 99.0 if mse == 0 else min(99.0, 10 * np.log10(255.0 ** 2 / mse))


def _box_too_large(store):
    """Whether a repair box is too large a share of the frame to be left out of a comparison."""
    from aivid.media.lazy import LazyVideo
    from aivid.repair.boxes import patch_box

    _, _, y0, y1, x0, x1 = patch_box(store)
    _, height, width, _ = LazyVideo.open(store).shape
    return (y1 - y0) * (x1 - x0) > 0.25 * height * width


def _compare(info, out_info, lo, hi, repairs, span=None, kept=False):
    """(worst PSNR, how the re-encoded frames were read) of the output's frames [lo, hi) against
    what they should be (the source with the repairs laid over; the frames of re-encoded span
    `span` from its capture, where its piece left one); AividError if they do not decode cleanly
    or do not match.  `kept`: the output's packets of `span` are its piece's, byte for byte; then
    the span's frames after its first two are taken from the encoder's reconstruction
    (EncoderRecon) where the piece left one and those two decode to exactly its frames."""
    from concurrent.futures import ThreadPoolExecutor

    width, height, factor = _check_size(info)
    if factor > 1 and any(_box_too_large(store) for _, store in repairs):
        width, height, factor = info.width, info.height, 1  # a box too large to leave out: lay it over
    # and a neighbour each side; not the one before a keyframe: that one is the GOP before's, and
    # reading it would decode that whole GOP (the frames after show a misalignment there too)
    a, b = (lo if lo in set(info.index.keyframes) else max(0, lo - 1)), min(info.frames, hi + 1)
    size = (width, height) if factor > 1 else None
    recon = _recon(info, span, size) if kept and lo == span.start and span.stop - span.start > 2 else None
    def read(*ranges):  # the output's frames of each range, as luma
        return [np.stack([_luma(f) for f in frames]) for frames in read_frame_ranges(
            out_info.path, ranges, info=out_info, size=size, strict=True)]

    how = ""
    with ThreadPoolExecutor(2) as pool:  # the output and the source decode side by side
        expected = pool.submit(_expected, info, a, b, repairs, size, factor, span)
        try:
            got = None
            if recon is not None:  # the span's first two frames and those after it: one decode
                head, *tail = read((lo, lo + 2), *([(span.stop, hi)] if hi > span.stop else []))
                if np.array_equal(head, recon[:2]):
                    got, how = np.concatenate([head, recon[2:], *tail]), \
                        f" (frames {lo + 2}-{span.stop}: the encoder's reconstruction of the very packets written)"
            if got is None:
                got = read((lo, hi))[0]
        except AividError as exc:
            raise AividError(info.path, f"self-check: the output's frames {lo}-{hi} do not decode cleanly "
                                        f"({exc.problem}); nothing was written") from None
        want, keep = expected.result()
    # luma: chroma subsampling of a re-encode is not a fault
    worst, at = 99.0, lo
    for i in range(lo, hi):  # frame by frame: one misaligned frame must not hide in a GOP's mean
        own = _psnr(got[i - lo], want[i - a], keep[i - a])
        near = {j: _psnr(got[i - lo], want[j - a], keep[i - a] & keep[j - a]) for j in (i - 1, i + 1) if a <= j < b}
        best = max(near, key=near.get) if near else None
        worst, at = (own, i) if own < worst else (worst, at)
        misaligned = best is not None and own < MIN_PSNR and near[best] > own + 1.0
        if own < DAMAGED_PSNR or misaligned:
            why = (f"it matches source frame {best} better ({near[best]:.1f} dB) than its own ({own:.1f} dB)"
                   if misaligned else f"it matches its source frame at only {own:.1f} dB")
            raise AividError(info.path, f"self-check: the output's frame {i} is misaligned or damaged: {why}; "
                                        "nothing was written")
    return worst, how
