"""The classical backend on real picture content with known answers."""

import numpy as np
import pytest

from aivid.repair.backends.classical import ClassicalBackend
from aivid.media.decode import iter_frame_blocks
from aivid.workflow.config import section


def psnr(a, b, where):
    err = ((a.astype(np.float64) - b.astype(np.float64)) ** 2)[where].mean()
    return 10 * np.log10(255**2 / max(err, 1e-12))


@pytest.fixture(scope="module")
def pan(bunny):
    """A camera pan: a 320x180 window sliding over a real 720p frame, 3 px right and 1 px down a frame."""
    still = next(iter_frame_blocks(bunny, 60, 61))[1][0].copy()
    return np.stack([still[200 + i : 380 + i, 300 + 3 * i : 620 + 3 * i] for i in range(30)])


def test_stationary_mask_under_camera_motion(pan):
    mask = np.zeros(pan.shape[:3], bool)
    mask[:, 60:120, 130:200] = True  # ~7% of the frame, never moving: the background slides past
    out = ClassicalBackend(section("inpaint", {})).inpaint(pan, mask)
    assert psnr(out, pan, mask) > 30
    assert np.array_equal(out[~mask], pan[~mask])


def test_transient_speck_is_close_to_perfect(pan):
    mask = np.zeros(pan.shape[:3], bool)
    mask[15, 50:56, 50:56] = True
    assert psnr(ClassicalBackend(section("inpaint", {})).inpaint(pan, mask), pan, mask) > 33


def test_what_no_frame_shows_is_filled_spatially():
    frames = np.full((5, 40, 40, 3), 120, np.uint8)
    mask = np.zeros((5, 40, 40), bool)
    mask[:, 15:25, 15:25] = True  # static camera, static mask: nothing to borrow
    frames[mask] = 0
    out = ClassicalBackend(section("inpaint", {})).inpaint(frames, mask)
    assert np.abs(out[mask].astype(int) - 120).max() <= 2
