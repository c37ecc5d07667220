"""The interface every inpainting backend implements."""

import abc

import numpy as np


class InpaintBackend(abc.ABC):
    """Fill masked pixels of a temporal window of one region-of-interest tile.

    Subclasses implement `inpaint`; class attributes tell the planner their size rules.
    """

    #: tiles are grown to a multiple of this many pixels (where the frame allows)
    size_multiple = 1
    #: whether window k+1 is conditioned on window k's output (the DAG then chains them)
    chained = False
    #: whether window jobs should hold the `gpu` resource
    uses_gpu = False
    #: whether window jobs run inside Snakemake's own process (nothing heavy to load: a job costs
    #: its work, not a Python start-up); else each in a script of its own, in the rule's conda
    #: environment, where a model's memory goes when the job ends (see aivid.repair.plan.window_id)
    in_process = False

    def __init__(self, options):
        """`options`: a checked `inpaint` config section (aivid.workflow.config.section("inpaint", ...)),
        every key present: defaults live in the config schema only."""
        self.options = dict(options)
        self.stats = {}  # figures of the last `inpaint` call, for the report (e.g. colour error)

    @staticmethod
    def tile_size(options):
        """(width, height) a tile is grown to at least (a context crop), or None: just the masked
        regions and the plan's margin."""
        return None

    @staticmethod
    def frame_rule(a, b, lo, hi):
        """Adjust a window [a, b) inside the masked stretch's range [lo, hi); default: keep it."""
        return a, b

    @abc.abstractmethod
    def inpaint(self, frames, mask, context=None):
        """frames: (T, H, W, 3) uint8, or uint16 for a deeper source; mask: (T, H, W) bool (True = repair).

        `context` carries {"seed", "window", "tile", "prompt_embeds"}.  A chained backend's
        first frames may be the previous window's result, unmasked (aivid.repair.inpaint.condition).
        Returns (T, H, W, 3) of the frames' dtype; only masked pixels are used by the caller.
        """
        """Implemented by each subclass."""

    @staticmethod
    def check(frames, mask):
        frames, mask = np.asarray(frames), np.asarray(mask, bool)
        if frames.ndim != 4 or frames.shape[-1] != 3 or mask.shape != frames.shape[:3]:
            raise ValueError(f"frames {frames.shape} and mask {mask.shape} do not match")
        return frames, mask
