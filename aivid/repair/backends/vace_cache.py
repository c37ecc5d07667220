"""A step cache for Wan-VACE that skips the whole transformer stack, VACE blocks included.

diffusers' FirstBlockCache and MagCache skip the main blocks but not the VACE blocks, and on a
skipped step they add the VACE control hints on top of a residual that already holds them (the
hints count twice).  This cache decides TeaCache-style: it measures how much the first block's
modulated input changed since the last computed step (relative L1 distance, accumulated), and
while the accumulated change stays below `threshold` it reuses the residual the whole stack —
VACE hints and all — added to the hidden states last time.  Each call of a step (the conditional
and the unconditional pass) keeps its own state.  At threshold 0 every step is computed, with
exactly the operations of diffusers' forward, so the output is bit-identical to no cache.
"""

from types import MethodType

import torch
from diffusers.models.modeling_outputs import Transformer2DModelOutput


class StackCache:
    """Per-branch state: the last indicator, the last residual and the accumulated change."""

    def __init__(self, threshold):
        self.threshold = float(threshold)
        self.reset()

    def reset(self):
        self.branches, self.timestep, self.call, self.skipped = {}, None, 0, []

    def branch(self, timestep):
        """Which pass of the current step this call is (0 conditional, 1 unconditional, ...)."""
        value = float(timestep.flatten()[0])
        if self.timestep is not None and value > self.timestep:
            self.branches = {}  # timesteps only fall within a run: a new run started
        self.call = self.call + 1 if value == self.timestep else 0
        self.timestep = value
        return self.branches.setdefault(self.call, {"indicator": None, "residual": None, "change": 0.0})

    def can_skip(self, state, indicator):
        """True while the accumulated relative change of the indicator stays under the threshold."""
        previous, state["indicator"] = state["indicator"], indicator
        if previous is None or state["residual"] is None or self.threshold <= 0:
            return False
        change = ((indicator - previous).abs().mean() / previous.abs().mean().clamp_min(1e-12)).item()
        state["change"] += change
        if state["change"] < self.threshold:
            return True
        state["change"] = 0.0
        return False


def install_stack_cache(transformer, threshold):
    """Route `transformer`'s forward through the cache; returns the StackCache (reset per run)."""
    cache = StackCache(threshold)
    transformer.forward = MethodType(lambda self, *a, **k: cached_forward(self, cache, *a, **k), transformer)
    transformer.aivid_stack_cache = cache
    return cache


def first_block_input(model, hidden_states, timestep_proj):
    """The first block's modulated self-attention input: TeaCache's change indicator."""
    block = model.blocks[0]
    table = block.scale_shift_table.to(timestep_proj.device)  # may sit offloaded between steps
    shift, scale = (table + timestep_proj.float()).chunk(6, dim=1)[:2]
    return block.norm1(hidden_states.float()) * (1 + scale) + shift


def run_stack(model, hidden_states, encoder_hidden_states, control_hidden_states, scales, timestep_proj,
              rotary_emb):
    """VACE blocks make the hints, main blocks run with a hint added after each VACE layer."""
    hints = []
    for i, block in enumerate(model.vace_blocks):
        conditioning_states, control_hidden_states = block(
            hidden_states, encoder_hidden_states, control_hidden_states, timestep_proj, rotary_emb)
        hints.append((conditioning_states, scales[i]))
    hints = hints[::-1]
    for i, block in enumerate(model.blocks):
        hidden_states = block(hidden_states, encoder_hidden_states, timestep_proj, rotary_emb)
        if i in model.config.vace_layers:
            hint, scale = hints.pop()
            hidden_states = hidden_states + hint.to(hidden_states.device) * scale
    return hidden_states


def cached_forward(model, cache, hidden_states, timestep, encoder_hidden_states, encoder_hidden_states_image=None,
                   control_hidden_states=None, control_hidden_states_scale=None, return_dict=True,
                   attention_kwargs=None):
    """WanVACETransformer3DModel.forward (diffusers 0.42, inference path) with the stack cache."""
    batch_size, _, num_frames, height, width = hidden_states.shape
    p_t, p_h, p_w = model.config.patch_size
    if control_hidden_states_scale is None:
        control_hidden_states_scale = control_hidden_states.new_ones(len(model.config.vace_layers))
    scales = torch.unbind(control_hidden_states_scale)
    rotary_emb = model.rope(hidden_states)
    hidden_states = model.patch_embedding(hidden_states).flatten(2).transpose(1, 2)
    control_hidden_states = model.vace_patch_embedding(control_hidden_states).flatten(2).transpose(1, 2)
    padding = control_hidden_states.new_zeros(batch_size, hidden_states.size(1) - control_hidden_states.size(1),
                                              control_hidden_states.size(2))
    control_hidden_states = torch.cat([control_hidden_states, padding], dim=1)
    temb, timestep_proj, encoder_hidden_states, encoder_hidden_states_image = model.condition_embedder(
        timestep, encoder_hidden_states, encoder_hidden_states_image)
    timestep_proj = timestep_proj.unflatten(1, (6, -1))
    if encoder_hidden_states_image is not None:
        encoder_hidden_states = torch.concat([encoder_hidden_states_image, encoder_hidden_states], dim=1)

    state = cache.branch(timestep)
    skip = cache.can_skip(state, first_block_input(model, hidden_states, timestep_proj))
    cache.skipped.append(skip)
    if skip:
        hidden_states = hidden_states + state["residual"]
    else:
        before = hidden_states
        hidden_states = run_stack(model, hidden_states, encoder_hidden_states, control_hidden_states, scales,
                                  timestep_proj, rotary_emb)
        state["residual"] = hidden_states - before if cache.threshold > 0 else None

    shift, scale = (model.scale_shift_table.to(temb.device) + temb.unsqueeze(1)).chunk(2, dim=1)
    shift, scale = shift.to(hidden_states.device), scale.to(hidden_states.device)
    hidden_states = (model.norm_out(hidden_states.float()) * (1 + scale) + shift).type_as(hidden_states)
    hidden_states = model.proj_out(hidden_states)
    hidden_states = hidden_states.reshape(batch_size, num_frames // p_t, height // p_h, width // p_w, p_t, p_h, p_w, -1)
    output = hidden_states.permute(0, 7, 1, 4, 2, 5, 3, 6).flatten(6, 7).flatten(4, 5).flatten(2, 3)
    return (output,) if not return_dict else Transformer2DModelOutput(sample=output)
