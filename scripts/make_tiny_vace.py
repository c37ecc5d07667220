#!/usr/bin/env python3
"""Build a tiny random Wan2.1-VACE pipeline and save it in diffusers format (no downloads).

    python scripts/make_tiny_vace.py OUT_DIR [--loras LORA_DIR]

Transformer, VAE, scheduler, a tiny UMT5 text encoder and a tokenizer built with the `tokenizers`
library, with the same classes and file layout as Wan-AI/Wan2.1-VACE-1.3B-diffusers, so tests
load it through exactly the code path real weights take.  Sizes follow diffusers' own tests.
--loras also writes two random rank-4 LoRAs for it, in the two layouts LoRAs are shared in:
diffusers.safetensors (transformer.blocks.N.attn1.to_q.lora_A) and comfy.safetensors
(Kijai/ComfyUI: diffusion_model.blocks.N.self_attn.q.lora_down, with alphas).
"""

import argparse
from pathlib import Path

WORDS = ("<pad> </s> <unk> a the of and in on with video frame clean background scene remove "
         "repair dust scratch logo blurry low quality artifacts watermark text person sky wall").split()


def tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {word: i for i, word in enumerate(WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def tiny_pipeline(seed=0):
    import torch
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanVACEPipeline, WanVACETransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(seed)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    torch.manual_seed(seed)
    transformer = WanVACETransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=3, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=1024, vace_layers=[0, 2], vace_in_channels=96)
    torch.manual_seed(seed)
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(WORDS), d_model=32, d_kv=8, d_ff=37, num_layers=2,
                                               num_heads=4, relative_attention_num_buckets=8, pad_token_id=0,
                                               eos_token_id=1, decoder_start_token_id=0))
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    return WanVACEPipeline(tokenizer=tiny_tokenizer(), text_encoder=text_encoder, vae=vae,
                           transformer=transformer, scheduler=scheduler)


# (diffusers module, Wan original module, in features, out features) of the tiny transformer
LORA_LAYERS = [(f"attn1.{d}", f"self_attn.{o}", 24, 24) for d, o in
               zip(("to_q", "to_k", "to_v", "to_out.0"), "qkvo")] + [("ffn.net.0.proj", "ffn.0", 24, 32),
                                                                     ("ffn.net.2", "ffn.2", 32, 24)]


def tiny_loras(out, rank=4, blocks=3, seed=1):
    import torch
    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.randn(*shape, generator=gen) * 0.5
    diffusers_sd, comfy_sd = {}, {}
    for i in range(blocks):
        for ours, theirs, fan_in, fan_out in LORA_LAYERS:
            down, up = rand(rank, fan_in), rand(fan_out, rank)
            diffusers_sd[f"transformer.blocks.{i}.{ours}.lora_A.weight"] = down
            diffusers_sd[f"transformer.blocks.{i}.{ours}.lora_B.weight"] = up
            comfy_sd[f"diffusion_model.blocks.{i}.{theirs}.lora_down.weight"] = down.clone()
            comfy_sd[f"diffusion_model.blocks.{i}.{theirs}.lora_up.weight"] = up.clone() * 0.5
            comfy_sd[f"diffusion_model.blocks.{i}.{theirs}.alpha"] = torch.tensor(float(rank))
    out.mkdir(parents=True, exist_ok=True)
    save_file(diffusers_sd, str(out / "diffusers.safetensors"))
    save_file(comfy_sd, str(out / "comfy.safetensors"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--loras", type=Path, help="also write two tiny random LoRAs here")
    args = parser.parse_args()
    tiny_pipeline().save_pretrained(args.out)
    if args.loras:
        tiny_loras(args.loras)
    print(args.out)


if __name__ == "__main__":
    main()
