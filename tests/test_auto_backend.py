"""`inpaint.backend: auto`: each masked stretch goes to the backend that does it well, and the
plan says which and why."""

import json

import numpy as np
import pytest
import yaml
from conftest import TINY, ffmpeg, ffmpeg_rgb, snakemake

from aivid.masks.manual import BoxRegions, build_segment_mask
from aivid.media.probe import probe
from aivid.repair.choose import choose_backend, stretch_evidence
from aivid.workflow.config import section

AUTO = section("inpaint", {"backend": "auto"})


@pytest.fixture(scope="module")
def shots(bikes, tmp_path_factory):
    """Real footage: bikes' first shot (the camera tilts over a wall) and one of its frames held still."""
    root = tmp_path_factory.mktemp("shots")
    ffmpeg("-i", bikes, "-frames:v", "30", "-c:v", "libx264", "-crf", "16", root / "pan.mp4")
    ffmpeg("-i", bikes, "-vf", "select=eq(n\\,0),loop=30:1:0,setpts=N/25/TB", "-frames:v", "30", "-c:v", "libx264",
           "-crf", "16", root / "still.mp4")
    return root


def evidence(path, tmp_path, frames):
    info = probe(path)
    regions = BoxRegions([{"box": [300, 100, 60, 40], "frames": frames}], info.width, info.height, info.frames)
    store = tmp_path / f"{path.stem}.zarr"
    summary = build_segment_mask([regions], 0, info.frames, info.width, info.height, info.fps, store)
    return stretch_evidence(info, store, 0, 0, info.frames, summary["active_frames"])


def test_the_rules():
    assert choose_backend({"masked_frames": 2, "travel": 0, "hole": 50}, AUTO)[0] == "classical"
    assert choose_backend({"masked_frames": 40, "travel": 200, "hole": 50}, AUTO)[0] == "classical"
    backend, why = choose_backend({"masked_frames": 40, "travel": 20, "hole": 50}, AUTO)
    assert backend == "vace" and "not seen in other frames" in why


def test_a_logo_on_a_pan_is_classical_on_a_still_shot_generative_a_speck_classical(shots, tmp_path):
    pan, still = evidence(shots / "pan.mp4", tmp_path, [0, 30]), evidence(shots / "still.mp4", tmp_path, [0, 30])
    assert pan["travel"] > 1.5 * pan["hole"] and choose_backend(pan, AUTO)[0] == "classical"
    assert still["travel"] < 2 and choose_backend(still, AUTO)[0] == "vace"
    speck = evidence(shots / "still.mp4", tmp_path, [5, 6])
    assert speck["masked_frames"] == 1 and choose_backend(speck, AUTO)[0] == "classical"


def test_the_workflow_repairs_each_stretch_with_its_own_backend(shots, tiny_model, tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({
        "videos": {"still": {"path": str(shots / "still.mp4"), "regions": [
            {"box": [40, 40, 8, 8], "frames": [2, 3]},  # a speck: one frame
            {"box": [300, 100, 60, 40], "frames": [12, 30]}]}},  # a logo nothing moves under
        "plan": {"window": 13, "overlap": 4, "context_frames": 2, "margin": 8},
        "inpaint": {"backend": "auto", "model": str(tiny_model), **TINY}, "output": {"lossless": True}}))
    snakemake(tmp_path)
    plan = json.loads((tmp_path / "results" / "still" / "seg0" / "plan.json").read_text())
    chosen = {w["stretch"]: (w["backend"], w["why"]) for w in plan["windows"]}
    assert chosen[0][0] == "classical" and chosen[0][1].startswith("transient: 1 masked frame")
    assert chosen[1][0] == "vace" and chosen[1][1].startswith("not seen in other frames")
    assert [w["prev"] is None for w in plan["windows"] if w["stretch"] == 1][0]  # VACE windows chained
    out, source = ffmpeg_rgb(tmp_path / "results" / "still" / "output.mkv"), ffmpeg_rgb(shots / "still.mp4")
    assert out.shape == source.shape
    assert not np.array_equal(out[12:30, 100:140, 300:360], source[12:30, 100:140, 300:360])
    assert np.array_equal(out[:, 200:, :200], source[:, 200:, :200])  # far from both: untouched
    assert len(list((tmp_path / "results" / "prompts").glob("*.safetensors"))) == 1  # for the VACE windows
