"""Facts about the published Wan2.1-VACE models, kept in one place.

The transformer configs are those of the published diffusers checkpoints (diffusers'
`scripts/convert_wan_to_diffusers.py`, model types `Wan-VACE-1.3B` and `Wan-VACE-14B`), so the
benchmark and the full-size test build the real architectures (their FLOPs, memory and cache
behaviour), and the trained canvases are what the models saw in training.
"""

_COMMON = dict(patch_size=(1, 2, 2), attention_head_dim=128, in_channels=16, out_channels=16, text_dim=4096,
               freq_dim=256, cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, added_kv_proj_dim=None,
               vace_in_channels=96)

ARCHITECTURES = {
    "1.3B": {**_COMMON, "num_attention_heads": 12, "ffn_dim": 8960, "num_layers": 30,
             "vace_layers": list(range(0, 30, 2))},  # 15 VACE blocks
    "14B": {**_COMMON, "num_attention_heads": 40, "ffn_dim": 13824, "num_layers": 40,
            "vace_layers": list(range(0, 40, 5))},  # 8 VACE blocks
}

#: (width, height) each model was trained at (landscape; portrait crops swap them)
TRAINED_SIZE = {"1.3B": (832, 480), "14B": (1280, 720)}

HUB_IDS = {"1.3B": "Wan-AI/Wan2.1-VACE-1.3B-diffusers", "14B": "Wan-AI/Wan2.1-VACE-14B-diffusers"}


def tokens(frames, height, width, patch=(1, 2, 2), vae_time=4, vae_space=8):
    """Transformer tokens of one window: latent frames x latent patches."""
    return ((frames - 1) // vae_time + 1) // patch[0] * (height // (vae_space * patch[1])) * (
        width // (vae_space * patch[2]))
