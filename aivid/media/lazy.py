"""LazyVideo: an on-disk (T, H, W, C) video that slices like numpy and reads only what it touches."""

import operator
from fractions import Fraction
from pathlib import Path

import numpy as np
import zarr

from aivid.errors import AividError
from aivid.media.store import create_video_array


def _is_zarr(path):
    p = Path(path)
    return p.is_dir() and any((p / name).exists() for name in (".zarray", "zarr.json"))


def _normalise_key(key, ndim):
    key = key if isinstance(key, tuple) else (key,)
    if any(k is None for k in key):
        raise IndexError("LazyVideo does not support np.newaxis; materialise first")
    if sum(k is Ellipsis for k in key) > 1:
        raise IndexError("an index can only have a single ellipsis")
    if Ellipsis in key:
        at = key.index(Ellipsis)
        key = key[:at] + (slice(None),) * (ndim - len(key) + 1) + key[at + 1 :]
    if len(key) > ndim:
        raise IndexError(f"too many indices: video view has {ndim} dimensions")
    return key + (slice(None),) * (ndim - len(key))


def _apply(selector, key):
    """Index one axis selector (range or int array) with a numpy-style key."""
    if isinstance(key, slice):
        return selector[key]
    if isinstance(key, (int, np.integer)):
        return int(selector[operator.index(key)])
    arr = np.asarray(key)
    if arr.dtype == bool:
        arr = np.flatnonzero(arr)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise IndexError(f"unsupported index {key!r}: use ints, slices or 1-D integer arrays")
    return np.asarray(selector)[arr]


def _zarr_selector(selector):
    if isinstance(selector, int):
        return selector
    if isinstance(selector, range) and selector.step > 0:
        return slice(selector.start, selector.stop if len(selector) else selector.start, selector.step)
    return np.asarray(selector, dtype=np.int64)


class LazyVideo:
    """A lazy view of one or more Zarr video arrays laid end to end in time.

    `v[t0:t1, y0:y1, x0:x1]` returns another LazyVideo; `np.asarray(v)` / `v.numpy()` reads it;
    `v[...] = frames` writes through to disk.
    """

    def __init__(self, parts, selectors=None, fps=None, attrs=None):
        self.parts = list(parts)
        first = self.parts[0]
        for part in self.parts[1:]:
            if part.shape[1:] != first.shape[1:]:
                raise AividError(None, f"cannot join videos of frame shape {first.shape[1:]} and {part.shape[1:]}")
        self.offsets = np.cumsum([0] + [p.shape[0] for p in self.parts])
        base = (int(self.offsets[-1]),) + tuple(first.shape[1:])
        self.selectors = list(selectors) if selectors is not None else [range(n) for n in base]
        self.attrs = dict(attrs if attrs is not None else first.attrs.asdict())
        self.fps = Fraction(fps or self.attrs.get("fps") or "0/1")

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def open(cls, path, mode="r", cache=None):
        """Open a Zarr video store, or decode a video file into `cache` (a .zarr path) first."""
        if not _is_zarr(path):
            if not Path(path).exists():
                raise AividError(path, "no such file or Zarr store")
            from aivid.media.decode import decode_to_zarr

            if cache is None:
                raise AividError(path, "is a video file: pass cache='somewhere.zarr' to decode it lazily")
            if not _is_zarr(cache):
                decode_to_zarr(path, cache)
            path = cache
        return cls([zarr.open_array(str(path), mode=mode)])

    @classmethod
    def create(cls, path, shape, fps, attrs=None, chunks=None, compressor="default", dtype=np.uint8):
        """Create an empty writable video store (shape (T, H, W, C), uint8 or uint16) at `path`."""
        arr = create_video_array(path, tuple(shape), chunks, compressor, {"fps": str(Fraction(fps)), **(attrs or {})},
                                 dtype)
        return cls([arr])

    @classmethod
    def concat(cls, videos):
        """Join whole videos end to end into one virtual video (no data is copied)."""
        videos = list(videos)
        if not videos:
            raise ValueError("nothing to concatenate")
        if any(v.is_view for v in videos):
            raise ValueError("concatenate whole videos, then slice the result")
        return cls([p for v in videos for p in v.parts], fps=videos[0].fps, attrs=videos[0].attrs)

    # -- shape -------------------------------------------------------------------------------
    @property
    def is_view(self):
        base = (int(self.offsets[-1]),) + tuple(self.parts[0].shape[1:])
        return any(not (isinstance(s, range) and s == range(n)) for s, n in zip(self.selectors, base))

    @property
    def shape(self):
        return tuple(len(s) for s in self.selectors if not isinstance(s, int))

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def dtype(self):
        return np.dtype(self.parts[0].dtype)

    @property
    def chunks(self):
        return tuple(self.parts[0].chunks)

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        return f"LazyVideo(shape={self.shape}, fps={self.fps}, parts={len(self.parts)})"

    # -- indexing ----------------------------------------------------------------------------
    def __getitem__(self, key):
        key = iter(_normalise_key(key, self.ndim))
        selectors = [s if isinstance(s, int) else _apply(s, next(key)) for s in self.selectors]
        return LazyVideo(self.parts, selectors, self.fps, self.attrs)

    def __setitem__(self, key, value):
        view = self[key]
        value = np.broadcast_to(np.asarray(value, dtype=self.dtype), view.shape)
        for part, t_sel, positions in view._time_runs():
            sel = (_zarr_selector(t_sel),) + tuple(_zarr_selector(s) for s in view.selectors[1:])
            part.set_orthogonal_selection(sel, value[positions] if positions is not None else value)

    def _time_runs(self):
        """Split the time selector into (part, part-local selector, output positions) runs."""
        t = self.selectors[0]
        if len(self.parts) == 1:
            return [(self.parts[0], t, None)]
        idx = np.atleast_1d(np.asarray(t, dtype=np.int64))
        which = np.searchsorted(self.offsets, idx, side="right") - 1
        runs, start = [], 0
        for i in range(1, len(idx) + 1):
            if i == len(idx) or which[i] != which[start]:
                local = idx[start:i] - self.offsets[which[start]]
                local = int(local[0]) if isinstance(t, int) else local
                runs.append((self.parts[which[start]], local, None if isinstance(t, int) else slice(start, i)))
                start = i
        return runs

    # -- reading -----------------------------------------------------------------------------
    def numpy(self):
        """Read this view into memory as a numpy array."""
        rest = tuple(_zarr_selector(s) for s in self.selectors[1:])
        pieces = [part.get_orthogonal_selection((_zarr_selector(t),) + rest) for part, t, _ in self._time_runs()]
        if len(pieces) == 1:
            return np.asarray(pieces[0])
        return np.concatenate(pieces, axis=0) if pieces else np.empty(self.shape, self.dtype)

    def __array__(self, dtype=None, copy=None):
        data = self.numpy()
        return data.astype(dtype) if dtype is not None else data

    def torch(self, dtype=None, device="cpu"):
        """A (T, C, H, W) tensor; floating dtypes are scaled to [0, 1]."""
        import torch

        data = self.numpy()
        if data.ndim != 4:
            raise ValueError("torch() needs a (T, H, W, C) view")
        tensor = torch.from_numpy(np.ascontiguousarray(data)).permute(0, 3, 1, 2)
        dtype = dtype or torch.uint8
        if dtype.is_floating_point:
            return tensor.to(device=device, dtype=dtype) / 255.0
        return tensor.to(device=device, dtype=dtype)

    def iter_blocks(self, size=None):
        """Yield (offset, frames) blocks along time, aligned to the store's time chunks."""
        size = size or self.chunks[0]
        for t0 in range(0, len(self), size):
            yield t0, self[t0 : t0 + size].numpy()

    def __iter__(self):
        for _, block in self.iter_blocks():
            yield from block
