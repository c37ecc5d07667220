"""LazyVideo indexes like numpy, reads only what it touches and writes through."""

import numpy as np
import pytest
import torch

from aivid.media.decode import decode_to_zarr
from aivid.media.lazy import LazyVideo


@pytest.fixture(scope="module")
def video(bikes, tmp_path_factory):
    path = tmp_path_factory.mktemp("lazy") / "bikes.zarr"
    decode_to_zarr(bikes, path)
    return LazyVideo.open(path)


KEYS = [np.s_[3:40:3, 10:100, 5:300:7], np.s_[5], np.s_[::-1, ::-2, 4], np.s_[..., 1], np.s_[[3, 1, 7]],
        np.s_[-5:, -3], np.s_[100:120, 50, 60:70, 0], np.s_[:, :, :, ::-1]]


@pytest.mark.parametrize("key", KEYS)
def test_views_equal_numpy_slicing(video, key):
    full = np.asarray(video)
    assert np.array_equal(np.asarray(video[key]), full[key])


def test_views_compose_lazily(video):
    full = np.asarray(video)
    view = video[10:100][5:50:2, 20:200][3:, :, 10]
    assert isinstance(view, LazyVideo) and view.shape == full[10:100][5:50:2, 20:200][3:, :, 10].shape
    assert np.array_equal(view.numpy(), full[10:100][5:50:2, 20:200][3:, :, 10])


def test_reads_only_touched_chunks(video, monkeypatch):
    import zarr.storage

    touched = []
    original = zarr.storage.LocalStore.get

    async def spy(self, key, *args, **kwargs):
        touched.append(key)
        return await original(self, key, *args, **kwargs)

    monkeypatch.setattr(zarr.storage.LocalStore, "get", spy)
    video[9:12, 0:40, 0:40].numpy()  # frames 9-11 lie in time chunk 1; pixels in tile (0, 0)
    chunks = [k for k in touched if not k.startswith(".z")]
    assert chunks == ["1.0.0.0"]


def test_torch_layout_and_scaling(video):
    t = video[0:2, 0:8, 0:4].torch(torch.float32)
    assert t.shape == (2, 3, 8, 4) and t.dtype == torch.float32
    assert torch.allclose(t[1, :, 3, 2] * 255, torch.tensor(np.asarray(video[1, 3, 2]), dtype=torch.float32))


def test_fps_and_iteration(video):
    assert video.fps == 25 and len(video) == 250
    frames = list(video[0:20])
    assert len(frames) == 20 and np.array_equal(frames[13], np.asarray(video[13]))
    blocks = list(video.iter_blocks())
    assert sum(len(b) for _, b in blocks) == 250


def test_write_through_and_masks(tmp_path):
    mask = LazyVideo.create(tmp_path / "m.zarr", (20, 30, 40, 1), 25)
    mask[2:5, 3:9] = 255
    mask[7, :, 10:12, 0] = np.full((30, 2), 9)
    expect = np.zeros((20, 30, 40, 1), np.uint8)
    expect[2:5, 3:9] = 255
    expect[7, :, 10:12, 0] = 9
    reopened = LazyVideo.open(tmp_path / "m.zarr")
    assert reopened.shape == (20, 30, 40, 1) and np.array_equal(reopened.numpy(), expect)


def test_concatenation_is_virtual_and_writable(tmp_path):
    a = LazyVideo.create(tmp_path / "a.zarr", (10, 8, 8, 3), 24)
    b = LazyVideo.create(tmp_path / "b.zarr", (6, 8, 8, 3), 24)
    a[:] = 1
    b[:] = 2
    joined = LazyVideo.concat([a, b])
    assert joined.shape == (16, 8, 8, 3) and joined.fps == 24
    assert np.asarray(joined[8:12, 0, 0, 0]).tolist() == [1, 1, 2, 2]
    joined[9:11] = 7
    assert a.numpy()[9].max() == 7 and b.numpy()[0].max() == 7 and b.numpy()[1].max() == 2
