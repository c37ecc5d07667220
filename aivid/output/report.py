"""The repairs of one video as a page for `snakemake --report report.zip` (`htmlindex`).

For each repaired stretch: the part of the repair box it can change (its tiles and the feather:
aivid.repair.boxes.patch_part) before and after at native resolution, the whole frame with that part outlined, the
mask over the frame, and a short before|after clip of it; per
window the backend, seconds and the backend's own figures; per segment the route it took and why;
the config and the versions of what ran.  Everything comes from the stores the workflow already
has (decoded and blended repair boxes, masks, plans, window stores) and one source frame per
stretch; the video is never decoded again.
"""

import html
import json
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import cv2
import numpy as np

from aivid.atomic import atomic_output
from aivid.media.lazy import LazyVideo

WIDE = 960  # pixels: the widest whole-frame picture (boxes are shown at native resolution)
PACKAGES = ("aivid", "snakemake", "numpy", "zarr", "opencv-python-headless", "scipy", "torch", "diffusers")


def _png(path, rgb):
    ok, data = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    Path(path).write_bytes(data.tobytes())


def _even(block):
    """Pad (n, h, w, 3) to even sides (4:2:0 H.264, which browsers play)."""
    n, h, w, _ = block.shape
    return np.pad(block, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _versions():
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.splitlines()
    found["ffmpeg"] = ffmpeg[0].split(" ")[2] if ffmpeg else "?"
    return found


def _table(rows, head):
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{cells}</tr>{body}</table>"


def stretch_pictures(name, info, seg, plan, frames_store, repaired_store, mask_store, out, stretch):
    """Write the pictures and the clip of one stretch; return its HTML."""
    from aivid.media.decode import eight_bit, read_frames
    from aivid.media.encode import EncodeSettings, encode_frames
    from aivid.repair.boxes import patch_box, window_frames
    from aivid.repair.inpaint import tile_path

    windows = [w for w in plan["windows"] if w["stretch"] == stretch]
    a, b = window_frames(windows)
    mask = LazyVideo.open(mask_store)
    first, last, y0, y1, x0, x1 = patch_box(repaired_store)  # what the repair can change, not the chunk-grown box
    # every masked pixel is repaired, so lies in the tiles' reach: one read of it, not of whole frames
    areas = (mask[a:b, y0:y1, x0:x1, 0].numpy() > 0).sum(axis=(1, 2))
    t = a + int(np.argmax(areas))  # the frame with the most to repair
    before = eight_bit(LazyVideo.open(frames_store)[t, y0:y1, x0:x1].numpy())
    after = eight_bit(LazyVideo.open(repaired_store)[t, y0:y1, x0:x1].numpy())
    source = read_frames(info.path, seg["start"] + t, seg["start"] + t + 1, info=info)[0]
    whole = source.copy()
    whole[y0:y1, x0:x1] = after
    held = mask[t, :, :, 0].numpy() > 0
    overlay = source.copy()
    overlay[held] = (0.4 * overlay[held] + 0.6 * np.array([255, 0, 0])).astype(np.uint8)
    cv2.rectangle(whole, (x0, y0), (x1 - 1, y1 - 1), (255, 220, 0), 2)
    stem = f"seg{seg['index']}_s{stretch}"
    shrink = min(1.0, WIDE / whole.shape[1])  # whole frames at most as wide as the page shows them
    size = (round(whole.shape[1] * shrink), round(whole.shape[0] * shrink))
    whole, overlay = (cv2.resize(i, size, interpolation=cv2.INTER_AREA) if shrink < 1 else i for i in (whole, overlay))
    for part, image in (("before", before), ("after", after), ("frame", whole), ("mask", overlay)):
        _png(out / f"{stem}_{part}.png", image)
    lo, hi = max(a, first), min(b, last)
    pair = eight_bit(np.concatenate([LazyVideo.open(frames_store)[lo:hi, y0:y1, x0:x1].numpy(),
                                  LazyVideo.open(repaired_store)[lo:hi, y0:y1, x0:x1].numpy()], axis=2))
    pair = _even(pair)
    encode_frames(pair, out / f"{stem}.mp4", pair.shape[2], pair.shape[1], info.fps,
                  EncodeSettings.from_config({"crf": 18, "preset": "ultrafast"}))
    frame_no = seg["start"] + t
    rows = []
    for w in windows:
        for i, tile in enumerate(w["tiles"]):
            attrs = LazyVideo.open(tile_path(Path(repaired_store).parent / "windows" / f"{w['id']}.zarr", i)).attrs
            stats = attrs.get("stats", {})
            figures = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in stats.items())
            rows.append([w["id"], f"{seg['start'] + w['frames'][0]}-{seg['start'] + w['frames'][1]}",
                         f"{tile[2]}x{tile[3]} at ({tile[0]}, {tile[1]})", html.escape(w["backend"]),
                         html.escape(w.get("why", "configured")), f"{attrs.get('seconds', 0):.1f}",
                         html.escape(figures)])
    return (f"<h3>Segment {seg['index']}, frames {seg['start'] + a}-{seg['start'] + b}</h3>"
            f"<p>Frame {frame_no} (the most masked of the stretch), the repair's reach {x1 - x0}x{y1 - y0} at ({x0}, {y0}).</p>"
            f"<figure><img src='{stem}_before.png' alt='before'><figcaption>before</figcaption></figure>"
            f"<figure><img src='{stem}_after.png' alt='after'><figcaption>after</figcaption></figure>"
            f"<figure><img class='wide' src='{stem}_frame.png' alt='frame'><figcaption>frame {frame_no}, "
            f"repaired, box outlined</figcaption></figure>"
            f"<figure><img class='wide' src='{stem}_mask.png' alt='mask'><figcaption>the mask (red)</figcaption></figure>"
            f"<figure><video src='{stem}.mp4' controls muted preload='auto'></video><figcaption>before | after, "
            f"frames {seg['start'] + lo}-{seg['start'] + hi}</figcaption></figure>"
            + _table(rows, ["window", "frames", "tile", "backend", "why", "seconds", "figures"]))


def write_report(name, info, segments, routes, stores, settings, out, seams=(), tracks=()):
    """The page of one video: `routes` {segment: (route, why)}, `stores` {segment: (plan, frames,
    repaired, mask)} for the repaired segments, `settings` the stage settings it ran with, `seams`
    the joins of its repairs (aivid.repair.seams.seam_figures), `tracks` (region, track.json) of
    its tracked regions."""
    with atomic_output(out) as tmp:
        tmp.mkdir()
        parts = [f"<h1>{html.escape(name)}: repairs</h1>",
                 f"<p>{html.escape(info.path)}: {info.width}x{info.height}, {info.frames} frames at {info.fps} fps, "
                 f"{html.escape(str(info.codec))}.</p>", "<h2>Segments</h2>",
                 _table([[s["index"], f"{s['start']}-{s['stop']}", html.escape(routes[str(s["index"])][0]),
                          html.escape(routes[str(s["index"])][1])] for s in segments],
                        ["segment", "frames", "path", "why"])]
        if tracks:
            parts += ["<h2>Tracked regions</h2>", "<p>Each tracked region's object, followed from its prompt frame to "
                      "the shot's cuts (or its given frames); a frame without the object has no mask.</p>",
                      _table([[html.escape(region), f"{t['start']}-{t['stop']}", t["frame"], html.escape(t["tracker"]),
                               "x".join(map(str, t["working_size"])), t["empty_frames"], f"{100 * t['mean_area']:.2f} %",
                               f"{t['seconds']:.1f}"] for region, t in tracks],
                             ["region", "frames", "prompt frame", "tracker", "worked at", "frames without the object",
                              "mean area", "seconds"])]
        parts.append("<h2>Repairs</h2>")
        if not stores:
            parts.append("<p>Nothing was repaired.</p>")
        for seg in segments:
            if str(seg["index"]) not in stores:
                continue
            plan, frames, repaired, mask = stores[str(seg["index"])]
            for stretch in sorted({w["stretch"] for w in plan["windows"]}):
                parts.append(stretch_pictures(name, info, seg, plan, frames, repaired, mask, tmp, stretch))
        if seams:
            parts += ["<h2>Seams</h2>", "<p>Where one window's result hands over to the next (inside a segment or "
                      "across a segment boundary): the frame-to-frame change of the masked pixels (over the source's "
                      "change there), the largest over the join's cross-faded frames, over its median inside the windows "
                      "beside it. About 1: the fill runs on smoothly; 2 and more: it jumps.</p>",
                      _table([[r["kind"], f"{r['frames'][0]}-{r['frames'][1]}", f"{r['change']:.2f}",
                               f"{r['inside']:.2f}", f"{r['ratio']:.2f}"] for r in seams],
                             ["join", "frames", "change", "inside windows", "ratio"])]
        parts += ["<h2>Versions</h2>", _table([[k, v] for k, v in _versions().items()], ["package", "version"]),
                  "<h2>Settings</h2>", f"<pre>{html.escape(json.dumps(settings, indent=1, sort_keys=True))}</pre>"]
        style = ("body{font-family:sans-serif;margin:2em}figure{display:inline-block;margin:0 1em 1em 0}"
                 "img{image-rendering:pixelated;max-width:100%}img.wide{max-width:48em}table{border-collapse:collapse}"
                 "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}")
        (tmp / "index.html").write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(name)}"
                                        f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>")
    return out
