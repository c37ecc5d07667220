#!/usr/bin/env python3
"""Benchmark one VACE window per memory mode and speed lever: s/step, FLOP utilisation, peak memory.

GPU (full-size 1.3B architecture, random weights; speed and memory do not depend on training):
    python scripts/bench_vace.py --device cuda --dtype bfloat16
CPU smoke run (what the tests run):
    python scripts/bench_vace.py --model TINY_DIR --device cpu --dtype float32 --frames 9 \\
        --height 32 --width 48 --roi 16 --steps 2 --modes none

A mode is a memory mode with levers joined by "+": fp8 (layer-wise float8 storage), compile
(torch.compile of the repeated blocks, timed after a warm-up window), cache0.1 (the stack cache at
threshold 0.1), cfg1 (guidance 1: no unconditional pass), e.g. none+compile+cfg1.
--arch 14B builds the 14B architecture instead of the 1.3B one.

Prints per mode: s/step, estimated model FLOP utilisation against --peak-tflops, peak VRAM, peak
host RSS; then the ROI saving: tokens and s/step for a --roi x --roi tile versus the full frame.
"""

import argparse
import resource
import time

import numpy as np

from aivid.repair.backends.vace_models import tokens

def build_pipeline(model, dtype, arch="1.3B"):
    import torch
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanVACEPipeline, WanVACETransformer3DModel

    if model:
        return WanVACEPipeline.from_pretrained(model, text_encoder=None, tokenizer=None, dtype=dtype)
    from aivid.repair.backends.vace_models import ARCHITECTURES

    transformer = WanVACETransformer3DModel(**ARCHITECTURES[arch]).to(dtype)
    vae = AutoencoderKLWan().to(torch.float32)
    return WanVACEPipeline(tokenizer=None, text_encoder=None, vae=vae, transformer=transformer,
                           scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0))


def flops_per_step(pipe, n_tokens, text_len, guided):
    """2 x params x tokens for the linear layers, plus self- and cross-attention score/value products."""
    t = pipe.transformer
    params = sum(p.numel() for p in t.parameters())
    dim = t.config.num_attention_heads * t.config.attention_head_dim
    layers = t.config.num_layers + len(t.config.vace_layers)
    attention = layers * 4 * dim * (n_tokens * n_tokens + n_tokens * text_len)
    return (2 * params * n_tokens + attention) * (2 if guided else 1)


def run_window(pipe, args, height, width, embeds, device, guidance=None, steps=None):
    import torch

    stamps = []
    video = [np.random.default_rng(0).integers(0, 255, (height, width, 3), np.uint8)] * args.frames
    from PIL import Image

    mask = [Image.fromarray(np.full((height, width), 255, np.uint8))] * args.frames
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    guidance = args.guidance if guidance is None else guidance
    start = time.perf_counter()
    pipe(video=[Image.fromarray(v) for v in video], mask=mask, height=height, width=width, num_frames=args.frames,
         num_inference_steps=steps or args.steps, guidance_scale=guidance, prompt_embeds=embeds,
         negative_prompt_embeds=embeds if guidance > 1 else None, output_type="np",
         callback_on_step_end=lambda p, i, t, kw: (stamps.append(time.perf_counter()), kw)[1])
    total = time.perf_counter() - start
    steps = np.diff([start] + stamps)
    per_step = float(np.median(steps[1:] if len(steps) > 1 else steps))
    vram = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else float("nan")
    return per_step, total, vram


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a diffusers folder (default: full-size 1.3B, random weights)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--modes", default="none,model,group,sequential,none+fp8,group+fp8,none+cfg1,"
                        "none+cache0.1,none+compile,none+compile+cfg1", help="memory modes with +levers (see above)")
    parser.add_argument("--arch", default="1.3B", choices=["1.3B", "14B"])
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--roi", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--guidance", type=float, default=5.0)
    parser.add_argument("--text-len", type=int, default=512)
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="bf16 dense peak (H100 SXM: 989)")
    args = parser.parse_args()
    import torch

    from aivid.repair.backends.vace import place_pipeline, store_fp8_and_pick_attention, torch_dtype
    from aivid.workflow.config import section
    from aivid.repair.backends.vace_cache import install_stack_cache
    from aivid.repair.backends.vace_speed import compile_blocks

    dtype = torch_dtype(args.dtype)
    full = tokens(args.frames, args.height, args.width)
    for mode in args.modes.split(","):
        pipe = build_pipeline(args.model, dtype, args.arch)
        pipe.set_progress_bar_config(disable=True)
        offload, *levers = mode.split("+")
        guidance = 1.0 if "cfg1" in levers else args.guidance
        store_fp8_and_pick_attention(pipe, section("inpaint", {"fp8_storage": "fp8" in levers, "dtype": args.dtype}))
        cache = next((install_stack_cache(pipe.transformer, float(x[5:])) for x in levers if x.startswith("cache")), None)
        place_pipeline(pipe, section("inpaint", {"device": args.device, "offload": offload, "vae_tiling": False}))
        embeds = torch.randn(1, args.text_len, pipe.transformer.config.text_dim, dtype=dtype)
        if "compile" in levers:
            compile_blocks(pipe, True)
            run_window(pipe, args, args.height, args.width, embeds, args.device, guidance, steps=2)  # warm-up
        if cache:
            cache.reset()
        per_step, total, vram = run_window(pipe, args, args.height, args.width, embeds, args.device, guidance)
        computed = (len(cache.skipped) - sum(cache.skipped)) / len(cache.skipped) if cache else 1.0
        flops = flops_per_step(pipe, full, args.text_len, guidance > 1) * computed
        peak = args.peak_tflops * 1e12
        mfu, mfu_window = flops / per_step / peak, flops * args.steps / total / peak
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(f"mode {mode}: {per_step:.3f} s/step, window {total:.1f} s, FLOP utilisation {mfu:.1%} per step, "
              f"{mfu_window:.1%} over the window (VAE included), "
              f"peak VRAM {vram:.2f} GiB, peak host RSS {rss:.2f} GiB, {full} tokens"
              + (f", {sum(cache.skipped)}/{len(cache.skipped)} passes skipped" if cache else ""), flush=True)
        if mode == args.modes.split(",")[0]:
            roi_step, _, _ = run_window(pipe, args, args.roi, args.roi, embeds, args.device)
            print(f"ROI {args.roi}x{args.roi}: {tokens(args.frames, args.roi, args.roi)} tokens, {roi_step:.3f} s/step "
                  f"vs full frame {full} tokens, {per_step:.3f} s/step ({per_step / roi_step:.1f}x)", flush=True)
        del pipe
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
