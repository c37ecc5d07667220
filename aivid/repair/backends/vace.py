"""Wan2.1-VACE inpainting through diffusers' WanVACEPipeline, one ROI tile and window at a time.

Prompts are encoded once (aivid.repair.prompts) and passed as embeddings, so window jobs never load the
UMT5 text encoder.  A tile is resized to a working size the model accepts (multiples of 16, area
no larger than the model was trained for), the window is padded to 4k+1 frames, and only the
masked pixels of the result are used.  Windows of one tile are chained: the frames a window
shares with the previous one are taken from the previous result and left unmasked.
"""

import hashlib
import json
import logging
import math

import cv2
import numpy as np

from aivid.errors import AividError
from aivid.repair.backends.base import InpaintBackend
from aivid.repair.backends.vace_models import tokens
from aivid.repair.backends.vace_speed import compile_blocks, load_loras, set_flow_shift

log = logging.getLogger("aivid")

PIPELINE_KEYS = ("model", "dtype", "device", "offload", "vae_tiling", "fp8_storage", "attention", "lora",
                 "lora_fuse", "cache_threshold", "compile")
_PIPELINES = {}


def working_size(height, width, max_area, min_side, multiple=16):
    """A (height, width) of multiples of `multiple`, near the tile's aspect, within max_area."""
    scale = min(math.sqrt(max_area / (height * width)), max(1.0, min_side / min(height, width)))
    h = max(multiple, int(round(height * scale / multiple)) * multiple)
    w = max(multiple, int(round(width * scale / multiple)) * multiple)
    while h * w > max_area:
        h, w = (h - multiple, w) if h >= w else (h, w - multiple)
    return h, w


MASK_GREY = 128  # what VACE is shown under the mask (VACE's inpainting annotator MASK_COLOR; diffusers' examples)


def working_mask(mask, width, height):
    """A (T, H, W) bool mask at the working size: a working pixel is masked when any source pixel
    it covers is (area > 0 where the tile shrinks, so a 1-px speck survives; nearest where it grows)."""
    shrink = width < mask.shape[2] or height < mask.shape[1]
    mode = cv2.INTER_AREA if shrink else cv2.INTER_NEAREST
    return np.stack([cv2.resize(m.astype(np.float32), (width, height), interpolation=mode) > 0 for m in mask])


def conditioning(frames, mask, width, height):
    """What VACE is given for a tile: the frames at the working size with every masked working
    pixel grey (the model must not see the defect it is to remove), and the working mask."""
    video = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in frames])
    holes = working_mask(mask, width, height)
    video[holes] = MASK_GREY
    return video, holes


def padded_length(frames):
    """The smallest 4k+1 >= frames (VACE's temporal rule)."""
    return frames + (-(frames - 1)) % 4


def window_seed(seed, window_id, tile):
    digest = hashlib.sha256(f"{seed}:{window_id}:{tile}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def torch_dtype(name):
    import torch

    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[name]


def check_diffusers(installed=None):
    """Refuse a diffusers outside the range aivid was tested with (pyproject's `vace` extra, read
    from aivid's installed metadata), with one line saying which to install."""
    from importlib.metadata import PackageNotFoundError, requires, version

    from packaging.requirements import Requirement

    try:
        wanted = [Requirement(r) for r in requires("aivid") or [] if r.startswith("diffusers")]
        installed = installed or version("diffusers")
    except PackageNotFoundError:
        return  # aivid run from a checkout that is not installed: nothing to compare with
    if wanted and not wanted[0].specifier.contains(installed, prereleases=True):
        spec = wanted[0].specifier
        raise AividError("diffusers", f"version {installed} is installed, aivid's VACE backend is tested with "
                                      f"diffusers{spec} (its step cache follows that version's transformer); "
                                      f"pip install 'diffusers{spec}'")


def pipeline_key(options):
    return json.dumps([options.get(k) for k in PIPELINE_KEYS], default=str)


def load_pipeline(options):
    """WanVACEPipeline without its text encoder, prepared per the options (cached per process)."""
    key = pipeline_key(options)
    if key in _PIPELINES:
        return _PIPELINES[key]
    check_diffusers()
    from diffusers import WanVACEPipeline

    try:
        pipe = WanVACEPipeline.from_pretrained(options["model"], text_encoder=None, tokenizer=None,
                                               dtype=torch_dtype(options["dtype"]))
    except (OSError, ValueError) as exc:
        raise AividError(options["model"], model_not_found(exc)) from None
    _PIPELINES[key] = prepare_pipeline(pipe, options)
    return _PIPELINES[key]


def prepare_pipeline(pipe, options):
    """LoRAs, fp8 storage, attention backend, stack cache, memory mode and compile, as configured."""
    load_loras(pipe, options["lora"], fuse=options["lora_fuse"])
    store_fp8_and_pick_attention(pipe, options)
    if options["cache_threshold"]:
        from aivid.repair.backends.vace_cache import install_stack_cache

        install_stack_cache(pipe.transformer, options["cache_threshold"])
    place_pipeline(pipe, options)
    compile_blocks(pipe, options["compile"])
    pipe.set_progress_bar_config(disable=True)
    return pipe


def model_not_found(exc):
    import os

    from aivid.workflow.config import section

    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0")
    return (f"cannot load the VACE model (looked in that folder and in the Hugging Face cache"
            f"{', offline' if offline else ''}): get it with `hf download {section('inpaint')['model']} "
            f"--local-dir DIR` and set inpaint.model: DIR ({str(exc).splitlines()[0][:160]})")


def store_fp8_and_pick_attention(pipe, options):
    """fp8 layer-wise storage of the transformer (computed in `dtype`) and the attention backend."""
    import torch

    if options["fp8_storage"]:
        pipe.transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn,
                                                  compute_dtype=torch_dtype(options["dtype"]))
    if options["attention"]:
        try:
            pipe.transformer.set_attention_backend(options["attention"])
        except Exception as exc:  # unknown name, or its package/hardware missing
            raise AividError(options["model"], f"attention backend {options['attention']!r} is not usable here "
                             f"({str(exc).splitlines()[0][:200]}); use `native` or leave inpaint.attention unset") from None


def place_pipeline(pipe, options):
    """Memory modes: none (all on the device), model, sequential or group offload; VAE tiling."""
    device, mode = options["device"], options["offload"]
    if mode == "none":
        pipe.to(device)
    elif mode == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif mode == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    elif mode == "group":
        import torch

        pipe.transformer.enable_group_offload(onload_device=torch.device(device), offload_device=torch.device("cpu"),
                                              offload_type="block_level", num_blocks_per_group=1,
                                              use_stream=device.startswith("cuda"))
        pipe.vae.to(device)
    if options["vae_tiling"]:
        pipe.vae.enable_tiling()


def colour_correct(generated, original, known, smooth=5):
    """Match the generated frames' colour to the original where both show the same (unmasked)
    pixels: per frame and channel gain and offset, smoothed over time."""
    gen, ref = generated.astype(np.float32), original.astype(np.float32)
    params = []
    for t in range(len(gen)):
        where = known[t]
        if where.sum() < 16:
            params.append((np.ones(3), np.zeros(3)))
            continue
        g, r = gen[t][where], ref[t][where]
        gain = np.clip(r.std(0) / np.maximum(g.std(0), 1e-3), 0.5, 2.0)
        params.append((gain, r.mean(0) - gain * g.mean(0)))
    gains, offsets = (np.array([p[i] for p in params]) for i in (0, 1))
    kernel = np.ones(smooth) / smooth
    smooth_fn = lambda a: np.stack([np.convolve(np.pad(a[:, c], smooth // 2, mode="edge"), kernel, "valid")
                                    for c in range(3)], axis=1)
    gains, offsets = smooth_fn(gains), smooth_fn(offsets)
    out = gen * gains[:, None, None, :] + offsets[:, None, None, :]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def colour_error(generated, original, known):
    """Mean absolute colour difference (0-255) on pixels that should be unchanged."""
    return float(np.abs(generated.astype(np.float32) - original.astype(np.float32))[known].mean()) if known.any() else 0.0


class VaceBackend(InpaintBackend):
    """Wan2.1-VACE video inpainting."""

    size_multiple = 16
    chained = True
    uses_gpu = True

    @staticmethod
    def tile_size(options):
        """Tiles are context crops of the size the model was trained at (inpaint.crop), around the
        defect and clamped to the frame; larger ones are scaled down to inpaint.max_area."""
        return tuple(options["crop"])

    def inpaint(self, frames, mask, context=None):
        import torch

        frames, mask = self.check(frames, mask)
        if frames.dtype == np.uint16:  # the model works at 8 bits: convert at its boundary
            from aivid.media.decode import eight_bit

            return self.inpaint(eight_bit(frames), mask, context).astype(np.uint16) * 257
        context = context or {}
        count, height, width = mask.shape
        wh, ww = working_size(height, width, self.options["max_area"], self.options["min_side"])
        length = padded_length(count)
        video, holes = conditioning(frames, mask, ww, wh)
        video = list(video) + [video[-1]] * (length - count)
        holes = [h.astype(np.uint8) * 255 for h in holes]
        holes += [holes[-1]] * (length - count)
        log.info("window of %d frames (%d padded): tile %dx%d worked at %dx%d, %d transformer tokens", count, length,
                 width, height, ww, wh, tokens(length, wh, ww))
        embeds = context["prompt_embeds"]
        seed = window_seed(self.options["seed"], (context.get("window") or {}).get("id"), context.get("tile"))
        pipe = load_pipeline(self.options)
        set_flow_shift(pipe, self.options["shift"])
        cache = getattr(pipe.transformer, "aivid_stack_cache", None)
        if cache:
            cache.reset()
        steps = int(self.options["steps"])
        progress = lambda p, i, t, kw: (log.info("step %d/%d", i + 1, steps), kw)[1]
        result = pipe(video=[_pil(v) for v in video], mask=[_pil(h) for h in holes], height=wh, width=ww, num_frames=length,
                      num_inference_steps=steps, guidance_scale=float(self.options["guidance"]),
                      prompt_embeds=embeds["prompt"].to(pipe.transformer.dtype),
                      negative_prompt_embeds=_maybe(embeds.get("negative"), pipe.transformer.dtype),
                      generator=torch.Generator("cpu").manual_seed(seed), output_type="np",
                      callback_on_step_end=progress).frames[0][:count]
        self.stats = {"steps": steps, "tokens": tokens(length, wh, ww), "working_size": f"{ww}x{wh}"}
        if cache:
            log.info("step cache: %d of %d transformer passes skipped", sum(cache.skipped), len(cache.skipped))
            self.stats["passes_skipped"] = f"{sum(cache.skipped)}/{len(cache.skipped)}"
        out = np.stack([cv2.resize(np.clip(f * 255, 0, 255).astype(np.uint8), (width, height),
                                   interpolation=cv2.INTER_CUBIC) for f in result])
        known = ~mask
        before = colour_error(out, frames, known)
        if self.options["colour_correction"]:
            out = colour_correct(out, frames, known)
        after = colour_error(out, frames, known)
        log.info("colour error on unmasked ROI pixels: %.2f before, %.2f after correction", before, after)
        self.stats.update(colour_error_before=round(before, 2), colour_error_after=round(after, 2))
        return out


def _pil(array):
    from PIL import Image

    return Image.fromarray(array)


def _maybe(tensor, dtype):
    return None if tensor is None else tensor.to(dtype)
