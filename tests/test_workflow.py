"""The Snakemake workflow end to end, on a real clip, through the `snakemake` command line."""

import json
import re
import shutil
import subprocess
from collections import Counter

import numpy as np
import pytest
import yaml
from browser import chromium, play_in_browser
from conftest import DILATE, FEATHER, ffmpeg, ffmpeg_rgb, planned_jobs, snakemake, write_config

from aivid.repair.plan import WINDOW_IDS


def mask_distance(clip):
    """Distance of every pixel to the nearest repair-mask pixel (before dilation)."""
    import cv2

    mask = np.zeros((100, 272, 640), bool)
    mask[5:20, 30:62, 40:88] = True
    mask[60, 200:206, 300:306] = True
    return np.stack([cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, 5) for m in mask])


def test_output_keeps_every_untouched_pixel(finished, clip):
    out = finished / "results" / "clip" / "output.mkv"
    source, repaired = ffmpeg_rgb(clip / "clip.mp4"), ffmpeg_rgb(out)
    assert repaired.shape == source.shape
    far = mask_distance(clip) > DILATE + FEATHER + 1
    assert np.array_equal(repaired[far], source[far])
    assert not np.array_equal(repaired[5:20, 30:62, 40:88], source[5:20, 30:62, 40:88])
    from aivid.repair.boxes import box_of
    from aivid.media.lazy import LazyVideo

    for seg, a in ((0, 0), (2, 50)):  # the blended box is laid over the right frames, exactly
        store = finished / "results" / "clip" / f"seg{seg}" / "repaired.zarr"
        first, last, y0, y1, x0, x1 = box_of(store)
        blended = LazyVideo.open(store)[first:last, y0:y1, x0:x1].numpy()
        assert np.array_equal(repaired[a + first : a + last, y0:y1, x0:x1], blended)
    from aivid.media.probe import probe

    assert probe(out).fps == "25/1" and probe(out).frames == 100


def test_untouched_segments_do_no_model_work(finished):
    plans = [json.loads(p.read_text()) for p in sorted((finished / "results" / "clip").glob("seg*/plan.json"))]
    assert [p["work"] for p in plans] == [True, False, True, False]
    windows = list((finished / "results" / "clip").glob("seg*/windows/*.zarr"))
    assert {w.parent.parent.name for w in windows} == {"seg0", "seg2"}
    # classical windows are run by the rule that runs them in Snakemake's process (no benchmark
    # file: that is inpaint_model's, a model's windows in scripts of their own)
    assert all(re.fullmatch(WINDOW_IDS[True], w.name.removesuffix(".zarr")) for w in windows)
    assert not list(finished.glob("benchmarks/**/inpaint_*.tsv"))
    assert not (finished / "results" / "clip" / "seg1" / "frames.zarr").exists()


def test_transient_speck_comes_out_close_to_perfect(finished, clip):
    source = ffmpeg_rgb(clip / "clip.mp4").astype(float)
    repaired = ffmpeg_rgb(finished / "results" / "clip" / "output.mkv").astype(float)
    # the clip has no speck burned in, so the truth under the mask is the source itself
    err = ((repaired[60, 200:206, 300:306] - source[60, 200:206, 300:306]) ** 2).mean()
    assert 10 * np.log10(255**2 / max(err, 1e-9)) > 30


def executed_jobs(proc):
    """{rule: jobs} a finished Snakemake run executed, from the job headers it logged."""
    found = re.finditer(r"^(?:local)?(?:rule|checkpoint) (\w+):$", proc.stderr, re.M)
    return dict(Counter(m.group(1) for m in found if m.group(1) != "all"))


def test_edits_rerun_only_what_they_touch(finished, tmp_path):
    """Real reruns of a copy of a finished run: each edit executes exactly the jobs it affects."""
    run = tmp_path / "run"
    shutil.copytree(finished, run, symlinks=True)  # modification times kept
    assert executed_jobs(snakemake(run)) == {}
    plans = [json.loads(p.read_text()) for p in sorted(run.glob("results/clip/seg*/plan.json"))]
    windows, repaired = sum(len(p["windows"]) for p in plans), sum(p["work"] for p in plans)
    assert (windows, repaired) == (3, 2), plans
    config = yaml.safe_load((run / "config.yaml").read_text())

    def edit(section, key, value):
        config.setdefault(section, {})[key] = value
        (run / "config.yaml").write_text(yaml.safe_dump(config))
        return executed_jobs(snakemake(run))

    report = {"report_pages": 1}  # the report follows what it shows
    assert edit("output", "crf", 20) == {"piece": 4, "concat": 1, **report}  # an output setting: only encoding
    assert edit("inpaint", "max_offset", 30) == {"inpaint": windows, "blend": repaired, "piece": repaired,
                                                   "concat": 1, **report}  # the fill: windows onwards, no mask or plan
    jobs = edit("mask", "dilate", DILATE + 2)  # masks, and what their plans lead to
    assert jobs["mask"] == 4 and jobs["plan"] == 4 and jobs["concat"] == 1, jobs
    assert set(jobs) <= {"mask", "plan", "decode", "inpaint", "blend", "piece", "concat", "report_pages"}, jobs


BAD_CONFIGS = [
    ({"inpaint": {"backnd": "x"}}, "inpaint.backnd: unknown key"),
    ({"output": {"crf": "high"}}, "output.crf"),
    ({"videos": {"clip": {"path": "nowhere.mp4"}}}, "nowhere.mp4: no such file"),
    ({"videos": {"clip": {"regions": [{"box": [600, 0, 100, 10]}]}}}, "outside the 640x272 frame"),
    ({"videos": {"clip": {"regions": [{"box": [0, 0, 640, 272]}]}}}, "covers the whole frame"),
    ({"videos": {"clip": {"mask": "small.png"}}}, "mask image is 32x32"),
    ({"videos": {"clip": {"mask": "short.mkv"}}}, "mask video has 50 frames, the video has 100"),
    ({"inpaint": {"preset": "turbo"}}, "inpaint.preset"),
    ({"videos": {"clip": {"regions": [{"box": [40, 30, 48, 32], "track": True}]}}}, "needs `frame`"),
    ({"videos": {"clip": {"regions": [{"points": [[50, 40]], "frame": 3}]}}}, "points need a SAM2 model"),
    ({"videos": {"clip": {"regions": [{"box": [40, 30, 48, 32], "frame": 9, "frames": [10, 20], "track": True}]}}},
     "must hold frame 9"),
    ({"inpaint": {"lora": [{"path": "missing.safetensors"}]}}, "inpaint.lora[0].path"),
]


def bad_config(clip, tmp_path, change):
    import cv2

    cv2.imwrite(str(tmp_path / "small.png"), np.zeros((32, 32), np.uint8))
    ffmpeg("-f", "lavfi", "-i", "color=c=black:size=640x272:rate=25", "-frames:v", "50", "-c:v", "ffv1",
           tmp_path / "short.mkv")
    path = write_config(tmp_path, clip)
    config = yaml.safe_load(path.read_text())
    for key, value in change.items():
        if key == "videos":
            config["videos"]["clip"].update(value["clip"])
            if "path" in value["clip"] or "mask" in value["clip"]:
                config["videos"]["clip"] = {k: (str(tmp_path / v) if k in ("path", "mask") and k in value["clip"] else v)
                                            for k, v in config["videos"]["clip"].items()}
        else:
            config.setdefault(key, {}).update(value)
    path.write_text(yaml.safe_dump(config))
    return config


@pytest.mark.parametrize("change,problem", BAD_CONFIGS)
def test_bad_config_is_one_clear_error(clip, tmp_path, monkeypatch, change, problem):
    """What the Snakefile calls when it parses the config (the CLI run is checked below)."""
    from aivid.workflow.config import checked_config
    from aivid.errors import AividError

    config = bad_config(clip, tmp_path, change)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AividError) as err:
        checked_config(config, [str(tmp_path / "config.yaml")], root=str(tmp_path / "results"))
    assert problem in str(err.value) and "\n" not in str(err.value)
    assert not list(tmp_path.glob("results/*/seg*"))


def test_bad_config_stops_snakemake_with_one_line(clip, tmp_path):
    bad_config(clip, tmp_path, BAD_CONFIGS[6][0])
    proc = snakemake(tmp_path, check=False)
    assert proc.returncode != 0
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("aivid: error:")]
    assert len(errors) == 1 and BAD_CONFIGS[6][1] in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("results/*/output.*")) and not list(tmp_path.glob("results/*/seg*"))


def test_empty_mask_gives_the_source_back_with_its_audio(bunny, tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "blank.png"), np.zeros((720, 1280), np.uint8))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({
        "videos": {"bunny": {"path": str(bunny), "mask": "blank.png"}}, "output": {"lossless": True}}))
    snakemake(tmp_path)
    out = tmp_path / "results" / "bunny" / "output.mkv"
    assert np.array_equal(ffmpeg_rgb(out), ffmpeg_rgb(bunny))
    from aivid.media.probe import probe

    assert probe(out).has_audio and probe(out).audio[0]["codec"] == "aac"
    assert not list(tmp_path.glob("results/bunny/seg*/frames.zarr"))  # nothing to repair: nothing decoded


@pytest.fixture(scope="module")
def copied(clip, tmp_path_factory):
    """A finished lossy run: untouched segments stream-copied, repaired ones re-encoded, joined."""
    workdir = tmp_path_factory.mktemp("copied")
    write_config(workdir, clip, output={"lossless": False, "crf": 16})
    snakemake(workdir)
    return workdir


def test_untouched_segments_are_stream_copied(clip, copied):
    """Lossy output: segments with no repair keep their packets; the joined file decodes cleanly."""
    tmp_path = copied
    out = tmp_path / "results" / "clip" / "output.mp4"
    errors = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out), "-f", "null", "-"],
                            capture_output=True, text=True).stderr
    assert errors == ""
    from aivid.media.lazy import LazyVideo
    from aivid.media.probe import probe

    info = probe(out)
    assert (info.frames, info.fps, info.codec) == (100, "25/1", "h264")
    source, result = ffmpeg_rgb(clip / "clip.mp4"), ffmpeg_rgb(out)
    assert np.array_equal(result[25:50], source[25:50]) and np.array_equal(result[75:], source[75:])
    pieces = {p.parent.name: p.name for p in tmp_path.glob("logs/clip/seg*/*piece*.log")}
    assert pieces == {"seg0": "piece_ts.log", "seg2": "piece_ts.log"}  # the others: packets copied at the join
    assert sorted(p.parent.name for p in tmp_path.glob("results/clip/seg*/piece.*")) == ["seg0", "seg2"]
    seg0 = tmp_path / "results" / "clip" / "seg0"
    for store in ("frames.zarr", "repaired.zarr"):  # only the chunks the repair reaches are stored
        video = LazyVideo.open(seg0 / store)
        stored = [p for p in (seg0 / store).iterdir() if p.name[0].isdigit()]
        assert 0 < len(stored) < np.prod(-(-np.array(video.shape) // video.chunks)), store
    from aivid.repair.boxes import box_of

    for seg, a in ((0, 0), (2, 50)):  # repaired segments: encoded at the set quality
        store = tmp_path / "results" / "clip" / f"seg{seg}" / "repaired.zarr"
        first, last, y0, y1, x0, x1 = box_of(store)
        encoded = source[a : a + 25].copy()  # what was encoded: the source with the repair box laid over
        encoded[first:last, y0:y1, x0:x1] = LazyVideo.open(store)[first:last, y0:y1, x0:x1].numpy()
        assert not np.array_equal(encoded, source[a : a + 25])
        err = ((result[a : a + 25].astype(float) - encoded) ** 2).mean()
        assert 10 * np.log10(255**2 / err) > 38


def test_only_the_gops_a_repair_reaches_are_re_encoded(clip, tmp_path):
    """Segments of two GOPs (0-50, 50-100; keyframes every 25): the region in frames 30-36 needs
    GOP 25-50 only, the speck in frame 60 GOP 50-75 only; the other GOPs of both repaired segments
    are stream-copied, the repair lands on its own frames, and the joined file is one clean stream."""
    path = write_config(tmp_path, clip, output={"lossless": False, "crf": 16}, segments={"seconds": 2})
    config = yaml.safe_load(path.read_text())
    config["videos"]["clip"]["regions"][0]["frames"] = [30, 36]
    path.write_text(yaml.safe_dump(config))
    snakemake(tmp_path)
    out = tmp_path / "results" / "clip" / "output.mp4"
    errors = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out), "-f", "null", "-"],
                            capture_output=True, text=True).stderr
    assert errors == ""
    source, result = ffmpeg_rgb(clip / "clip.mp4"), ffmpeg_rgb(out)
    assert len(result) == 100 and np.array_equal(result[:25], source[:25]) and np.array_equal(result[75:], source[75:])
    logs = tmp_path / "logs" / "clip"
    assert "frames 25-50 re-encoded, 25 of the segment's 50 frames" in (logs / "seg0" / "piece_ts.log").read_text()
    assert "frames 50-75 re-encoded, 25 of the segment's 50 frames" in (logs / "seg1" / "piece_ts.log").read_text()
    from aivid.media.lazy import LazyVideo

    blended = LazyVideo.open(tmp_path / "results" / "clip" / "seg0" / "repaired.zarr")[30:36, 30:62, 40:88].numpy()
    assert not np.array_equal(blended, source[30:36, 30:62, 40:88])
    err = ((result[30:36, 30:62, 40:88].astype(float) - blended) ** 2).mean()  # on its own frames
    assert 10 * np.log10(255**2 / err) > 35


@pytest.mark.skipif(chromium() is None, reason="Chromium is not installed (.ci/run installs Debian's chromium)")
def test_a_browser_plays_the_joined_file(copied):
    """Headless Chromium loads output.mp4 in a <video>: full length, a real picture mid-way."""
    played = play_in_browser(copied / "results" / "clip" / "output.mp4")
    assert played.get("duration") == pytest.approx(4.0, abs=0.05) and played["width"] == 640, played
    assert played["mean"] > 20, played


def test_every_segment_is_masked_and_planned_at_once(clip, tmp_path):
    """The join reads the plans one by one; the DAG must still hold all masks and plans up front."""
    write_config(tmp_path, clip, output={"lossless": False})
    counts = planned_jobs(tmp_path)
    assert counts["mask"] == 4 and counts["plan"] == 4, counts


def test_segments_no_region_reaches_are_copied_without_mask_or_plan(clip, tmp_path):
    """Regions only (frames 5-20, segment 0): the other three segments are known untouched when the
    workflow is parsed and cost no job at all (their packets are copied at the join)."""
    path = write_config(tmp_path, clip, output={"lossless": False})
    config = yaml.safe_load(path.read_text())
    del config["videos"]["clip"]["mask"]
    path.write_text(yaml.safe_dump(config))
    counts = planned_jobs(tmp_path)
    assert counts["mask"] == 1 and counts["plan"] == 1 and "copy_piece" not in counts, counts
