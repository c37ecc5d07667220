#!/usr/bin/env python3
"""Build a tiny random SAM3 video model and save it in transformers format (no downloads).

    python scripts/make_tiny_sam3.py OUT_DIR

The same class and files as facebook/sam3 (Sam3VideoModel's config.json and model.safetensors,
and a CLIP tokenizer's tokenizer.json), at an input size of 224 instead of 1008 and a few
channels per layer, so tests load it through exactly the `from_pretrained` path real weights take
(aivid.masks.track.Sam3TextTracker for words, Sam2Tracker through Sam3TrackerVideoModel for a
box).  The tokenizer knows single letters only (a real one has 49,408 byte-pair tokens).  Its
detection thresholds are lowered so that its random detector reports objects at all; its masks
are random, not segmentations.
"""

import argparse
import string
from pathlib import Path

SIZE, PATCH, WIDTH = 224, 14, 128  # square input, ViT patch, width of the detector's heads and the tracker


def tiny_config():
    from transformers import Sam3VideoConfig
    from transformers.models.sam3.configuration_sam3 import (
        Sam3Config,
        Sam3DETRDecoderConfig,
        Sam3DETREncoderConfig,
        Sam3GeometryEncoderConfig,
        Sam3MaskDecoderConfig,
        Sam3VisionConfig,
        Sam3ViTConfig,
    )

    backbone = Sam3ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                             image_size=SIZE, patch_size=PATCH, window_size=8, global_attn_indexes=[0, 1])
    vision = Sam3VisionConfig(backbone_config=backbone, fpn_hidden_size=WIDTH, scale_factors=[4.0, 2.0, 1.0, 0.5])
    text = {"vocab_size": 64, "hidden_size": 32, "intermediate_size": 64, "projection_dim": 32,
            "num_hidden_layers": 1, "num_attention_heads": 4, "max_position_embeddings": 32, "hidden_act": "gelu",
            "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1}
    heads = {"num_attention_heads": 4, "intermediate_size": 64}
    detector = Sam3Config(
        vision_config=vision, text_config=text,
        geometry_encoder_config=Sam3GeometryEncoderConfig(hidden_size=WIDTH, num_layers=1, mask_fuser_hidden_size=WIDTH,
                                                          mask_fuser_num_layers=1, **heads),
        detr_encoder_config=Sam3DETREncoderConfig(hidden_size=WIDTH, num_layers=1, **heads),
        detr_decoder_config=Sam3DETRDecoderConfig(hidden_size=WIDTH, num_layers=1, num_queries=5, **heads),
        mask_decoder_config=Sam3MaskDecoderConfig(hidden_size=WIDTH, num_upsampling_stages=2))
    tracker = {"model_type": "sam3_tracker_video", "vision_config": vision.to_dict(), "image_size": SIZE,
               "prompt_encoder_config": {"hidden_size": WIDTH, "image_size": SIZE, "patch_size": PATCH},
               "mask_decoder_config": {"hidden_size": WIDTH, "mlp_dim": 64, "num_attention_heads": 2,
                                       "iou_head_hidden_dim": 32},
               "memory_attention_hidden_size": WIDTH, "memory_attention_num_layers": 1,
               "memory_attention_feed_forward_hidden_size": 64,
               "memory_attention_rope_feat_sizes": [SIZE // PATCH, SIZE // PATCH], "memory_encoder_hidden_size": WIDTH,
               "mask_downsampler_embed_dim": WIDTH, "memory_fuser_embed_dim": WIDTH,
               "memory_fuser_intermediate_dim": 64, "num_maskmem": 3, "max_object_pointers_in_encoder": 4}
    # random scores sit near 0.25: thresholds below that, and few objects, so the path is exercised
    return Sam3VideoConfig(detector_config=detector.to_dict(), tracker_config=tracker,
                           low_res_mask_size=4 * SIZE // PATCH, score_threshold_detection=0.2, new_det_thresh=0.2,
                           hotstart_delay=2, hotstart_unmatch_thresh=1, hotstart_dup_thresh=1, max_num_objects=3)


def tiny_tokenizer():
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in string.ascii_lowercase + " ":
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    args = parser.parse_args()
    import torch
    from transformers import Sam3VideoModel

    torch.manual_seed(0)
    model = Sam3VideoModel(tiny_config()).eval()
    out = Path(args.out)
    model.save_pretrained(out)
    tiny_tokenizer().save_pretrained(out)
    print(f"tiny SAM3 video model ({sum(p.numel() for p in model.parameters()):,} parameters) in {out}")


if __name__ == "__main__":
    main()
