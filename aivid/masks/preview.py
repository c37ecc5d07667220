"""A contact sheet of frames with their repair mask overlaid, to check a mask before inpainting."""

import cv2
import numpy as np

from aivid.atomic import atomic_output
from aivid.media.decode import iter_frame_blocks
from aivid.errors import AividError
from aivid.media.probe import probe


def mask_areas(mask_path, frames):
    """Masked pixels per frame of a mask video (streamed)."""
    areas = np.zeros(frames, np.int64)
    for t0, block in iter_frame_blocks(mask_path, 0, frames, pix_fmt="gray"):
        areas[t0 : t0 + len(block)] = (block[..., 0] > 127).sum(axis=(1, 2))
    return areas


def pick_frames(areas, count):
    """The frames with the most mask area, then evenly spaced ones, in time order."""
    busiest = [int(t) for t in np.argsort(-areas, kind="stable")[: count // 2] if areas[t] > 0]
    spaced = np.linspace(0, len(areas) - 1, count).round().astype(int).tolist()
    picked = list(dict.fromkeys(busiest + spaced))[:count]
    return sorted(picked)


def _tile(frame, mask, width):
    overlay = frame.copy()
    overlay[mask] = (0.4 * overlay[mask] + 0.6 * np.array([255, 0, 0])).astype(np.uint8)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(overlay, contours, -1, (255, 40, 40), 1)
    height = round(frame.shape[0] * width / frame.shape[1])
    tile = cv2.resize(overlay, (width, height), interpolation=cv2.INTER_AREA)
    return tile


def contact_sheet(video, mask, out, count=12, width=320, columns=4):
    """Write a PNG grid of `count` frames of `video` with `mask` (white = repair) in red."""
    info, mask_info = probe(video), probe(mask)
    if (mask_info.width, mask_info.height, mask_info.frames) != (info.width, info.height, info.frames):
        raise AividError(mask, f"mask is {mask_info.width}x{mask_info.height}, {mask_info.frames} frames; "
                               f"the video is {info.width}x{info.height}, {info.frames} frames")
    tiles = []
    for t in pick_frames(mask_areas(mask, info.frames), count):
        frame = next(iter_frame_blocks(video, t, t + 1, info=info))[1][0].copy()
        m = next(iter_frame_blocks(mask, t, t + 1, pix_fmt="gray", info=mask_info))[1][0, ..., 0] > 127
        tile = _tile(frame, m, width)
        cv2.putText(tile, f"frame {t}", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1, cv2.LINE_AA)
        tiles.append(tile)
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i : i + columns], axis=1) for i in range(0, len(tiles), columns)]
    with atomic_output(out) as tmp:
        ok, data = cv2.imencode(".png", cv2.cvtColor(np.concatenate(rows), cv2.COLOR_RGB2BGR))
        with open(tmp, "wb") as f:
            f.write(data.tobytes())
    return out
