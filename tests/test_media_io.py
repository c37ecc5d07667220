"""Probe, decode and encode against ffmpeg's own output, on real and generated clips."""

import json
import subprocess
from fractions import Fraction

import numpy as np
import pytest
import zarr
from conftest import ffmpeg_rgb

from aivid.media.decode import decode_to_zarr, iter_frame_blocks
from aivid.media.encode import EncodeSettings, encode_frames, encode_zarr
from aivid.errors import AividError
from aivid.media.probe import probe


def test_probe_real_clip(bikes):
    info = probe(bikes)
    assert (info.width, info.height, info.frames, info.fps) == (640, 272, 250, "25/1")
    assert info.codec == "h264" and info.bit_depth == 8 and not info.vfr and not info.has_audio


def test_probe_counts_frames_when_container_does_not(media):
    info = probe(media / "ffv1.mkv")  # Matroska does not store a frame count
    assert info.frames == 30 and info.fps == "24/1"


def test_probe_audio_and_rational_rate(media):
    info = probe(media / "ntsc.mp4")
    assert info.fps == "30000/1001" and info.has_audio and info.audio[0]["codec"] == "aac"


def test_decode_equals_ffmpeg_rgb24_bit_for_bit(bikes, tmp_path):
    decode_to_zarr(bikes, tmp_path / "v.zarr")
    stored = zarr.open_array(str(tmp_path / "v.zarr"))
    assert np.array_equal(stored[:], ffmpeg_rgb(bikes))
    assert stored.attrs["fps"] == "25/1"


@pytest.mark.parametrize("start,stop", [(0, 30), (30, 76), (31, 100), (137, 250), (249, 250)])
def test_range_decode_equals_slice_of_full_decode(bikes, tmp_path, start, stop):
    full = ffmpeg_rgb(bikes)
    decode_to_zarr(bikes, tmp_path / "r.zarr", start, stop)
    assert np.array_equal(zarr.open_array(str(tmp_path / "r.zarr"))[:], full[start:stop])


def test_range_decode_on_rational_rate(media, tmp_path):
    full = ffmpeg_rgb(media / "ntsc.mp4")
    blocks = [b.copy() for _, b in iter_frame_blocks(media / "ntsc.mp4", 13, 41)]
    assert np.array_equal(np.concatenate(blocks), full[13:41])


def test_several_ranges_read_by_one_ffmpeg_equal_ffmpegs_own_frames(bikes, media):
    """read_frame_ranges (the self-check's few frames here and there, one process) gives each
    range exactly what ffmpeg decodes there, on a B-frame clip and a rational-rate one."""
    from aivid.media.decode import read_frame_ranges

    for clip, ranges in ((bikes, [(0, 2), (37, 45), (200, 250)]), (media / "ntsc.mp4", [(5, 7), (13, 41)])):
        full = ffmpeg_rgb(clip)
        got = read_frame_ranges(clip, ranges, strict=True)
        assert [g.shape[0] for g in got] == [b - a for a, b in ranges]
        assert all(np.array_equal(g, full[a:b]) for g, (a, b) in zip(got, ranges))


@pytest.mark.parametrize("gop", ["closed", "open"])
def test_decoding_from_a_keyframe_jumps_straight_to_it(media, tmp_path, gop):
    """Any start decodes from the keyframe of its GOP (a fast seek to just before it: nothing of
    the GOP before is decoded) and is exact, with B-frames and with an open GOP (whose first
    pictures refer back across the keyframe)."""
    from conftest import ffmpeg

    from aivid.media.decode import exact_input

    src = tmp_path / f"{gop}.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x96:rate=30000/1001", "-frames:v", "90", "-c:v", "libx264",
           "-g", "24", "-bf", "3", "-x264-params", f"open-gop={int(gop == 'open')}", src)
    info, full = probe(src), ffmpeg_rgb(src)
    assert info.index.keyframes == [0, 24, 48, 72]
    if gop == "closed":
        assert info.index.safe_keys == [0, 24, 48, 72]
    else:  # keyframes whose leading B-frames refer back are no cut points
        assert 0 in info.index.safe_keys and set(info.index.safe_keys) < {0, 24, 48, 72}
    seconds = [ts * info.index.time_base for ts in info.index.pts]
    for key in info.index.keyframes[1:]:
        for start in (key, key + 1, key + 5):
            options, trim, _ = exact_input(info, start, start + 10)
            assert "noaccurate_seek" in options and trim["start_pts"] == info.index.pts[start]
            assert seconds[key] - 1e-6 <= float(options["ss"]) + info.start_time < seconds[key + 1]  # on the key
            blocks = [b.copy() for _, b in iter_frame_blocks(src, start, start + 10, info=info)]
            assert np.array_equal(np.concatenate(blocks), full[start : start + 10]), start


def test_lossless_round_trip_is_bit_exact(bikes, tmp_path):
    decode_to_zarr(bikes, tmp_path / "v.zarr")
    encode_zarr(tmp_path / "v.zarr", tmp_path / "out.mkv", EncodeSettings.from_config({"lossless": True}))
    assert np.array_equal(ffmpeg_rgb(tmp_path / "out.mkv"), ffmpeg_rgb(bikes))
    assert probe(tmp_path / "out.mkv").fps == "25/1"


def test_audio_and_exact_fps_survive_encode(media, tmp_path):
    src = media / "ntsc.mp4"
    decode_to_zarr(src, tmp_path / "v.zarr")
    encode_zarr(tmp_path / "v.zarr", tmp_path / "out.mp4", audio_from=src)
    out, ref = probe(tmp_path / "out.mp4"), probe(src)
    assert out.fps == "30000/1001" and out.frames == ref.frames and out.has_audio
    audio = lambda f: subprocess.run(["ffmpeg", "-v", "error", "-i", str(f), "-map", "0:a", "-c", "copy",
                                      "-f", "adts", "pipe:"], capture_output=True, check=True).stdout
    assert audio(tmp_path / "out.mp4") == audio(src)  # stream-copied, packet for packet


def test_colour_tags_are_kept(tmp_path):
    from conftest import ffmpeg

    src = tmp_path / "bt709.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=0x20a0e0:size=64x64:rate=25", "-frames:v", "10", "-c:v", "libx264",
           "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv", src)
    frames = ffmpeg_rgb(src)
    encode_frames(frames, tmp_path / "o.mp4", 64, 64, Fraction(25), source=probe(src).to_dict())
    out = probe(tmp_path / "o.mp4")
    assert (out.color_space, out.color_primaries, out.color_transfer, out.color_range) == ("bt709",) * 3 + ("tv",)
    err = np.abs(ffmpeg_rgb(tmp_path / "o.mp4").astype(int) - frames).mean()
    encode_frames(frames, tmp_path / "plain.mp4", 64, 64, Fraction(25))  # untagged: BT.601 matrix
    wrong = np.abs(ffmpeg_rgb(tmp_path / "plain.mp4", "-vf", "scale=in_color_matrix=bt709").astype(int) - frames).mean()
    assert err < 1.5 and wrong > 3 * err + 2


def test_encode_leaves_nothing_behind_on_failure(tmp_path):
    bad = (np.zeros((4, 10, 10, 3), np.uint8) for _ in range(1))
    with pytest.raises(AividError):
        encode_frames(bad, tmp_path / "o.mp4", 16, 16, 25)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name,problem", [
    ("text.mp4", "not a readable video"),
    ("empty.mp4", "empty"),
    ("audio.m4a", "no video stream"),
    ("missing.mp4", "no such file"),
    ("truncated.mp4", "file truncated: its header lists 100 frames"),
    ("cut_header.mp4", "not a readable video"),
])
def test_bad_input_is_one_clear_line(media, tmp_path, name, problem):
    out = tmp_path / "out.zarr"
    proc = subprocess.run(["aivid", "decode", str(media / name), str(out)], capture_output=True, text=True)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and problem in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cli_probe_decode_encode(bunny, tmp_path):
    info = json.loads(subprocess.run(["aivid", "probe", str(bunny)], capture_output=True, check=True).stdout)
    assert {"width": 1280, "height": 720, "frames": 132, "fps": "25/1", "has_audio": True}.items() <= info.items()
    subprocess.run(["aivid", "decode", str(bunny), str(tmp_path / "b.zarr"), "--start", "10", "--stop", "40"], check=True)
    subprocess.run(["aivid", "encode", str(tmp_path / "b.zarr"), str(tmp_path / "b.mkv"), "--lossless"], check=True)
    assert np.array_equal(ffmpeg_rgb(tmp_path / "b.mkv"), ffmpeg_rgb(bunny)[10:40])


def test_cli_start_up_does_not_import_heavy_modules():
    code = "import sys; from aivid.cli import main; bad = {'torch', 'diffusers', 'zarr', 'cv2'} & set(sys.modules); print(bad)"
    out = subprocess.run(["python", "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "set()"


def test_what_the_workflow_parses_with_and_a_window_job_starts_with_leaves_scipy_out():
    """scipy takes about 0.2 s to import: the Snakefile (aivid.repair.plan.window_of) and each
    window job's script (a Python start-up of its own) do without it."""
    code = ("import sys; import aivid.repair.plan, aivid.repair.inpaint, aivid.workflow.steps; "
            "print({m for m in sys.modules if m.split('.')[0] == 'scipy'})")
    out = subprocess.run(["python", "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "set()"
