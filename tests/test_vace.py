"""The VACE backend with a tiny random Wan-VACE pipeline saved in diffusers format (CPU)."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import TINY, ffmpeg_rgb, planned_jobs

from aivid.repair.plan import WINDOW_IDS
from aivid.workflow.config import section

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def embeddings(tiny_model, tmp_path_factory):
    from aivid.repair.prompts import encode_prompts, load_prompts

    path = tmp_path_factory.mktemp("prompts") / "p.safetensors"
    encode_prompts({"model": str(tiny_model), "prompt": "clean background", "negative_prompt": "logo",
                    "guidance": 5.0, "max_sequence_length": 16}, path)
    return load_prompts(path)


def test_working_size_and_frame_rule():
    from aivid.repair.backends.vace import padded_length, working_size

    assert working_size(480, 832, 480 * 832, 256) == (480, 832)
    h, w = working_size(1080, 1920, 480 * 832, 256)
    assert h % 16 == 0 and w % 16 == 0 and h * w <= 480 * 832 and abs(w / h - 16 / 9) < 0.1
    assert min(working_size(40, 60, 480 * 832, 256)) >= 256  # a small ROI is worked larger
    assert [padded_length(n) for n in (1, 2, 5, 17, 18, 81)] == [1, 5, 5, 17, 21, 81]


def test_windows_never_load_the_text_encoder(tiny_model, embeddings, tmp_path):
    from aivid.repair.backends.vace import VaceBackend

    model = tmp_path / "no-text-encoder"
    shutil.copytree(tiny_model, model)
    shutil.rmtree(model / "text_encoder")
    shutil.rmtree(model / "tokenizer")
    backend = VaceBackend(section("inpaint", {"model": str(model), **TINY}))
    frames = np.random.default_rng(0).integers(0, 255, (7, 40, 52, 3), dtype=np.uint8)
    mask = np.zeros((7, 40, 52), bool)
    mask[:, 10:22, 12:30] = True
    context = {"prompt_embeds": embeddings, "window": {"id": "s0w0", "frames": [0, 7]}, "tile": 0}
    out = backend.inpaint(frames, mask, context)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert np.array_equal(out, backend.inpaint(frames, mask, context))  # seeded: deterministic
    deep = backend.inpaint(frames.astype(np.uint16) * 257, mask, context)  # a 16-bit tile: 8 bits inside
    assert deep.dtype == np.uint16 and np.array_equal(deep, out.astype(np.uint16) * 257)


def test_colour_correction_removes_a_global_shift():
    from aivid.repair.backends.vace import colour_correct, colour_error

    rng = np.random.default_rng(1)
    original = rng.integers(40, 200, (5, 32, 32, 3)).astype(np.uint8)
    drifted = np.clip(original.astype(int) * 1.1 + 12, 0, 255).astype(np.uint8)
    known = np.ones((5, 32, 32), bool)
    known[:, 8:16, 8:16] = False
    assert colour_error(drifted, original, known) > 10
    assert colour_error(colour_correct(drifted, original, known), original, known) < 1.5


def test_missing_model_is_one_clear_line(tmp_path):
    from aivid.repair.backends.vace import VaceBackend
    from aivid.errors import AividError

    backend = VaceBackend(section("inpaint", {"model": str(tmp_path / "nowhere"), **TINY}))
    with pytest.raises(AividError, match="cannot load the VACE model"):
        backend.inpaint(np.zeros((5, 32, 32, 3), np.uint8), np.ones((5, 32, 32), bool),
                        {"prompt_embeds": {}, "window": {"id": "w", "frames": [0, 5]}, "tile": 0})


def test_workflow_with_chained_vace_windows(vace_run):
    tmp_path = vace_run
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    plan = json.loads((tmp_path / "results" / "clip" / "seg0" / "plan.json").read_text())
    windows = plan["windows"]
    assert len(windows) >= 2 and all(w["prev"] == p["id"] for p, w in zip(windows, windows[1:]))
    assert all(re.fullmatch(WINDOW_IDS[False], w["id"]) for w in windows)
    assert len(list((tmp_path / "results" / "prompts").glob("*.safetensors"))) == 1
    source, out = ffmpeg_rgb(tmp_path / "clip.mp4"), ffmpeg_rgb(tmp_path / "results" / "clip" / "output.mkv")
    far = np.ones(source.shape[:3], bool)
    far[2:16, 60 - 16 : 90 + 16, 100 - 16 : 140 + 16] = False
    assert np.array_equal(out[far], source[far])
    assert not np.array_equal(out[2:16, 60:90, 100:140], source[2:16, 60:90, 100:140])
    original = (tmp_path / "config.yaml").read_text()
    try:  # a sampling setting re-runs the windows only: no new plan, no new prompt embeddings
        config["inpaint"]["steps"] = 1
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
        planned = set(planned_jobs(tmp_path))
        # a model's windows run in a script of their own (rule inpaint_model), not in Snakemake's process
        assert "inpaint_model" in planned and not planned & {"inpaint", "prompt", "plan", "mask", "decode"}
        config["inpaint"]["guidance"] = 1.0  # guidance-free needs embeddings without the negative prompt
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
        assert "prompt" in set(planned_jobs(tmp_path))
    finally:
        (tmp_path / "config.yaml").write_text(original)


def test_benchmark_script_runs_on_cpu_with_the_tiny_model(tiny_model):
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_vace.py"), "--model", str(tiny_model),
                          "--device", "cpu", "--dtype", "float32", "--frames", "9", "--height", "32", "--width", "48",
                          "--roi", "16", "--steps", "3", "--modes", "none,model,none+fp8+cfg1+cache0.5", "--text-len", "16"],
                         capture_output=True, text=True, check=True).stdout
    assert "mode none:" in out and "mode model:" in out and "mode none+fp8+cfg1+cache0.5:" in out
    assert "passes skipped" in out
    assert "ROI 16x16: 3 tokens" in out


def test_fp8_storage_and_attention_backend(tiny_model, embeddings):
    from aivid.repair.backends.vace import VaceBackend
    from aivid.errors import AividError

    frames = np.random.default_rng(0).integers(0, 255, (5, 32, 48, 3), dtype=np.uint8)
    mask = np.zeros((5, 32, 48), bool)
    mask[:, 8:20, 10:30] = True
    context = {"prompt_embeds": embeddings, "window": {"id": "w", "frames": [0, 5]}, "tile": 0}
    plain = VaceBackend(section("inpaint", {"model": str(tiny_model), **TINY})).inpaint(frames, mask, context)
    native = VaceBackend(section("inpaint", {"model": str(tiny_model), **TINY, "attention": "native"})).inpaint(frames, mask, context)
    assert np.array_equal(native, plain)
    fp8 = VaceBackend(section("inpaint", {"model": str(tiny_model), **TINY, "fp8_storage": True})).inpaint(frames, mask, context)
    assert fp8.shape == plain.shape
    assert not np.array_equal(fp8[mask], plain[mask])  # weights really went through float8
    with pytest.raises(AividError, match="attention backend 'nonsense'"):
        VaceBackend(section("inpaint", {"model": str(tiny_model), **TINY, "attention": "nonsense"})).inpaint(frames, mask, context)
