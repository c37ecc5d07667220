"""VACE is given what it was trained on: recorded from the real (tiny) pipeline's own call."""

import logging

import cv2
import numpy as np
import pytest
from conftest import TINY

from aivid.errors import AividError
from aivid.repair.backends.vace import VaceBackend, check_diffusers, load_pipeline
from aivid.repair.plan import tiles_for
from aivid.workflow.config import section


@pytest.fixture
def received(tiny_model, monkeypatch):
    """What each call of the loaded WanVACEPipeline receives (the call itself still runs)."""
    calls = []

    def backend(**options):
        options = section("inpaint", {"model": str(tiny_model), **TINY, **options})
        pipe_class = type(load_pipeline(options))
        original = pipe_class.__call__

        def recording(self, *args, **kwargs):
            calls.append(kwargs)
            return original(self, *args, **kwargs)

        monkeypatch.setattr(pipe_class, "__call__", recording)
        return VaceBackend(options)

    return backend, calls


@pytest.fixture(scope="module")
def embeds(tiny_model, tmp_path_factory):
    from aivid.repair.prompts import encode_prompts, load_prompts

    path = tmp_path_factory.mktemp("prompts") / "p.safetensors"
    encode_prompts(section("inpaint", {"model": str(tiny_model), "max_sequence_length": 16}), path)
    return load_prompts(path)


def footage(bikes, count, height, width):
    from aivid.media.decode import read_frames

    return np.ascontiguousarray(read_frames(bikes, 0, count)[:, :height, :width])


def test_masked_pixels_are_grey_unmasked_ones_the_source_and_a_1px_speck_survives(received, embeds, bikes):
    make, calls = received
    backend = make()
    frames = footage(bikes, 9, 64, 96)  # 96x64 > max_area 48x64: the tile is shrunk
    mask = np.zeros((9, 64, 96), bool)
    mask[:, 20:36, 30:50] = True  # a logo
    mask[4, 51, 77] = True  # a one-pixel speck, one frame
    backend.inpaint(frames, mask, {"prompt_embeds": embeds, "window": {"id": "w"}, "tile": 0})
    (call,) = calls
    width, height = call["width"], call["height"]
    assert (width, height) != (96, 64)  # it was scaled
    video = np.stack([np.asarray(f) for f in call["video"]])[:9]
    holes = np.stack([np.asarray(m) for m in call["mask"]])[:9] > 127
    for t in range(9):
        scaled = cv2.resize(frames[t], (width, height), interpolation=cv2.INTER_AREA)
        assert (video[t][holes[t]] == 128).all()  # the defect is never shown to the model
        assert np.array_equal(video[t][~holes[t]], scaled[~holes[t]])
    speck = holes[4] & ~holes[3]  # frame 3 has only the logo
    assert speck.any(), "the 1-px speck vanished from the working mask"
    ys, xs = np.nonzero(speck)
    assert abs(ys.mean() - 51 * height / 64) < 2 and abs(xs.mean() - 77 * width / 96) < 2


def test_a_tile_of_a_1080p_frame_is_worked_at_the_trained_size(received, embeds, bikes, caplog):
    footprint = np.zeros((1080, 1920), bool)
    footprint[600:630, 1400:1440] = True  # a 40x30 defect
    (tile,) = tiles_for(footprint, 48, 16, section("inpaint")["crop"])
    x, y, w, h = tile
    assert (w, h) == (832, 480) and x <= 1400 and x + w >= 1440 and y <= 600 and y + h >= 630
    make, calls = received
    backend = make(max_area=section("inpaint")["max_area"], min_side=section("inpaint")["min_side"], steps=1)
    frames = np.zeros((5, h, w, 3), np.uint8)
    frames[:] = cv2.resize(footage(bikes, 1, 272, 640)[0], (w, h))
    mask = np.zeros((5, h, w), bool)
    mask[:, 200:230, 300:340] = True
    with caplog.at_level(logging.INFO, logger="aivid"):
        backend.inpaint(frames, mask, {"prompt_embeds": embeds, "window": {"id": "w"}, "tile": 0})
    assert (calls[0]["width"], calls[0]["height"]) == (832, 480)  # no scaling: native pixels
    assert "worked at 832x480, 3120 transformer tokens" in caplog.text


def test_a_diffusers_outside_the_tested_range_is_refused_in_one_line():
    check_diffusers()  # the installed one
    with pytest.raises(AividError) as err:
        check_diffusers("0.39.0")
    assert "\n" not in str(err.value) and "pip install 'diffusers" in str(err.value)
