"""Frame-exact decoding through ffmpeg: as a stream of blocks, or into a Zarr store."""

import contextlib
import math
import subprocess
from fractions import Fraction

import ffmpeg
import numpy as np

from aivid.atomic import atomic_output
from aivid.errors import AividError
from aivid.media.ffmpeg_bin import StderrCollector, last_error_line, require
from aivid.media.probe import packet_index, probe
from aivid.media.store import FRAME_CHUNK, BackgroundWriter, ChunkWriter, create_video_array, default_chunks


PIXEL_FORMATS = {"rgb24": (3, np.uint8), "gray": (1, np.uint8), "rgb48le": (3, np.uint16), "gray16le": (1, np.uint16)}


def working_format(info):
    """(ffmpeg pixel format, numpy dtype) of the RGB frames aivid stores and repairs for a
    source: 8 bits a channel, or 16 where the source has more than 8 (10-bit HEVC, ProRes, ...),
    so a repair keeps the levels the camera recorded.  Masks stay 8-bit."""
    return ("rgb48le", np.uint16) if info.bit_depth > 8 else ("rgb24", np.uint8)


def eight_bit(frames):
    """Frames at 8 bits a channel: uint8 ones as they are, 16-bit ones rounded (65535 -> 255);
    where 8 bits are all that is needed or taken (flow, VACE, pictures, the self-check)."""
    frames = np.asarray(frames)
    return frames if frames.dtype == np.uint8 else np.rint(frames / 257.0).astype(np.uint8)


def _frame_range(info, start, stop):
    stop = info.frames if stop is None else min(int(stop), info.frames)
    start = int(start or 0)
    if start < 0 or start >= stop:
        raise AividError(info.path, f"empty frame range [{start}, {stop}) of a {info.frames}-frame video")
    return start, stop


def exact_input(info, start, stop=None):
    """How ffmpeg reads exactly frames [start, stop) of the source: (input options, trim, skip).

    Frames are selected by their own integer timestamps, never through a float time that can
    round to the neighbour: the demuxer jumps (a fast seek, a little early) to a keyframe from
    which every wanted frame decodes -- not one whose leading pictures are wanted, as an open
    GOP's or an HEVC CRA's are -- and the `trim` filter keeps the frames whose pts lie in
    [pts(start), pts(stop)), with -copyts so that pts stay the stream's own.  A source without
    usable timestamps is decoded from its start and `skip` frames are dropped by counting.
    Landing late cannot go unnoticed: trim then yields too few frames, and the reader fails.
    """
    index = info.index or packet_index(info.path)
    stop = len(index.pts) if stop is None else min(int(stop), len(index.pts))
    if not index.reliable:
        return {}, None, start
    trim = {}
    if start > 0:
        trim["start_pts"] = index.pts[start]
    if stop < len(index.pts):
        trim["end_pts"] = index.pts[stop]
    options = {}
    j = index.decode_start(start) if start > 0 else 0
    if j > 0:
        # at the keyframe's own pts, rounded up to the microsecond ffmpeg is given: the demuxer
        # lands on the last keyframe at or before it -- this one (an earlier time would land on
        # the keyframe before and cost a GOP of decoding; a later one cannot pass a frame by)
        seek = math.ceil((Fraction(index.decode_pts[j]) * index.time_base - Fraction(info.start_time)) * 10**6)
        if seek > 0:
            options = {"ss": f"{seek / 10**6:.6f}", "noaccurate_seek": None}
    return options, trim or None, 0


def exact_stream(info, start, stop=None, autorotate=True):
    """(ffmpeg-python video stream of exactly frames [start, stop), the global args it needs)."""
    options, trim, skip = exact_input(info, start, stop)
    stream = ffmpeg.input(info.path, **options, **({} if autorotate else {"noautorotate": None})).video
    if trim:
        stream = stream.filter("trim", **trim)
    if skip:  # no timestamps to select by: count
        stream = stream.filter("trim", start_frame=skip)
    return stream, (["-copyts"] if trim or options else [])


def raw_output(stream, count, pix_fmt, size=None, crop=None, target="pipe:"):
    """`count` frames of `stream` as raw `pix_fmt` frames to `target`, scaled to `size` (area)
    and cropped to `crop`: the one chain by which aivid reads frames (what decodes the same frames
    through it gets the same pixels: the self-check's capture, aivid.output.check)."""
    if size is not None:
        stream = stream.filter("scale", size[0], size[1], flags="area")
    if crop is not None:  # after the conversion, so the pixels equal those of whole frames
        stream = stream.filter("format", pix_fmt).filter("crop", crop[2], crop[3], crop[0], crop[1])
    return stream.output(target, format="rawvideo", pix_fmt=pix_fmt, fps_mode="passthrough", **{"frames:v": count})


def _ffmpeg_args(info, start, count, pix_fmt, size, crop=None, autorotate=True):
    stream, copyts = exact_stream(info, start, start + count, autorotate)
    out = raw_output(stream, count, pix_fmt, size, crop)
    return out.global_args("-nostdin", "-v", "error", *copyts).compile()


@contextlib.contextmanager
def _ffmpeg_process(args, path):
    require("ffmpeg")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    errors = StderrCollector(proc.stderr)
    try:
        yield proc, errors
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()


def iter_frame_blocks(path, start=0, stop=None, block=FRAME_CHUNK, pix_fmt="rgb24", size=None,
                      info=None, ring=4, crop=None, strict=False, autorotate=True):
    """Yield (first_frame, frames) blocks of decoded frames [start, stop), exactly.

    `size` (width, height) scales the frames; `crop` (x, y, width, height) keeps only that box.
    With `strict`, a single error message from the decoder fails the read (ffmpeg conceals
    damage and still exits 0); `autorotate=False` keeps a rotated source's frames as stored.

    Blocks are (n, H, W, C) views (uint8, or uint16 for the 16-bit formats of PIXEL_FORMATS)
    into a small ring of reused buffers: a block stays valid
    until `ring - 1` further blocks have been yielded.  Memory does not grow with video length.
    """
    info = info or probe(path)
    start, stop = _frame_range(info, start, stop)
    channels, dtype = PIXEL_FORMATS[pix_fmt]
    stored = (info.height, info.width) if not autorotate and info.rotation in (90, 270) else (info.width, info.height)
    width, height = crop[2:] if crop else size or stored
    args = _ffmpeg_args(info, start, stop - start, pix_fmt, size, crop, autorotate)
    buffers = [np.empty((block, height, width, channels), dtype) for _ in range(ring)]
    with _ffmpeg_process(args, path) as (proc, errors):
        done = 0
        while done < stop - start:
            buf = buffers[(done // block) % ring][: min(block, stop - start - done)]
            got = _read_frames(proc.stdout, buf)
            if got:
                yield start + done, buf[:got]
            done += got
            if got < len(buf):
                break
        _check_decoded(path, proc.wait(), errors, done, stop - start, f"{start}-{stop}", strict)


def _check_decoded(path, code, errors, got, count, where, strict):
    """AividError unless ffmpeg (exit `code`, stderr `errors`) gave all `count` frames of
    `where` -- and, `strict`, without one error message (ffmpeg conceals damage and exits 0)."""
    if code != 0 or got < count:
        why = last_error_line(errors.text()) if code != 0 else "file is truncated"
        raise AividError(path, f"decoded {got} of the {count} frames {where} ({why})")
    if strict and errors.text().strip():
        raise AividError(path, f"frames {where} decode with errors ({last_error_line(errors.text())})")


def _read_frames(stream, buf):
    for i in range(len(buf)):
        view = memoryview(buf[i]).cast("B")
        if stream.readinto(view) < len(view):
            return i
    return len(buf)


def read_frames(path, start=0, stop=None, pix_fmt="rgb24", info=None, size=None, strict=False):
    """Frames [start, stop) decoded into one (T, H, W, C) array held in memory (short clips,
    tests, evaluations, the output's self-check; iter_frame_blocks' blocks are reused buffers,
    not to be collected).  `size` and `strict` as for iter_frame_blocks."""
    info = info or probe(path)
    start, stop = _frame_range(info, start, stop)
    frames = None
    for t0, block in iter_frame_blocks(path, start, stop, pix_fmt=pix_fmt, info=info, size=size, strict=strict):
        frames = np.empty((stop - start, *block.shape[1:]), block.dtype) if frames is None else frames
        frames[t0 - start : t0 - start + len(block)] = block
    return frames


def read_frame_ranges(path, ranges, pix_fmt="rgb24", info=None, size=None, strict=False):
    """read_frames of each of `ranges` ([(start, stop), ...]), from one ffmpeg process: an input
    per range, each read exactly as exact_stream reads it, one after another (the concat
    filter), so a few frames here and there cost one start-up, not one each.  A source without
    usable timestamps (frames found by counting) is read range by range."""
    info = info or probe(path)
    ranges = [_frame_range(info, a, b) for a, b in ranges]
    index = info.index or packet_index(info.path)
    if len(ranges) < 2 or not index.reliable:
        return [read_frames(path, a, b, pix_fmt, info, size, strict) for a, b in ranges]
    streams, copyts = zip(*(exact_stream(info, a, b) for a, b in ranges))
    count = sum(b - a for a, b in ranges)
    args = raw_output(ffmpeg.concat(*streams, v=1, a=0), count, pix_fmt, size).global_args(
        "-nostdin", "-v", "error", *(["-copyts"] if any(copyts) else [])).compile()
    channels, dtype = PIXEL_FORMATS[pix_fmt]
    width, height = size or (info.width, info.height)
    frames = np.empty((count, height, width, channels), dtype)
    with _ffmpeg_process(args, path) as (proc, errors):
        got = _read_frames(proc.stdout, frames)
        _check_decoded(path, proc.wait(), errors, got, count, ", ".join(f"{a}-{b}" for a, b in ranges), strict)
    cuts = np.cumsum([b - a for a, b in ranges])[:-1]
    return np.split(frames, cuts)


def decode_to_zarr(path, out, start=0, stop=None, chunks=None, compressor="default"):
    """Decode frames [start, stop) of `path` into a new (T, H, W, 3) Zarr store at `out` (uint8,
    or uint16 for a source deeper than 8 bits: working_format)."""
    info = probe(path)
    pix_fmt, dtype = working_format(info)
    start, stop = _frame_range(info, start, stop)
    attrs = {"fps": info.fps, "source": info.to_dict(), "start": start, "stop": stop}
    with atomic_output(out) as tmp:
        arr = create_video_array(tmp, (stop - start, info.height, info.width, 3), chunks, compressor, attrs, dtype)
        writer = BackgroundWriter(ChunkWriter(arr, tmp))
        try:
            for t0, frames in iter_frame_blocks(path, start, stop, arr.chunks[0], pix_fmt=pix_fmt, info=info):
                writer.write(t0 - start, frames)
        finally:
            writer.close()
    return out


def decode_box_to_zarr(info, out, start, stop, box_for):
    """Decode into a new (T, H, W, 3) store for frames [start, stop) only the repair box that
    `box_for(chunks, shape)` gives (aivid.repair.boxes.repair_box): the chunks outside it are never
    written, so the store costs what the repairs reach, not what the frames weigh."""
    start, stop = _frame_range(info, start, stop)
    shape = (stop - start, info.height, info.width, 3)
    first, last, y0, y1, x0, x1 = box = box_for(default_chunks(shape), shape)
    attrs = {"fps": info.fps, "source": info.to_dict(), "start": start, "stop": stop, "repair_box": list(box)}
    pix_fmt, dtype = working_format(info)
    with atomic_output(out) as tmp:
        arr = create_video_array(tmp, shape, None, "default", attrs, dtype)
        writer = BackgroundWriter(ChunkWriter(arr, tmp))
        try:
            for t0, block in iter_frame_blocks(info.path, start + first, start + last, arr.chunks[0], pix_fmt=pix_fmt,
                                               info=info, crop=(x0, y0, x1 - x0, y1 - y0)):
                writer.write(t0 - start, block, y0, x0)  # the ring outlives the writer's queue
        finally:
            writer.close()
    return out
