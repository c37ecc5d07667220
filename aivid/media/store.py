"""Zarr stores for videos: the chosen chunking and codec, and a fast chunk writer.

Defaults come from measurements on a 2-core machine (see scripts/bench_io.py): zarr's own
`array[...] = block` path moved about 35 frames/s of 1080p RGB, while encoding each chunk with
its numcodecs compressor and writing the chunk file directly moved 80-220 frames/s.  Chunks of
8 frames x 256 x 256 pixels keep region-of-interest reads small.
"""

import ctypes
import ctypes.util
import queue
import threading
from pathlib import Path

import numcodecs
import numpy as np
import zarr

FRAME_CHUNK = 8
TILE = 256


def default_compressor():
    """Blosc-LZ4 level 1: the lightest codec that still saves space on real frames."""
    return numcodecs.Blosc(cname="lz4", clevel=1, shuffle=numcodecs.Blosc.NOSHUFFLE)


def default_chunks(shape):
    """Chunks of FRAME_CHUNK frames x TILE x TILE pixels x all channels."""
    _, h, w, c = shape
    return (FRAME_CHUNK, min(TILE, h) or 1, min(TILE, w) or 1, c)


def chunk_span(lo, hi, chunk, limit):
    """[lo, hi) grown outward to whole chunks of size `chunk`, inside [0, limit) (numbers or numpy
    arrays, per axis): the one rounding every store box uses."""
    lo = np.maximum(lo, 0) // chunk * chunk
    hi = np.minimum(-(-np.asarray(hi) // chunk) * chunk, limit)
    return lo, hi


def create_video_array(path, shape, chunks=None, compressor="default", attrs=None, dtype=np.uint8):
    """Create an on-disk (T, H, W, C) zarr (format 2) array at `path`: uint8, or uint16 for the
    frames of a source deeper than 8 bits (aivid.media.decode.working_format)."""
    chunks = chunks or default_chunks(shape)
    compressor = default_compressor() if compressor == "default" else compressor
    arr = zarr.create_array(
        str(path), shape=shape, chunks=chunks, dtype=np.dtype(dtype), compressors=compressor,
        zarr_format=2, fill_value=0, overwrite=True,
    )
    if attrs:
        arr.attrs.update(attrs)
    return arr


class ChunkWriter:
    """Write time-aligned blocks of frames into a local zarr v2 array, one chunk file at a time.

    The chunk files follow the zarr v2 spec (key "t.y.x.c", C order, padded edge chunks,
    compressed with the array's numcodecs compressor), so zarr reads them back as usual.
    """

    def __init__(self, array, root):
        meta = array.metadata
        self.array, self.root = array, Path(root)
        self.chunks, self.shape = tuple(meta.chunks), tuple(meta.shape)
        self.compressor, self.sep = meta.compressor, meta.dimension_separator or "."
        self.direct = meta.filters is None and meta.order == "C" and self.root.is_dir()

    def write(self, t0, block, y0=0, x0=0):
        """Write frames `block` starting at frame `t0` (a multiple of the time chunk), at pixel
        (y0, x0) (multiples of the chunk's height and width; default: whole frames)."""
        if not self.direct:
            self.array[t0 : t0 + len(block), y0 : y0 + block.shape[1], x0 : x0 + block.shape[2]] = block
            return
        ct, ch, cw, cc = self.chunks
        for ti in range(0, len(block), ct):
            part = block[ti : ti + ct]
            for y in range(0, part.shape[1], ch):
                for x in range(0, part.shape[2], cw):
                    key = self.key((t0 + ti) // ct, (y0 + y) // ch, (x0 + x) // cw)
                    self._write_chunk(key, part[:, y : y + ch, x : x + cw])

    def key(self, ti, yi, xi):
        return self.sep.join(map(str, (ti, yi, xi, 0)))

    def _write_chunk(self, key, data):
        full = self.chunks
        if data.shape != full:
            padded = np.zeros(full, data.dtype)
            padded[: data.shape[0], : data.shape[1], : data.shape[2]] = data
            data = padded
        data = np.ascontiguousarray(data)
        payload = self.compressor.encode(data) if self.compressor is not None else data.data
        with open(self.root / key, "wb") as fh:
            fh.write(payload)


def _malloc_trim():
    """Return freed heap memory to the OS (glibc), so long runs do not creep upwards."""
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class BackgroundWriter:
    """Run a ChunkWriter in a thread so decoding and writing overlap; errors re-raise on close."""

    def __init__(self, writer, depth=2):
        self.writer, self.queue, self.error = writer, queue.Queue(depth), None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        written = 0
        while (item := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self.writer.write(*item)
                except BaseException as exc:  # handed to the caller in close()
                    self.error = exc
            written += 1
            if written % 16 == 0:
                _malloc_trim()
            self.queue.task_done()

    def write(self, *item):
        """Queue ChunkWriter.write(*item)."""
        if self.error is not None:
            raise self.error
        self.queue.put(item)

    def close(self):
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
