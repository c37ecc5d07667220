"""The published 1.3B architecture (random weights) through the project's own window code on the
CPU: a few frames at 64x64, one step, in bfloat16 as on a GPU.  The 2.2B weights are made
straight into one buffer (built on the meta device, then given random values of the usual
scale): touching 4 GB of fresh memory is most of the test's time."""

import numpy as np
import pytest
from aivid.repair.backends.vace_models import ARCHITECTURES
from aivid.workflow.config import section


def _random_weights(cls, config, dtype):
    """`cls(**config)` with uniform random weights (bound 1/sqrt(fan-in), as nn.Linear's), unit
    norm scales and small biases, in `dtype`, all views of one buffer; buffers (RoPE tables) as built."""
    import torch
    from accelerate import init_empty_weights

    with init_empty_weights():
        model = cls(**config).eval()
    params = [(m, name, p) for m in model.modules() for name, p in m._parameters.items() if p is not None]
    flat = torch.empty(sum(p.numel() for _, _, p in params), dtype=dtype)
    chunk, shifts = 1 << 22, 4093  # chunks of one random pool, each from its own start (drawing 2.2B is slow)
    pool = torch.empty(chunk + shifts).uniform_(-1, 1, generator=torch.Generator().manual_seed(0)).to(dtype)
    for k, start in enumerate(range(0, flat.numel(), chunk)):
        piece = flat[start : start + chunk]
        piece.copy_(pool[(k * 613) % shifts :][: piece.numel()])
    offset = 0
    with torch.no_grad():
        for module, name, p in params:
            value = flat[offset : offset + p.numel()].view(p.shape)
            offset += p.numel()
            if p.dim() >= 2:
                value.mul_(p[0].numel() ** -0.5)
            elif name == "weight":
                value.fill_(1)
            else:
                value.mul_(0.01)
            module._parameters[name] = torch.nn.Parameter(value, requires_grad=False)
    return model


@pytest.fixture(scope="module")
def full_size(tiny_model):
    """A WanVACEPipeline whose transformer is the full-size 1.3B one (VAE and scheduler of the tiny
    model), registered where load_pipeline finds it, after the project's own preparation."""
    import torch
    from diffusers import WanVACEPipeline, WanVACETransformer3DModel

    from aivid.repair.backends import vace

    transformer = _random_weights(WanVACETransformer3DModel, ARCHITECTURES["1.3B"], torch.bfloat16)
    tiny = WanVACEPipeline.from_pretrained(str(tiny_model), text_encoder=None, tokenizer=None, dtype=torch.bfloat16)
    pipe = WanVACEPipeline(tokenizer=None, text_encoder=None, vae=tiny.vae, transformer=transformer,
                           scheduler=tiny.scheduler)
    options = section("inpaint", {"model": "published-1.3B-random", "device": "cpu", "dtype": "bfloat16", "steps": 1,
                                  "guidance": 1.0, "crop": [64, 64], "max_area": 64 * 64, "min_side": 16})
    vace._PIPELINES[vace.pipeline_key(options)] = vace.prepare_pipeline(pipe, options)
    yield pipe, options
    vace._PIPELINES.clear()


@pytest.mark.slow
def test_the_published_1_3b_architecture(full_size, tmp_path):
    import torch
    from safetensors.torch import save_file

    from aivid.repair.backends.vace import VaceBackend, store_fp8_and_pick_attention
    from aivid.repair.backends.vace_cache import install_stack_cache
    from aivid.repair.backends.vace_speed import load_loras

    pipe, options = full_size
    model = pipe.transformer
    assert len(model.blocks) == 30 and len(model.vace_blocks) == 15  # vace_layers 0, 2, ..., 28
    assert model.config.vace_in_channels == 96
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    mask = np.zeros((5, 64, 64), bool)
    mask[:, 20:40, 16:48] = True
    context = {"prompt_embeds": {"prompt": torch.randn(1, 16, 4096, generator=torch.Generator().manual_seed(1))},
               "window": {"id": "w"}, "tile": 0}
    fill = lambda: VaceBackend(options).inpaint(frames, mask, context)  # noqa: E731
    plain = fill()

    cache = install_stack_cache(model, 0.0)  # the stack cache at threshold 0: the uncached output, exactly
    assert np.array_equal(fill(), plain) and not any(cache.skipped)
    del model.forward, model.aivid_stack_cache

    dim, rank = 1536, 4  # LoRAs on the real layer names, in both layouts
    g = torch.Generator().manual_seed(2)
    lora = lambda *shape: torch.randn(*shape, generator=g) * 0.5  # noqa: E731
    save_file({"transformer.blocks.0.attn1.to_q.lora_A.weight": lora(rank, dim),
               "transformer.blocks.0.attn1.to_q.lora_B.weight": lora(dim, rank)}, str(tmp_path / "diffusers.safetensors"))
    save_file({"diffusion_model.blocks.29.ffn.0.lora_down.weight": lora(rank, dim),
               "diffusion_model.blocks.29.ffn.0.lora_up.weight": lora(8960, rank),
               "diffusion_model.blocks.29.ffn.0.alpha": torch.tensor(float(rank))}, str(tmp_path / "comfy.safetensors"))
    before = model.blocks[29].ffn.net[0].proj.weight.detach().clone()
    load_loras(pipe, [{"path": str(tmp_path / "diffusers.safetensors")}, {"path": str(tmp_path / "comfy.safetensors")}])
    assert not torch.equal(model.blocks[29].ffn.net[0].proj.weight, before)  # fused where it was meant to go
    with_lora = fill()
    assert not np.array_equal(with_lora, plain)

    store_fp8_and_pick_attention(pipe, {**options, "fp8_storage": True})  # float8 storage, bfloat16 compute
    assert model.blocks[0].attn1.to_q.weight.dtype == torch.float8_e4m3fn
    fp8 = fill()
    assert fp8.shape == plain.shape and np.isfinite(fp8.astype(float)).all()
