"""Tracked regions: an object given by a box (or points) on one frame, followed through its shot.

The footage is made the way the world makes it: a textured object (a piece of real picture with
an irregular outline and a swinging arm) moving and growing over real street footage from a
panning camera, a hard cut to other footage, all through H.264; the object's exact mask is known
for every frame.  Results are checked against that truth with numpy and against the source with
ffmpeg's own decode.
"""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import REPO, ffmpeg, ffmpeg_rgb, snakemake

SIZE = (320, 136)  # width, height
SHOT, AFTER = 40, 16  # frames of the shot with the object, then of the next shot


def object_masks(frames=SHOT):
    """The object's true mask per frame: an ellipse body with an arm that swings, moving right
    and down and growing as it comes nearer."""
    masks = np.zeros((frames, SIZE[1], SIZE[0]), np.uint8)
    for t in range(frames):
        cx, cy, s = 70 + 4.0 * t, 50 + 0.8 * t, 1.0 + 0.012 * t
        cv2.ellipse(masks[t], (int(cx), int(cy)), (int(22 * s), int(30 * s)), 10, 0, 360, 1, -1)
        angle = np.deg2rad(-30 + 3 * t)
        tip = (int(cx + 38 * s * np.cos(angle)), int(cy + 38 * s * np.sin(angle)))
        cv2.line(masks[t], (int(cx), int(cy)), tip, 1, max(3, int(7 * s)))
    return masks.astype(bool)


@pytest.fixture(scope="session")
def tracked_clip(bikes, bunny, tmp_path_factory):
    """(clip.mp4, true masks of its first SHOT frames): the object over bikes, a cut, then bunny."""
    from aivid.media.decode import read_frames

    root = tmp_path_factory.mktemp("tracked")
    street = read_frames(bikes, 31, 31 + SHOT, size=SIZE)  # one shot: bikes cuts at 30 and 76
    other = read_frames(bunny, 40, 40 + AFTER, size=SIZE)
    texture = cv2.resize(read_frames(bunny, 100, 101)[0], (SIZE[0] * 2, SIZE[1] * 2), interpolation=cv2.INTER_AREA)
    truth = object_masks()
    frames = np.concatenate([street, other]).copy()
    for t in range(SHOT):  # the object carries its own texture along with it
        dx, dy = int(4 * t), int(0.8 * t)
        patch = texture[100 - dy : 100 - dy + SIZE[1], 200 - dx : 200 - dx + SIZE[0]]
        frames[t][truth[t]] = patch[truth[t]]
    raw = root / "clip.rgb"
    raw.write_bytes(frames.tobytes())
    ffmpeg("-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{SIZE[0]}x{SIZE[1]}", "-r", "25", "-i", raw,
           "-c:v", "libx264", "-crf", "18", "-g", "25", "-pix_fmt", "yuv420p", root / "clip.mp4")
    raw.unlink()
    return root / "clip.mp4", truth


def scores(mask, truth):
    area = truth.sum(axis=(1, 2))
    return (mask & truth).sum(axis=(1, 2)) / area, mask.sum(axis=(1, 2)) / area


def first_box(truth, n, pad=3):
    ys, xs = np.nonzero(truth[n])
    return [int(xs.min()) - pad, int(ys.min()) - pad, int(np.ptp(xs)) + 1 + 2 * pad, int(np.ptp(ys)) + 1 + 2 * pad]


def test_classical_tracker_follows_the_object_to_the_cut(tracked_clip):
    from aivid.masks.track import region_span, track_frames
    from aivid.media.probe import probe
    from aivid.workflow.config import section

    path, truth = tracked_clip
    info, options = probe(path), section("track")
    n = 15
    region = {"box": first_box(truth, n), "frame": n, "track": True}
    a, b = region_span(path, info, region, section("plan")["shot_threshold"])
    assert (a, b) == (0, SHOT)  # from the first frame to the hard cut, not beyond
    mask = np.stack(list(track_frames(path, info, region, a, b, options)))
    coverage, ratio = scores(mask, truth)
    print(f"coverage {np.round(coverage, 2)}\narea ratio {np.round(ratio, 2)}")
    assert np.mean(coverage >= 0.95) >= 0.9, coverage
    assert np.median(ratio) <= 2.5 and ratio.max() <= 4, ratio


def test_box_stretches_to_hold_a_part_that_walks_away():
    """ClassicalTracker._parted on the flow of a box's pixels: two people side by side, one
    standing (on still ground: the camera's motion) and one walking off (moving unlike the
    camera) -- the box takes in where the walker went; a swinging limb of a body that itself
    moves, or a part too small to be an object, leaves the box as it was."""
    import cv2

    from aivid.masks.track import ClassicalTracker

    rng = np.random.default_rng(0)
    stands = np.column_stack([rng.uniform(40, 70, 600), rng.uniform(20, 100, 600)]).astype(np.float32)
    walks = np.column_stack([rng.uniform(75, 105, 600), rng.uniform(20, 100, 600)]).astype(np.float32)
    src = np.concatenate([stands, walks])
    step = np.array([6.0, 0.0], np.float32)
    dst = src + np.concatenate([np.zeros_like(stands), np.tile(step, (len(walks), 1))])
    dst += rng.normal(0, 0.3, dst.shape).astype(np.float32)
    box = (36, 16, 108, 104)
    tracker = ClassicalTracker()

    def parted(src, dst, moving):
        fit, kept = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=2.0)
        return tracker._parted(box, src, dst, fit, kept.ravel().astype(bool), moving)

    walker = np.zeros((136, 320), bool)
    walker[15:106, 78:116] = True  # where the walker is now: moving unlike the camera
    stretched = parted(src, dst, walker)
    assert stretched[0] == box[0], stretched  # the one who stays is still held
    assert stretched[2] >= int(dst[len(stands):, 0].max()) + 1 > box[2], stretched  # and where the walker went
    # a limb: the body it belongs to moves too (all of it unlike the camera)
    assert parted(src, dst + np.float32([2.5, 0]), np.ones_like(walker)) == box
    # a part too small to be an object: 60 of 660 points
    few = np.concatenate([stands, walks[:60]]), np.concatenate([dst[: len(stands)], dst[len(stands) : len(stands) + 60]])
    assert parted(*few, walker) == box


def test_track_command_writes_a_mask_video(tracked_clip, tmp_path):
    path, truth = tracked_clip
    out = tmp_path / "object.mkv"
    box = first_box(truth, 0)
    proc = subprocess.run(["aivid", "track", str(path), "--box", *map(str, box), "--frame", "0", "-o", str(out),
                           "--preview", str(tmp_path / "sheet.png")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["tracked"] == [0, SHOT]
    grey = ffmpeg_rgb(out)[..., 0] > 127  # ffmpeg's own decode of the mask video
    assert grey.shape == (SHOT + AFTER, SIZE[1], SIZE[0])
    assert not grey[SHOT:].any()  # nothing after the cut
    coverage, _ = scores(grey[:SHOT], truth)
    assert np.median(coverage) >= 0.95
    assert (tmp_path / "sheet.png").stat().st_size > 0
    # a prompt it cannot follow: one line, exit 1, nothing written
    bad = subprocess.run(["aivid", "track", str(path), "--point", "80", "50", "--frame", "0", "-o",
                          str(tmp_path / "points.mkv")], capture_output=True, text=True)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "points need a SAM2 model" in bad.stderr and not (tmp_path / "points.mkv").exists()


@pytest.fixture(scope="session")
def tiny_sam2(tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "tiny-sam2"
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_tiny_sam2.py"), str(out)], check=True,
                   capture_output=True)
    return out


def test_sam2_model_tracks_through_the_same_loading_path(tracked_clip, tiny_sam2, tmp_path):
    """A tiny random SAM2 video model in transformers format, loaded by from_pretrained as real
    weights are: a box and points on a middle frame give one mask per frame of the shot (random
    weights: their shapes say nothing, but the points change them), and a folder that holds no
    model is one line."""
    from aivid.masks.track import region_span, track_small, tracker_for
    from aivid.media.probe import probe
    from aivid.workflow.config import section

    path, truth = tracked_clip
    info = probe(path)
    options = section("track", {"model": str(tiny_sam2), "device": "cpu", "width": 160})
    region = {"box": first_box(truth, 20), "points": [[100, 60]], "frame": 20, "track": True}
    a, b = region_span(path, info, region, section("plan")["shot_threshold"])
    tracker = tracker_for(options)
    masks = track_small(path, info, region, a, b, options, tracker)
    assert masks.shape == (SHOT, 68, 160) and masks.dtype == bool
    assert not np.array_equal(masks, track_small(path, info, {**region, "points": None}, a, b, options, tracker))
    proc = subprocess.run(["aivid", "track", str(path), "--box", "10", "10", "40", "40", "--frame", "0",
                           "--model", str(tmp_path), "-o", str(tmp_path / "m.mkv")], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "cannot load the tracking model" in proc.stderr and "hf download" in proc.stderr


def test_workflow_repairs_a_tracked_object_and_reruns_only_its_track(tracked_clip, tmp_path):
    """A tracked region in a real workflow run: one track job over the object's shot, its mask in
    the segments it meets and nowhere else, every pixel outside it kept; editing its box re-runs
    that track and the masks of those segments, not the segment after the cut."""
    import yaml

    from aivid.media.lazy import LazyVideo
    from test_workflow import executed_jobs

    path, truth = tracked_clip
    config = {"videos": {"walk": {"path": str(path), "regions": [{"box": first_box(truth, 15), "frame": 15,
                                                                   "track": True}]}},
              "segments": {"seconds": 1}, "output": {"lossless": True}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    assert executed_jobs(snakemake(tmp_path))["track"] == 1
    results = tmp_path / "results" / "walk"
    summary = json.loads((results / "regions" / "0" / "track.json").read_text())
    assert (summary["start"], summary["stop"], summary["tracker"]) == (0, SHOT, "classical")
    source, repaired = ffmpeg_rgb(path), ffmpeg_rgb(results / "output.mkv")
    masks = np.concatenate([LazyVideo.open(p).numpy()[..., 0] > 0 for p in sorted(results.glob("seg*/mask.zarr"))])
    assert masks.shape == source.shape[:3]
    assert not masks[SHOT:].any() and masks[:SHOT].any(axis=(1, 2)).all()
    assert (masks[:SHOT] & truth).sum() >= 0.95 * truth.sum()  # the repair mask holds the object
    far = cv2.dilate(masks.astype(np.uint8).reshape(-1, SIZE[0]), np.ones((19, 19), np.uint8)).reshape(masks.shape) == 0
    assert np.array_equal(repaired[far], source[far])  # outside the mask (and its feather), the source
    assert np.array_equal(repaired[SHOT:], source[SHOT:])
    changed = np.abs(repaired[:SHOT].astype(int) - source[:SHOT]).sum(axis=-1)[truth] > 30
    assert changed.mean() > 0.5  # the object is replaced, not kept
    page = (results / "report" / "index.html").read_text()
    assert "Tracked regions" in page and f"0-{SHOT}" in page and "classical" in page
    stamps = {p: p.stat().st_mtime_ns for p in results.glob("seg*/mask.json")}
    config["videos"]["walk"]["regions"][0]["box"][0] += 2
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    jobs = executed_jobs(snakemake(tmp_path))
    assert jobs["track"] == 1 and jobs["mask"] == 2, jobs
    assert [p.parent.name for p, t in stamps.items() if p.stat().st_mtime_ns == t] == ["seg2"]


def test_frames_are_read_outward_from_the_prompt_frame(tracked_clip):
    """Backward from the prompt frame, block by block (memory holds a block, not the shot): the
    same frames, in reverse, as one forward decode by ffmpeg."""
    from aivid.masks.track import _frames_backward, _frames_forward
    from aivid.media.probe import probe

    path, _ = tracked_clip
    info = probe(path)
    reference = ffmpeg_rgb(path)[:SHOT]
    backward = np.stack(list(_frames_backward(path, info, 3, 37, SIZE, block=16)))
    assert np.array_equal(backward, reference[3:38][::-1])
    assert np.array_equal(np.stack(list(_frames_forward(path, info, 20, SHOT, SIZE))), reference[20:])


@pytest.fixture(scope="session")
def tiny_sam3(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny_sam3")
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_tiny_sam3.py"), str(out)], check=True,
                   capture_output=True)
    return out


def test_sam3_model_follows_words_and_boxes_through_the_same_loading_path(tracked_clip, tiny_sam3, tmp_path):
    """A tiny random SAM3 video model (and its tokenizer) in transformers format, loaded by
    from_pretrained as real weights are: `text` runs its detector and tracker (Sam3VideoModel),
    a box its tracker (Sam3TrackerVideoModel from the same folder); one mask per frame, and other
    words give other masks.  Text with the classical tracker, or with a box, is one line."""
    from aivid.masks.track import track_small, tracker_for
    from aivid.media.probe import probe
    from aivid.workflow.config import section

    path, truth = tracked_clip
    info = probe(path)
    options = section("track", {"model": str(tiny_sam3), "device": "cpu", "width": 160})
    region = {"text": "person", "frame": 20, "frames": [18, 24], "track": True}
    words = tracker_for(options, region)
    assert words.name == "sam3-text"
    masks = track_small(path, info, region, 18, 24, options, words)
    assert masks.shape == (6, 68, 160) and masks.dtype == bool and masks.any()
    assert not np.array_equal(masks, track_small(path, info, {**region, "text": "dog"}, 18, 24, options, words))
    boxed = {"box": first_box(truth, 20), "frame": 20, "frames": [18, 24], "track": True}
    box_tracker = tracker_for(options, boxed)
    assert box_tracker.name == "sam3"
    assert track_small(path, info, boxed, 18, 24, options, box_tracker).shape == (6, 68, 160)
    for extra, problem in ((["--text", "person"], "a text prompt needs a SAM3 model"),
                           (["--text", "person", "--box", "10", "10", "40", "40", "--model", str(tiny_sam3)],
                            "not both")):
        proc = subprocess.run(["aivid", "track", str(path), "--frame", "0", *extra, "-o", str(tmp_path / "m.mkv")],
                              capture_output=True, text=True)
        assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert problem in proc.stderr and "Traceback" not in proc.stderr
