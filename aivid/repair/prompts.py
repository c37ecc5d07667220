"""Encoding prompts once, with the UMT5 text encoder, into embeddings cached on disk."""

import hashlib
import json
import logging

from aivid.atomic import atomic_output
from aivid.errors import AividError

log = logging.getLogger("aivid")


def prompt_options(options):
    """Only what the embeddings depend on (so other inpaint edits do not re-encode prompts)."""
    keys = ("model", "prompt", "negative_prompt", "max_sequence_length")
    return {**{k: options[k] for k in keys}, "guidance": 5.0 if float(options["guidance"]) > 1.0 else 1.0}


def prompt_key(options):
    """A short name for one (model, prompt, negative prompt, guidance) combination."""
    text = json.dumps([options["model"], options["prompt"], options["negative_prompt"],
                       float(options["guidance"]) > 1.0], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_prompts(options, out):
    """Encode prompt (and negative prompt when guidance > 1) to a safetensors file at `out`."""
    import torch
    from diffusers import WanVACEPipeline
    from safetensors.torch import save_file
    from transformers import AutoTokenizer, UMT5EncoderModel

    model = options["model"]
    try:
        tokenizer = AutoTokenizer.from_pretrained(model, subfolder="tokenizer")
        encoder = UMT5EncoderModel.from_pretrained(model, subfolder="text_encoder", dtype=torch.float32)
    except (OSError, ValueError) as exc:
        from aivid.repair.backends.vace import model_not_found

        raise AividError(model, model_not_found(exc)) from None
    pipe = WanVACEPipeline(tokenizer=tokenizer, text_encoder=encoder, vae=None, scheduler=None, transformer=None)
    guided = float(options["guidance"]) > 1.0
    with torch.no_grad():
        positive, negative = pipe.encode_prompt(options["prompt"], options["negative_prompt"],
                                                do_classifier_free_guidance=guided,
                                                max_sequence_length=int(options["max_sequence_length"]),
                                                device=torch.device("cpu"))
    tensors = {"prompt": positive.contiguous()}
    if guided:
        tensors["negative"] = negative.contiguous()
    with atomic_output(out) as tmp:
        save_file(tensors, str(tmp))
    log.info("encoded prompt %r (negative %r) to %s", options["prompt"], options["negative_prompt"], out)


def load_prompts(path):
    from safetensors.torch import load_file

    return load_file(str(path))
