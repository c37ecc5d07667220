#!/usr/bin/env python3
"""Build a tiny random Wan2.1-VACE pipeline and save it in diffusers format (no downloads).

    python scripts/make_tiny_vace.py OUT_DIR

Transformer, VAE, scheduler, a tiny UMT5 text encoder and a tokenizer built with the `tokenizers`
library, with the same classes and file layout as Wan-AI/Wan2.1-VACE-1.3B-diffusers, so tests
load it through exactly the code path real weights take.  Sizes follow diffusers' own tests.
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
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32, vace_layers=[0, 2], vace_in_channels=96)
    torch.manual_seed(seed)
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(WORDS), d_model=32, d_kv=8, d_ff=37, num_layers=2,
                                               num_heads=4, relative_attention_num_buckets=8, pad_token_id=0,
                                               eos_token_id=1, decoder_start_token_id=0))
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    return WanVACEPipeline(tokenizer=tiny_tokenizer(), text_encoder=text_encoder, vae=vae,
                           transformer=transformer, scheduler=scheduler)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    tiny_pipeline().save_pretrained(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
