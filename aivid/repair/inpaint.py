"""Running one temporal window of one tile through a backend."""

import logging
import time

import numpy as np

from aivid.atomic import atomic_output
from aivid.repair.backends import get_backend
from aivid.media.lazy import LazyVideo

log = logging.getLogger("aivid")


def tile_path(window_store, index):
    return f"{window_store}/tile{index}"


def inpaint_window(frames_store, mask_store, window, out, options, previous=None, prompt=None):
    """Repair every tile of `window` ({"frames": [a, b], "tiles": [[x, y, w, h], ...]}).

    Each tile's (T, h, w, 3) result is stored as `out/tile{i}`.  With a chained backend,
    `previous` is the previous window's store, whose results condition this one; `prompt` a
    file of cached prompt embeddings (aivid.repair.prompts).
    """
    frames, mask = LazyVideo.open(frames_store), LazyVideo.open(mask_store)
    a, b = window["frames"]
    backend = get_backend(window["backend"], options)
    embeds = None
    if prompt:
        from aivid.repair.prompts import load_prompts

        embeds = load_prompts(prompt)
    with atomic_output(out) as tmp:
        tmp.mkdir()
        for i, (x, y, w, h) in enumerate(window["tiles"]):
            crop = frames[a:b, y : y + h, x : x + w].numpy()
            holes = mask[a:b, y : y + h, x : x + w, 0].numpy() > 0
            context = {"seed": options["seed"], "window": window, "tile": i,
                       "previous": _previous_tile(previous, window, i), "prompt_embeds": embeds}
            started = time.perf_counter()
            backend.stats = {}
            result = np.asarray(backend.inpaint(crop, holes, context), np.uint8)
            seconds = time.perf_counter() - started
            log.info("window %s tile %d: %d frames of %dx%d in %.1f s", window["id"], i, b - a, w, h, seconds)
            store = LazyVideo.create(tile_path(tmp, i), result.shape, frames.fps,
                                     {"window": window, "tile": i, "seconds": round(seconds, 2),
                                      "backend": window["backend"], "stats": backend.stats})
            store[:] = result
    return out


def _previous_tile(previous, window, index):
    """The previous window's result for the same tile box, if it had one."""
    if not previous:
        return None
    prev = LazyVideo.open(tile_path(previous, 0))
    boxes = prev.attrs["window"]["tiles"]
    tile = window["tiles"][index]
    if tile not in boxes:
        return None
    prev = LazyVideo.open(tile_path(previous, boxes.index(tile)))
    return {"frames": prev.attrs["window"]["frames"], "result": prev.numpy()}
