"""Segments, hard cuts, windows and tiles."""

import numpy as np

from aivid.media.lazy import LazyVideo
from aivid.repair.boxes import window_frames
from aivid.repair.plan import boundary_zone, plan_segment, tiles_for, windows_for
from aivid.workflow.segments import plan_segments
from aivid.repair.shots import detect_cuts
from aivid.workflow.config import section

SETTINGS = {"margin": 8, "window": 20, "overlap": 4, "context_frames": 3}


def test_cuts_found_in_real_footage(bikes):
    assert detect_cuts(bikes, 0, 250, section("plan")["shot_threshold"]) == [30, 76, 137, 187, 242]


def test_segments_start_on_keyframes():
    segs = plan_segments(1000, "25/1", [0, 100, 250, 300, 700, 950], seconds=8)
    assert [(s["start"], s["stop"]) for s in segs] == [(0, 250), (250, 700), (700, 950), (950, 1000)]
    exact = plan_segments(100, "25/1", [0], seconds=1, keyframe_aligned=False)
    assert [s["start"] for s in exact] == [0, 25, 50, 75] and exact[-1]["stop"] == 100


def test_windows_cover_with_overlap():
    wins = windows_for(10, 100, 20, 4)
    assert wins[0][0] == 10 and wins[-1][1] == 100
    assert all(b - a == 20 for a, b in wins)
    assert all(w2[0] < w1[1] for w1, w2 in zip(wins, wins[1:]))


def test_tiles_are_disjoint_snapped_boxes():
    fp = np.zeros((100, 200), bool)
    fp[10:20, 10:20] = True
    fp[12:18, 24:30] = True  # close: merges with the first through the margin
    fp[80:90, 180:195] = True
    tiles = tiles_for(fp, margin=4, multiple=16)
    assert len(tiles) == 2
    for x, y, w, h in tiles:
        assert w % 16 == 0 and h % 16 == 0 and x >= 0 and y >= 0 and x + w <= 200 and y + h <= 100
    (x0, y0, w0, h0), (x1, y1, w1, h1) = tiles
    assert x0 + w0 <= x1 or y0 + h0 <= y1


def test_windows_never_straddle_a_cut(tmp_path):
    mask = LazyVideo.create(tmp_path / "m.zarr", (100, 64, 64, 1), 25)
    mask[20:70, 10:20, 10:20] = 255
    summary = {"start": 200, "stop": 300, "active_frames": list(range(220, 270))}
    plan = plan_segment(tmp_path / "m.zarr", summary, [245], SETTINGS)
    assert plan["work"]
    for w in plan["windows"]:
        a, b = w["frames"]
        assert not (a < 45 < b), w
        assert w["tiles"] == [[2, 2, 26, 26]]
    covered = set().union(*(range(*w["frames"]) for w in plan["windows"]))
    assert set(range(20, 70)) <= covered
    empty = plan_segment(tmp_path / "m.zarr", {"start": 0, "stop": 100, "active_frames": []}, [], SETTINGS)
    assert not empty["work"] and empty["windows"] == []


def _segment_mask(path, start, stop, frames, box):
    """A mask store of segment [start, stop) with `box` (x, y, w, h) masked at absolute `frames`."""
    mask = LazyVideo.create(path, (stop - start, 64, 64, 1), 25)
    x, y, w, h = box
    for f in frames:
        mask[f - start, y : y + h, x : x + w] = 255
    return path, {"start": start, "stop": stop, "active_frames": list(frames)}


def test_a_stretch_across_a_boundary_is_planned_as_one(tmp_path):
    first = _segment_mask(tmp_path / "a.zarr", 0, 50, range(30, 50), (10, 10, 8, 8))
    second = _segment_mask(tmp_path / "b.zarr", 50, 100, range(50, 60), (14, 12, 8, 8))  # moved a little
    assert boundary_zone(first[1], second[1], SETTINGS) == (46, 50)  # the last overlap frames, up to the first masked
    before = plan_segment(*first, [48], SETTINGS, after=second)  # a cut in the zone: the plan's caller checked
    after = plan_segment(*second, [], SETTINGS, before=first)
    assert before["continues"] == {"from_previous": False, "into_next": True} and before["cuts"] == []
    assert after["continues"] == {"from_previous": True, "into_next": False}
    tail, lead = before["windows"][-1], after["windows"][0]
    assert tail.get("tail") and tail["frames"][1] == 50 and not before["windows"][0].get("lead")
    assert lead.get("lead") and lead["frames"][0] == -SETTINGS["overlap"] and lead["prev"] is None
    assert tail["tiles"] == lead["tiles"]  # one tile on both sides, holding both sides' masks
    x, y, w, h = lead["tiles"][0]
    assert x <= 10 and y <= 10 and x + w >= 22 and y + h >= 20
    assert window_frames(after["windows"])[0] == 0  # nothing before the segment is decoded
    far = _segment_mask(tmp_path / "c.zarr", 50, 100, range(60, 70), (14, 12, 8, 8))
    assert boundary_zone(first[1], far[1], SETTINGS) is None  # a gap longer than context_frames


def test_a_segment_inside_a_stretch_is_one_window_with_both_ends(tmp_path):
    first = _segment_mask(tmp_path / "a.zarr", 0, 12, range(2, 12), (10, 10, 8, 8))
    middle = _segment_mask(tmp_path / "b.zarr", 12, 24, range(12, 24), (10, 10, 8, 8))
    last = _segment_mask(tmp_path / "c.zarr", 24, 36, range(24, 30), (10, 10, 8, 8))
    plan = plan_segment(*middle, [], SETTINGS, before=first, after=last)
    assert plan["continues"] == {"from_previous": True, "into_next": True}
    (window,) = plan["windows"]  # shorter than a window: one, starting before and ending on the boundary
    assert window["frames"] == [-SETTINGS["overlap"], 12] and window.get("lead") and window.get("tail")
    before = plan_segment(*first, [], SETTINGS, after=middle)["windows"][-1]
    after = plan_segment(*last, [], SETTINGS, before=middle)["windows"][0]
    assert before["tiles"] == window["tiles"] == after["tiles"]  # a still defect: one tile throughout
