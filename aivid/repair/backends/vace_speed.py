"""Speed levers for the VACE pipeline: sampling presets, step-distilled LoRAs, torch.compile.

A preset names a sampling recipe (steps, flow shift, guidance); keys set explicitly in the config
win over it.  `fast` and `balanced` are meant for step-distilled LoRAs (lightx2v 4-step, CausVid,
AccVideo): without one, so few steps give a blurry fill.
"""

import logging
from pathlib import Path

from aivid.errors import AividError

log = logging.getLogger("aivid")

PRESETS = {
    "quality": {"steps": 30, "guidance": 5.0, "shift": None},  # shift None: the model's own scheduler
    "balanced": {"steps": 8, "guidance": 1.0, "shift": 8.0},  # CausVid-style LoRAs
    "fast": {"steps": 4, "guidance": 1.0, "shift": 5.0},  # lightx2v 4-step distilled LoRAs
}


def apply_preset(options):
    """Fill steps, guidance and shift from options["preset"] where the options leave them unset."""
    name = options.get("preset") or "quality"
    if name not in PRESETS:
        raise AividError("inpaint.preset", f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    for key, value in PRESETS[name].items():
        if options.get(key) is None:
            options[key] = value
    return options


def set_flow_shift(pipe, shift):
    """Use the model's scheduler with another flow shift (UniPC calls it flow_shift, Euler shift);
    None restores the model's own."""
    model_scheduler = pipe.__dict__.setdefault("aivid_model_scheduler", pipe.scheduler)
    if shift is None:
        pipe.scheduler = model_scheduler
        return
    config = model_scheduler.config
    key = "flow_shift" if "flow_shift" in config else "shift"
    pipe.scheduler = type(model_scheduler).from_config(config, **{key: float(shift)})


def load_loras(pipe, loras, fuse=True):
    """Load each {path, weight} LoRA (diffusers or Kijai/Comfy `diffusion_model.*` layout) into the
    transformer, weighted; fused into the weights (and the LoRA layers dropped) when `fuse`."""
    if not loras:
        return
    names = []
    for i, lora in enumerate(loras):
        path = Path(lora["path"]).expanduser()
        if not path.exists():
            raise AividError(path, "LoRA file not found (inpaint.lora)")
        refuse_vace_block_keys(path)
        place = {"pretrained_model_name_or_path_or_dict": str(path.parent), "weight_name": path.name} \
            if path.is_file() else {"pretrained_model_name_or_path_or_dict": str(path)}
        try:
            pipe.load_lora_weights(**place, adapter_name=f"lora{i}")
        except (ValueError, KeyError, OSError, RuntimeError) as exc:
            raise AividError(path, f"cannot load this LoRA into Wan-VACE ({str(exc).splitlines()[0][:200]})") from None
        names.append(f"lora{i}")
    pipe.set_adapters(names, [float(lora.get("weight", 1.0)) for lora in loras])
    log.info("loaded %d LoRA(s): %s", len(loras), ", ".join(str(lora["path"]) for lora in loras))
    if fuse:
        pipe.fuse_lora(components=["transformer"], lora_scale=1.0)
        pipe.unload_lora_weights()


def refuse_vace_block_keys(path):
    """diffusers' converter of Kijai/Comfy Wan LoRAs maps blocks.N only; say so instead of its KeyError."""
    if path.is_file() and path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            if any(k.startswith("diffusion_model.vace_blocks.") for k in f.keys()):
                raise AividError(path, "LoRA has VACE-block keys (diffusion_model.vace_blocks.N), which diffusers' "
                                 "Wan LoRA converter does not map; only blocks.N LoRAs (T2V-style) load")


def compile_blocks(pipe, mode):
    """torch.compile each repeated transformer block once (regional compilation: short warm-up)."""
    if not mode:
        return
    kwargs = {} if mode is True or mode == "default" else {"mode": mode}
    try:
        pipe.transformer.compile_repeated_blocks(fullgraph=True, **kwargs)
    except Exception as exc:
        raise AividError("inpaint.compile", f"torch.compile is not usable here ({str(exc).splitlines()[0][:200]}); "
                         "set inpaint.compile: false") from None
