"""A repair that lasts across segment boundaries is one stretch: the window after each boundary
starts before it, is given the window before's result for the frames they share, and the blend
cross-fades them; the seam figure says how the fill runs on at every join."""

import hashlib
import json
import os
import re
import signal

import numpy as np
import pytest
import yaml
from conftest import DILATE, FEATHER, TINY, ffmpeg, ffmpeg_rgb, snakemake
from test_faults import done_outputs, executed, leftovers, start, wait_for

BOX, FRAMES = [120, 60, 60, 45], [4, 71]  # x, y, w, h; frames 4-70: across the boundaries at 25 and 50


@pytest.fixture(scope="session")
def pan(bunny, tmp_path_factory):
    """A camera pan over a real picture (Big Buck Bunny), 75 frames of 320x192 at 25 fps."""
    root = tmp_path_factory.mktemp("pan")
    ffmpeg("-ss", "2", "-i", bunny, "-frames:v", "1", root / "still.png")
    ffmpeg("-loop", "1", "-framerate", "25", "-i", root / "still.png", "-vf",
           "crop=320:192:'20+2*n':200,format=yuv420p", "-frames:v", "75", "-c:v", "libx264", "-g", "25",
           "-crf", "16", root / "pan.mp4")
    return root / "pan.mp4"


def pan_config(workdir, clip, **sections):
    config = {"videos": {"pan": {"path": str(clip), "regions": [{"box": BOX, "frames": FRAMES}]}},
              "mask": {"dilate": DILATE, "feather": FEATHER}, "segments": {"seconds": 1},
              "plan": {"window": 16, "overlap": 4, "context_frames": 4},
              "inpaint": {"backend": "classical"}, "output": {"lossless": True}}
    for key, value in sections.items():
        config.setdefault(key, {}).update(value)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="session")
def pan_run(pan, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("pan_run")
    pan_config(workdir, pan)
    snakemake(workdir)
    return workdir


def plans(results):
    return {int(p.parent.name[3:]): json.loads(p.read_text()) for p in results.glob("seg*/plan.json")}


def tile_attrs(results, seg, window, tile=0):
    return json.loads((results / f"seg{seg}" / "windows" / f"{window}.zarr" / f"tile{tile}" / ".zattrs").read_text())


def tile_result(results, seg, window, tile=0):
    from aivid.media.lazy import LazyVideo  # reading the stored array, as any Zarr reader would

    return LazyVideo.open(results / f"seg{seg}" / "windows" / f"{window}.zarr" / f"tile{tile}").numpy()


def boundary_pairs(results):
    """(segment, tail window, next segment, lead window) at every boundary a stretch crosses."""
    found, by_seg = [], plans(results)
    for seg, plan in sorted(by_seg.items()):
        if plan["continues"]["into_next"]:
            tail = next(w for w in plan["windows"] if w.get("tail"))
            lead = next(w for w in by_seg[seg + 1]["windows"] if w.get("lead"))
            found.append((seg, tail, seg + 1, lead))
    return found


def check_given_previous(results, overlap):
    """Each window after a boundary was given the window before's last `overlap` frames."""
    pairs = boundary_pairs(results)
    for seg, tail, nxt, lead in pairs:
        assert lead["frames"][0] == -overlap and lead["prev"] is None
        assert tail["frames"][1] == plans(results)[seg]["segment"]["stop"] - plans(results)[seg]["segment"]["start"]
        assert lead["tiles"] == tail["tiles"]  # the same tile on both sides
        attrs = tile_attrs(results, nxt, lead["id"])
        assert attrs["shared"] >= overlap and attrs["segment_start"] == plans(results)[nxt]["segment"]["start"]
        given = tile_result(results, seg, tail["id"])[-overlap:]  # the frames before the boundary
        assert attrs["shared_digest"] == hashlib.sha256(given.tobytes()).hexdigest()[:16]
    return pairs


def change_ratio(out, source, t):
    """The output's change from frame t-1 to t inside the box over the source's there."""
    x, y, w, h = BOX
    o, s = (v[t - 1 : t + 1, y : y + h, x : x + w].astype(np.int16) for v in (out, source))
    return np.abs(o[1] - o[0]).mean() / max(np.abs(s[1] - s[0]).mean(), 0.5)


def test_a_stretch_across_segments_is_conditioned_and_cross_faded(pan, pan_run):
    results = pan_run / "results" / "pan"
    pairs = check_given_previous(results, overlap=4)
    assert [(seg, nxt) for seg, _, nxt, _ in pairs] == [(0, 1), (1, 2)]
    source, out = ffmpeg_rgb(pan), ffmpeg_rgb(results / "output.mkv")
    reach = DILATE + FEATHER + 1
    far = np.ones(source.shape[:3], bool)
    x, y, w, h = BOX
    far[FRAMES[0] : FRAMES[1], y - reach : y + h + reach, x - reach : x + w + reach] = False
    assert np.array_equal(out[far], source[far])  # untouched pixels bit-identical
    # measured on the output itself: the fill changes across each boundary as it does around it
    for boundary in (25, 50):
        around = [change_ratio(out, source, t) for t in range(boundary - 8, boundary + 9) if t != boundary]
        assert change_ratio(out, source, boundary) <= 1.2 * np.median(around)
    # ... and the seam figure in the log and the report says so
    text = (pan_run / "logs" / "pan" / "report_pages.log").read_text()
    joins = re.findall(r"(window|segment) join, frames (\d+)-(\d+): .* ratio ([\d.]+)", text)
    segment_joins = [(int(a), int(b), float(r)) for kind, a, b, r in joins if kind == "segment"]
    assert [(a, b) for a, b, _ in segment_joins] == [(21, 25), (46, 50)]
    assert all(float(r) <= 1.2 for *_, r in joins), text  # every join, window joins too (issue 23's goal)
    assert "Seams" in (results / "report" / "index.html").read_text()


def test_kill_9_between_chained_windows_resumes_identically(pan, pan_run, tmp_path):
    pan_config(tmp_path, pan)
    results = tmp_path / "results" / "pan"
    proc = start(tmp_path)
    tail = results / "seg0" / "windows" / "s0w1.zarr"  # the window before the first boundary
    wait_for(lambda: tail.exists())
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {p: p.stat().st_mtime_ns for p in done_outputs(results, "seg*/windows/*.zarr")}
    rerun = snakemake(tmp_path)
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())
    assert executed(rerun.stderr)["inpaint"] == len(done_outputs(results, "seg*/windows/*.zarr")) - len(done)
    assert leftovers(tmp_path) == []
    assert np.array_equal(ffmpeg_rgb(results / "output.mkv"), ffmpeg_rgb(pan_run / "results" / "pan" / "output.mkv"))


def test_chained_vace_windows_continue_across_segments(tiny_model, pan, tmp_path):
    """The tiny VACE model through the windows' own code (plan, inpaint_window, blend), in this
    process: the window after a boundary is given the result of the one before it, unmasked, and
    the blend of the segment before cross-fades the two over their shared frames."""
    from aivid.media.decode import read_frames
    from aivid.media.lazy import LazyVideo
    from aivid.repair.backends.vace import VaceBackend
    from aivid.repair.blend import blend_segment
    from aivid.repair.inpaint import inpaint_window
    from aivid.repair.plan import plan_segment
    from aivid.repair.prompts import encode_prompts
    from aivid.workflow.config import section

    options = section("inpaint", {"backend": "vace", "model": str(tiny_model), **TINY})
    settings = {**section("plan"), "window": 16, "overlap": 4, "context_frames": 2, "margin": 8}
    rules = lambda _: (VaceBackend.size_multiple, None, VaceBackend.tile_size(options), VaceBackend.in_process)
    pictures = read_frames(pan, 0, 24, size=(96, 64))
    segments = []
    for first in (0, 12):  # two segments of 12 frames, masked throughout: one stretch
        frames = LazyVideo.create(tmp_path / f"frames{first}.zarr", (12, 64, 96, 3), 25, {"start": first})
        frames[:] = pictures[first : first + 12]
        mask = LazyVideo.create(tmp_path / f"mask{first}.zarr", (12, 64, 96, 1), 25)
        mask[:, 20:36, 30:54] = 255
        summary = {"start": first, "stop": first + 12, "active_frames": list(range(first, first + 12))}
        segments.append((tmp_path / f"frames{first}.zarr", tmp_path / f"mask{first}.zarr", summary))
    (fa, ma, sa), (fb, mb, sb) = segments
    tail = plan_segment(ma, sa, [], settings, rules, "vace", after=(mb, sb))["windows"][-1]
    lead = plan_segment(mb, sb, [], settings, rules, "vace", before=(ma, sa))["windows"][0]
    assert tail.get("tail") and lead.get("lead") and lead["frames"][0] == -4 and lead["tiles"] == tail["tiles"]
    prompt = tmp_path / "prompt.safetensors"
    encode_prompts({**options, "prompt": "clean background"}, prompt)
    inpaint_window(fa, ma, tail, tmp_path / "tail.zarr", options, prompt=prompt, start=0)
    inpaint_window(fb, mb, lead, tmp_path / "lead.zarr", options, previous=tmp_path / "tail.zarr", prompt=prompt,
                   start=12, before_mask=ma)
    attrs = json.loads((tmp_path / "lead.zarr" / "tile0" / ".zattrs").read_text())
    given = LazyVideo.open(tmp_path / "tail.zarr" / "tile0").numpy()
    assert attrs["shared"] == 4 and attrs["shared_digest"] == hashlib.sha256(given[-4:].tobytes()).hexdigest()[:16]
    results = {tail["id"]: tmp_path / "tail.zarr"}
    alone = blend_segment(fa, ma, [tail], results, tmp_path / "alone.zarr", FEATHER)
    faded = blend_segment(fa, ma, [tail], results, tmp_path / "faded.zarr", FEATHER, following=tmp_path / "lead.zarr")
    alone, faded = LazyVideo.open(alone).numpy(), LazyVideo.open(faded).numpy()
    assert np.array_equal(alone[:8], faded[:8])  # before the shared frames: this segment's window alone
    assert not np.array_equal(alone[8:], faded[8:])  # the shared frames: cross-faded with the next window


def test_the_blend_computes_only_what_its_tiles_reach_and_gets_the_whole_boxs_result(tmp_path):
    """The repair box is grown to whole store chunks (here 512x512 around tiles of about 60 px);
    the blend works only where its tiles and the feather reach, and writes exactly what blending
    the whole box gives (mask pixels at a tile's edge and outside it, whose feather reaches in:
    the distance transform must see them), every other pixel of the box the frame's own."""
    from aivid.media.lazy import LazyVideo
    from aivid.repair.blend import _blend_box, blend_segment, time_weights
    from aivid.repair.boxes import repair_box
    from aivid.repair.inpaint import tile_path

    rng = np.random.default_rng(0)
    frames = LazyVideo.create(tmp_path / "frames.zarr", (20, 600, 600, 3), 25, {"start": 0})
    frames[:] = rng.integers(0, 256, (20, 600, 600, 3), dtype=np.uint8)
    mask = LazyVideo.create(tmp_path / "mask.zarr", (20, 600, 600, 1), 25)
    held = np.zeros((20, 600, 600, 1), np.uint8)
    held[2:18, 230:270, 240:275] = 255  # across the chunk corner at (256, 256)
    held[2:18, 229, 250] = 255  # on the tile's top edge
    held[2:18, 226 - FEATHER, 285] = 255  # outside every tile, its feather reaching into one alone
    mask[:] = held
    windows = [{"id": "w0", "stretch": 0, "frames": [0, 12], "tiles": [[236, 229, 48, 48]]},
               {"id": "w1", "stretch": 0, "frames": [8, 20], "tiles": [[232, 226, 56, 56]]}]
    results = {}
    for w in windows:
        (_, _, tw, th), (a, b) = w["tiles"][0], w["frames"]
        results[w["id"]] = tmp_path / f"{w['id']}.zarr"
        tile = LazyVideo.create(tile_path(results[w["id"]], 0), (b - a, th, tw, 3), 25)
        tile[:] = rng.integers(0, 256, (b - a, th, tw, 3), dtype=np.uint8)
    out = LazyVideo.open(blend_segment(tmp_path / "frames.zarr", tmp_path / "mask.zarr", windows, results,
                                       tmp_path / "repaired.zarr", FEATHER))
    first, last, y0, y1, x0, x1 = box = repair_box(windows, FEATHER, frames.chunks, frames.shape)
    assert (y1 - y0, x1 - x0) == (512, 512) and out.attrs["repair_box"] == list(box)
    outputs = {(w["id"], 0): LazyVideo.open(tile_path(results[w["id"]], 0)) for w in windows}
    whole = _blend_box(frames[first:last, y0:y1, x0:x1].numpy(), held[first:last, y0:y1, x0:x1, 0] > 0, first,
                       windows, outputs, {w["id"]: time_weights(w, windows) for w in windows}, FEATHER, (x0, y0))
    got = out[first:last, y0:y1, x0:x1].numpy()
    assert np.array_equal(got, whole)
    changed = np.argwhere((got != frames[first:last, y0:y1, x0:x1].numpy()).any(axis=(0, 3)))
    assert changed.min(0).tolist() >= [226 - FEATHER - y0, 232 - FEATHER - x0]  # nothing outside the reach
