#!/usr/bin/env python3
"""Build a tiny random SAM2 video model and save it in transformers format (no downloads).

    python scripts/make_tiny_sam2.py OUT_DIR

The same class and files as facebook/sam2.1-hiera-small (Sam2VideoModel's config.json and
model.safetensors), at an input size of 256 instead of 1024 and a few channels per layer, so
tests load it through exactly the `from_pretrained` path real weights take
(aivid.masks.track.Sam2Tracker; aivid prepares frames itself, as Sam2VideoProcessor would, since
that processor needs torchvision).  Its masks are random, not segmentations.
"""

import argparse
from pathlib import Path

SIZE = 256  # the model's square input; the real checkpoints use 1024


def tiny_config():
    from transformers import Sam2VideoConfig

    backbone = {"model_type": "sam2_hiera_det_model", "image_size": [SIZE, SIZE], "hidden_size": 16,
                "blocks_per_stage": [1, 1, 2, 1], "embed_dim_per_stage": [16, 32, 64, 128],
                "num_attention_heads_per_stage": [1, 1, 2, 2], "window_size_per_stage": [8, 4, 4, 4],
                "global_attention_blocks": [3], "window_positional_embedding_background_size": [4, 4]}
    features = [[SIZE // 4, SIZE // 4], [SIZE // 8, SIZE // 8], [SIZE // 16, SIZE // 16]]
    vision = {"model_type": "sam2_vision_model", "backbone_config": backbone,
              "backbone_channel_list": [128, 64, 32, 16], "backbone_feature_sizes": features, "fpn_hidden_size": 128}
    # widths of 128: the decoder's object pointers are split into width / 64 memory tokens (64
    # channels, fixed in transformers), and transformers handles only a split into two or more
    return Sam2VideoConfig(
        vision_config=vision, image_size=SIZE,
        prompt_encoder_config={"hidden_size": 128, "image_size": SIZE, "patch_size": 16},
        mask_decoder_config={"hidden_size": 128, "mlp_dim": 64, "num_attention_heads": 2, "iou_head_hidden_dim": 32},
        memory_attention_hidden_size=128, memory_attention_num_layers=1, memory_attention_feed_forward_hidden_size=64,
        memory_attention_rope_feat_sizes=[SIZE // 16, SIZE // 16], memory_encoder_hidden_size=128,
        mask_downsampler_embed_dim=128, memory_fuser_embed_dim=128,
        memory_fuser_intermediate_dim=64, num_maskmem=3, max_object_pointers_in_encoder=4,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    args = parser.parse_args()
    import torch
    from transformers import Sam2VideoModel

    torch.manual_seed(0)
    model = Sam2VideoModel(tiny_config()).eval()
    out = Path(args.out)
    model.save_pretrained(out)
    print(f"tiny SAM2 video model ({sum(p.numel() for p in model.parameters()):,} parameters) in {out}")


if __name__ == "__main__":
    main()
