"""VACE speed levers on CPU with the tiny random model: presets, LoRAs, the stack cache, compile."""

import numpy as np
import pytest
import torch
from conftest import TINY
from safetensors.torch import load_file, save_file
from aivid.workflow.config import section

FRAMES = np.random.default_rng(0).integers(0, 255, (5, 32, 48, 3), dtype=np.uint8)
MASK = np.zeros((5, 32, 48), bool)
MASK[:, 8:20, 10:30] = True


@pytest.fixture(scope="module")
def fill(tiny_model, tmp_path_factory):
    """Inpaint the module's test window with the tiny model and extra options."""
    from aivid.repair.backends.vace import VaceBackend
    from aivid.repair.prompts import encode_prompts, load_prompts

    path = tmp_path_factory.mktemp("prompts") / "p.safetensors"
    encode_prompts({"model": str(tiny_model), "prompt": "clean background", "negative_prompt": "logo",
                    "guidance": 5.0, "max_sequence_length": 16}, path)
    context = {"prompt_embeds": load_prompts(path), "window": {"id": "w", "frames": [0, 5]}, "tile": 0}
    return lambda **options: VaceBackend(section("inpaint", {"model": str(tiny_model), **TINY, **options})).inpaint(FRAMES, MASK, context)


def test_presets_resolve_to_the_documented_settings(tiny_model):
    from aivid.repair.backends.vace import VaceBackend, load_pipeline
    from aivid.repair.backends.vace_speed import apply_preset, set_flow_shift
    from aivid.errors import AividError

    assert apply_preset({"preset": "fast"}) == {"preset": "fast", "steps": 4, "guidance": 1.0, "shift": 5.0}
    assert apply_preset({"preset": "balanced"}) == {"preset": "balanced", "steps": 8, "guidance": 1.0, "shift": 8.0}
    assert apply_preset({}) == {"steps": 30, "guidance": 5.0, "shift": None}
    assert apply_preset({"preset": "fast", "steps": 6, "guidance": None})["steps"] == 6  # set keys win
    with pytest.raises(AividError, match="unknown preset 'turbo'"):
        apply_preset({"preset": "turbo"})
    backend = VaceBackend(section("inpaint", {"model": str(tiny_model), "device": "cpu", "dtype": "float32", "preset": "fast"}))
    assert (backend.options["steps"], backend.options["guidance"]) == (4, 1.0)
    pipe = load_pipeline(backend.options)
    set_flow_shift(pipe, 5.0)
    assert pipe.scheduler.config["shift"] == 5.0
    set_flow_shift(pipe, None)  # back to the model's own
    assert pipe.scheduler.config["shift"] == 3.0


@pytest.mark.parametrize("layout", ["diffusers", "comfy"])
def test_lora_changes_the_output_and_fusing_keeps_it(fill, tiny_model, layout):
    plain = fill()
    lora = [{"path": str(tiny_model.parent / "loras" / f"{layout}.safetensors"), "weight": 0.8}]
    fused, unfused = fill(lora=lora), fill(lora=lora, lora_fuse=False)
    assert not np.array_equal(fused[MASK], plain[MASK])
    assert np.array_equal(fused, unfused)
    assert not np.array_equal(fill(lora=[{**lora[0], "weight": 0.3}])[MASK], fused[MASK])  # weight counts


def test_lora_with_vace_block_keys_is_one_clear_line(fill, tiny_model, tmp_path):
    from aivid.errors import AividError

    state = load_file(str(tiny_model.parent / "loras" / "comfy.safetensors"))
    state["diffusion_model.vace_blocks.0.self_attn.q.lora_down.weight"] = torch.zeros(4, 24)
    save_file(state, str(tmp_path / "vace.safetensors"))
    with pytest.raises(AividError, match="VACE-block keys .* converter does not map"):
        fill(lora=[{"path": str(tmp_path / "vace.safetensors")}])


def transformer_and_inputs(tiny_model):
    from diffusers import WanVACETransformer3DModel

    model = WanVACETransformer3DModel.from_pretrained(tiny_model, subfolder="transformer").eval()
    gen = torch.Generator().manual_seed(0)
    inputs = {"hidden_states": torch.randn(1, 16, 3, 8, 12, generator=gen),
              "control_hidden_states": torch.randn(1, 96, 3, 8, 12, generator=gen),
              "encoder_hidden_states": torch.randn(1, 16, 32, generator=gen), "return_dict": False}
    return model, inputs


@torch.no_grad()
def test_stack_cache_at_threshold_zero_is_bit_identical(tiny_model):
    from aivid.repair.backends.vace_cache import install_stack_cache

    model, inputs = transformer_and_inputs(tiny_model)
    steps = [torch.tensor([t]) for t in (999.0, 999.0, 700.0, 700.0, 400.0)]
    reference = [model(timestep=t, **inputs)[0] for t in steps]
    cache = install_stack_cache(model, 0.0)
    assert all(torch.equal(model(timestep=t, **inputs)[0], r) for t, r in zip(steps, reference))
    assert not any(cache.skipped)


@torch.no_grad()
def test_stack_cache_skips_the_whole_stack_and_counts_hints_once(tiny_model):
    from aivid.repair.backends.vace_cache import install_stack_cache

    model, inputs = transformer_and_inputs(tiny_model)
    full = lambda t: type(model).forward(model, timestep=torch.tensor([t]), **inputs)[0]
    cache = install_stack_cache(model, 0.05)
    calls = []
    for block in [*model.blocks, *model.vace_blocks]:
        block.register_forward_hook(lambda *_: calls.append(1))
    model(timestep=torch.tensor([900.0]), **inputs)
    ran = len(calls)
    skipped = model(timestep=torch.tensor([899.99]), **inputs)[0]
    assert cache.skipped == [False, True] and len(calls) == ran  # no block ran, VACE blocks included
    reference = full(899.99)  # the same step computed without skipping
    # the hints are inside the reused residual once; adding them again would move the output by their size
    assert (skipped - reference).abs().max() < 1e-3 * reference.abs().mean()
    model(timestep=torch.tensor([500.0]), **inputs)
    assert cache.skipped[-1] is False  # a large change is computed


def test_stack_cache_in_a_window(fill):
    from aivid.repair.backends.vace import _PIPELINES

    exact = fill(steps=8)
    cached = fill(steps=8, cache_threshold=0.3)
    cache = next(p for p in _PIPELINES.values() if hasattr(p.transformer, "aivid_stack_cache")).transformer.aivid_stack_cache
    assert 0 < sum(cache.skipped) < len(cache.skipped) and not cache.skipped[0]
    assert np.abs(cached.astype(int) - exact)[MASK].mean() < 8  # close to the uncached fill


def test_compiled_blocks_give_the_eager_output(fill):
    assert np.array_equal(fill(steps=1, compile=True), fill(steps=1))


def test_replacing_a_lora_file_changes_the_inpaint_settings(tiny_model, tmp_path):
    import os
    import shutil

    from aivid.workflow.config import resolve_inpaint

    shutil.copy(tiny_model.parent / "loras" / "comfy.safetensors", tmp_path / "style.safetensors")
    before = {"lora": [{"path": "style.safetensors"}]}
    resolve_inpaint(before, tmp_path, "config")
    os.utime(tmp_path / "style.safetensors", ns=(1, 1))
    after = {"lora": [{"path": "style.safetensors"}]}
    resolve_inpaint(after, tmp_path, "config")
    assert before["lora"][0]["path"] == after["lora"][0]["path"] and before != after
