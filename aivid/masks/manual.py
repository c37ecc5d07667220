"""Mask sources (manual boxes, mask files) and building a segment's repair mask."""

import abc
from pathlib import Path

import cv2
import numpy as np

from aivid.media.decode import iter_frame_blocks
from aivid.errors import AividError
from aivid.media.probe import probe

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


class MaskSource(abc.ABC):
    """Where repair masks come from.  `blocks(start, stop)` yields (t0, bool (n, H, W)) blocks."""

    @abc.abstractmethod
    def blocks(self, start, stop, block=16):
        """Implemented by each subclass."""

    def may_touch(self, start, stop):
        """Whether frames [start, stop) can hold any mask (True unless a source knows better)."""
        return True

    #: what the user wrote that this source comes from (a file, a config key), for messages
    name = "mask"


class BoxRegions(MaskSource):
    """Rectangles [x, y, w, h], each over frames [start, stop) (default: every frame)."""

    def __init__(self, regions, width, height, frames, where="config", numbers=None):
        self.width, self.height, self.regions, self.name = width, height, [], f"{where}: regions"
        for i, region in zip(numbers or range(len(regions)), regions):
            if not region.get("box"):
                raise AividError(where, f"region {i}: needs a box (or `track: true` with points)")
            x, y, w, h = region["box"]
            a, b = region.get("frames") or (0, frames)
            if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
                raise AividError(where, f"region {i}: box {region['box']} lies outside the {width}x{height} frame")
            if not 0 <= a < b <= frames:
                raise AividError(where, f"region {i}: frames [{a}, {b}) outside the video's {frames} frames")
            if w * h >= width * height:
                raise AividError(where, f"region {i}: box covers the whole frame; nothing is left to fill from")
            self.regions.append((x, y, w, h, a, b))

    def may_touch(self, start, stop):
        return any(max(a, start) < min(b, stop) for *_, a, b in self.regions)

    def blocks(self, start, stop, block=16):
        for t0 in range(start, stop, block):
            n = min(block, stop - t0)
            out = np.zeros((n, self.height, self.width), bool)
            for x, y, w, h, a, b in self.regions:
                lo, hi = max(a, t0), min(b, t0 + n)
                if lo < hi:
                    out[lo - t0 : hi - t0, y : y + h, x : x + w] = True
            yield t0, out


class MaskFile(MaskSource):
    """A mask video, a single image for every frame, or a folder of per-frame images."""

    def __init__(self, path, width, height, frames, threshold):
        self.path, self.threshold, self.name = Path(path), threshold, str(path)
        self.size, self.frames = (width, height), frames
        if not self.path.exists():
            raise AividError(path, "mask not found")
        if self.path.is_dir():
            self.kind = "folder"
            self.images = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if len(self.images) != frames:
                raise AividError(path, f"mask folder has {len(self.images)} images, the video has {frames} frames")
            self._check_image(self.images[0])
        elif self.path.suffix.lower() in IMAGE_SUFFIXES:
            self.kind = "image"
            self.image = self._check_image(self.path)
            if self.image.all():
                raise AividError(path, "mask image covers the whole frame: nothing is left to fill from")
        else:
            self.kind = "video"
            info = probe(path)
            if (info.width, info.height) != self.size:
                raise AividError(path, f"mask video is {info.width}x{info.height}, the video is {width}x{height}")
            if info.frames != frames:
                raise AividError(path, f"mask video has {info.frames} frames, the video has {frames}")

    def _check_image(self, path):
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise AividError(path, "cannot read mask image")
        if image.shape[::-1] != self.size:
            raise AividError(path, f"mask image is {image.shape[1]}x{image.shape[0]}, the video is {self.size[0]}x{self.size[1]}")
        return image > self.threshold

    def blocks(self, start, stop, block=16):
        if self.kind == "image":
            for t0 in range(start, stop, block):
                yield t0, np.broadcast_to(self.image, (min(block, stop - t0),) + self.image.shape)
        elif self.kind == "folder":
            for t0 in range(start, stop, block):
                yield t0, np.stack([self._check_image(p) for p in self.images[t0 : min(stop, t0 + block)]])
        else:
            for t0, grey in iter_frame_blocks(self.path, start, stop, block=block, pix_fmt="gray"):
                yield t0, grey[..., 0] > self.threshold


class AutoMask(MaskSource):
    """Defects found by aivid's detectors (`aivid.masks.automatic`): specks, scratches, overlays.

    `options` is a checked `automask` section, `cut_threshold` the plan's `shot_threshold`."""

    def __init__(self, path, frames, options, cut_threshold):
        self.path, self.frames, self.options, self.cut_threshold = path, frames, options, cut_threshold
        self.name = f"automask of {path}"

    def _read(self, a, b, colour=True):
        for _, block in iter_frame_blocks(self.path, a, b, pix_fmt="rgb24" if colour else "gray"):
            yield from (frame.copy() if colour else frame[..., 0].copy() for frame in block)

    def blocks(self, start, stop, block=16):
        from aivid.masks.automatic import detect

        buffer = []
        for t, mask in detect(self._read, start, stop, self.frames, self.options, self.cut_threshold):
            buffer.append(mask)
            if len(buffer) == block or t == stop - 1:
                yield t + 1 - len(buffer), np.stack(buffer)
                buffer = []


class TrackedRegions(MaskSource):
    """Regions followed through their shots (aivid.masks.track): their prompts are checked when
    made; `stores` are the tracked masks (results/NAME/regions/R/mask.zarr, at the tracker's
    working size, scaled to the video's here) that a segment's mask reads."""

    def __init__(self, regions, width, height, frames, model, stores=(), where="config"):
        from aivid.masks.track import check_tracked

        self.width, self.height, self.name = width, height, f"{where}: tracked regions"
        for i, region in regions:
            check_tracked(region, i, width, height, frames, model, where)
        self.spans = [r.get("frames") for _, r in regions]
        self.stores = list(stores)

    def may_touch(self, start, stop):
        # without `frames`, a region's span is its shot, known once it is tracked
        return any(span is None or max(span[0], start) < min(span[1], stop) for span in self.spans)

    def blocks(self, start, stop, block=16):
        from aivid.masks.track import full_size
        from aivid.media.lazy import LazyVideo

        opened = [LazyVideo.open(path) for path in self.stores]
        for t0 in range(start, stop, block):
            n = min(block, stop - t0)
            out = np.zeros((n, self.height, self.width), bool)
            for store in opened:
                a, b = store.attrs["start"], store.attrs["stop"]
                lo, hi = max(a, t0), min(b, t0 + n)
                if lo < hi:
                    for t, mask in zip(range(lo, hi), store[lo - a : hi - a].numpy()[..., 0]):
                        out[t - t0] |= full_size(mask > 127, self.width, self.height)
            yield t0, out


def mask_sources(video_cfg, info, mask_threshold, cut_threshold, where="config", track_model="classical",
                 tracks=()):
    """The mask sources one video's checked configuration names (mask files cut at
    `mask_threshold`; automatic masks cut their shots at the plan's `cut_threshold`; tracked
    regions, checked for `track_model`, read the stores `tracks`)."""
    from aivid.masks.track import is_tracked

    sources = []
    automask = video_cfg["automask"]
    if automask["enabled"]:
        sources.append(AutoMask(info.path, info.frames, automask, cut_threshold))
    regions = list(enumerate(video_cfg.get("regions") or []))
    boxes = [(i, r) for i, r in regions if not is_tracked(r)]
    tracked = [(i, r) for i, r in regions if is_tracked(r)]
    if boxes:
        sources.append(BoxRegions([r for _, r in boxes], info.width, info.height, info.frames, where,
                                  [i for i, _ in boxes]))
    if tracked or tracks:
        sources.append(TrackedRegions(tracked, info.width, info.height, info.frames, track_model, tracks, where))
    if video_cfg.get("mask"):
        sources.append(MaskFile(video_cfg["mask"], info.width, info.height, info.frames, mask_threshold))
    return sources


def untouched_segments(sources, segments):
    """Indices of the segments no mask source can touch: known before any frame is read, so they
    need no mask, no plan — only a stream copy."""
    return [s["index"] for s in segments if not any(src.may_touch(s["start"], s["stop"]) for src in sources)]


def _dilate(block, pixels):
    if pixels <= 0:
        return block
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return np.stack([cv2.dilate(f.astype(np.uint8), kernel) > 0 for f in block])


def _masked_box(block, margin, chunks):
    """(y0, y1, x0, x1): the box of whole chunks around what `block` masks, `margin` pixels wider
    (None if nothing is masked)."""
    rows, cols = np.flatnonzero(block.any(axis=(0, 2))), np.flatnonzero(block.any(axis=(0, 1)))
    if not len(rows):
        return None
    from aivid.media.store import chunk_span

    (y0, y1), (x0, x1) = (chunk_span(first - margin, last + 1 + margin, chunk, limit)
                          for first, last, chunk, limit in ((rows[0], rows[-1], chunks[0], block.shape[1]),
                                                            (cols[0], cols[-1], chunks[1], block.shape[2])))
    return int(y0), int(y1), int(x0), int(x1)


def build_segment_mask(sources, start, stop, width, height, fps, out, dilate=0):
    """Write the union of `sources` over frames [start, stop), dilated, as a (T, H, W, 1) store.

    Only the chunks around masked pixels are dilated and written (the rest read as 0).
    Returns a summary: which frames have any mask, and the masked fraction.
    """
    from aivid.atomic import atomic_output
    from aivid.media.lazy import LazyVideo
    from aivid.media.store import ChunkWriter

    active, area = [], 0
    streams = [source.blocks(start, stop, block=16) for source in sources]
    with atomic_output(out) as tmp:
        store = LazyVideo.create(tmp, (stop - start, height, width, 1), fps, {"start": start, "stop": stop})
        writer = ChunkWriter(store.parts[0], tmp)
        for t0 in range(start, stop, 16):
            n = min(16, stop - t0)
            block = np.zeros((n, height, width), bool)
            for stream in streams:
                s0, part = next(stream)
                assert s0 == t0 and len(part) == n, (s0, t0, len(part), n)
                block |= part
            box = _masked_box(block, max(dilate, 0), store.chunks[1:3])
            if box is None:
                continue
            y0, y1, x0, x1 = box
            held = _dilate(block[:, y0:y1, x0:x1], dilate)
            if box == (0, height, 0, width) and held.all(axis=(1, 2)).any():
                first = t0 + int(np.flatnonzero(held.all(axis=(1, 2)))[0])
                names = " + ".join(source.name for source in sources)
                raise AividError(names, f"mask covers the whole frame at frame {first}: nothing is left to fill from")
            writer.write(t0 - start, (held * np.uint8(255))[..., None], y0, x0)
            active += [t0 + i for i in np.flatnonzero(held.any(axis=(1, 2)))]
            area += int(held.sum())
    return {"start": start, "stop": stop, "active_frames": [int(a) for a in active],
            "masked_fraction": area / max(1, (stop - start) * width * height)}
