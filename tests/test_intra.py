"""Intra-only sources (ProRes, DNxHR, MJPEG: every frame coded on its own, every frame a safe cut)
are smart-rendered frame by frame: only the frames a repair changes are re-encoded, with the
source's codec, profile and pixel format; every other packet is the source's, byte for byte.
Checked here with ffprobe's packet hashes and ffmpeg's own 16-bit decode."""

import json
import subprocess

import numpy as np
import pytest
import yaml
from conftest import DILATE, FEATHER, snakemake

W, H, T = 256, 144, 40  # DNxHR needs at least 256x120
BOX = [60, 40, 30, 24]
# two repairs in the first segment (frames 0-24) with untouched frames between, one in the second
REGIONS = [{"box": BOX, "frames": [5, 9]}, {"box": [150, 80, 24, 20], "frames": [14, 17]},
           {"box": BOX, "frames": [30, 33]}]
CHANGED = [*range(5, 9), *range(14, 17), *range(30, 33)]
KINDS = {  # name: (file, ffmpeg options): what editors and old cameras hand over
    "prores_hq": ("hq.mov", ["-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le", "-c:a", "pcm_s24le"]),
    "prores_4444": ("4444.mov", ["-c:v", "prores_ks", "-profile:v", "4", "-pix_fmt", "yuv444p10le", "-an"]),
    "dnxhr_hqx": ("hqx.mov", ["-c:v", "dnxhd", "-profile:v", "dnxhr_hqx", "-pix_fmt", "yuv422p10le", "-an"]),
    "mjpeg": ("mjpeg.avi", ["-c:v", "mjpeg", "-q:v", "3", "-pix_fmt", "yuvj422p", "-c:a", "pcm_s16le"]),
    # an archive's: FFV1 version 3, every frame a keyframe, slice CRCs (its setup is in the extradata)
    "ffv1": ("ffv1.mkv", ["-c:v", "ffv1", "-level", "3", "-g", "1", "-slices", "16", "-slicecrc", "1",
                          "-pix_fmt", "yuv422p10le", "-c:a", "flac"]),
}
DEEP = ("prores_hq", "prores_4444", "dnxhr_hqx", "ffv1")


def gradient(count):
    """A slowly panning smooth colour gradient at 16 bits, with a little texture."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    frames = []
    for t in range(count):
        v = (x + 1.5 * t) / (W + 80) * 0.8 + y / H * 0.15 + 0.02 * np.sin((x + 2 * t) / 5) * np.cos(y / 7)
        frames.append(np.clip(np.stack([v, 0.6 * v + 0.2, 1 - v], -1) * 65535, 0, 65535).astype("<u2"))
    return np.stack(frames)


def rgb48(path):
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb48le", "pipe:"],
                         capture_output=True, check=True)
    assert out.stderr == b"", out.stderr[-300:]  # decodes without a message
    return np.frombuffer(out.stdout, "<u2").reshape(-1, H, W, 3)


def ffprobe(path, what, select="v:0"):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", select, *what, "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def packets(path, select="v:0"):
    rows = ffprobe(path, ["-show_entries", "packet=pts,flags,data_hash", "-show_data_hash", "md5"], select)["packets"]
    return [(p.get("pts"), p["data_hash"]) for p in rows]


@pytest.fixture(scope="module")
def intra_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("intra")
    raw = gradient(T).tobytes()
    videos = {}
    for name, (file, args) in KINDS.items():
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb48le", "-s", f"{W}x{H}",
                        "-r", "25", "-i", "pipe:", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                        "-map", "0:v", "-map", "1:a?", "-shortest", *args, str(root / file)], input=raw, check=True)
        videos[name] = {"path": str(root / file), "regions": REGIONS}
    config = {"videos": videos, "mask": {"dilate": DILATE, "feather": FEATHER}, "segments": {"seconds": 1},
              "inpaint": {"backend": "classical"}}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(root)
    return root


@pytest.mark.parametrize("kind", KINDS)
def test_only_the_repaired_frames_are_reencoded(intra_run, kind):
    file = KINDS[kind][0]
    source, out = intra_run / file, intra_run / "results" / kind / f"output{file[file.index('.'):]}"
    stream = "stream=codec_name,profile,pix_fmt,codec_tag_string,color_range,color_space,color_primaries,color_transfer"
    if kind == "ffv1":  # the join's libavformat (PyAV's, newer) names FFV1 in Matroska natively (V_FFV1), not
        stream = stream.replace("codec_tag_string,", "")  # by the VfW FOURCC ffmpeg 5.1 wrote: both the same
    assert ffprobe(out, ["-show_entries", stream])["streams"] == ffprobe(source, ["-show_entries", stream])["streams"]
    src, got = packets(source), packets(out)
    assert [p for p, _ in got] == [p for p, _ in src]  # every frame, at its own time
    differ = [i for i, (a, b) in enumerate(zip(src, got)) if a[1] != b[1]]
    assert differ == CHANGED  # 10 of 40 frames re-encoded, every other packet the source's
    if "-an" not in KINDS[kind][1]:
        assert packets(out, "a:0") == packets(source, "a:0")  # audio copied
    piece = "piece.nut" if kind == "ffv1" else "piece.mov"  # a container that takes the codec
    pieces = {seg: len(packets(intra_run / "results" / kind / seg / piece)) for seg in ("seg0", "seg1")}
    assert pieces == {"seg0": 7, "seg1": 3}  # one piece holds its segment's two runs

    before, after = rgb48(source), rgb48(out)
    keep = [i for i in range(T) if i not in CHANGED]
    assert np.array_equal(after[keep], before[keep])  # copied frames decode exactly as the source's
    x, y, w, h = BOX
    box = lambda frames: frames[5:9, y: y + h, x: x + w]
    assert not np.array_equal(box(after), box(before))  # repaired
    far = np.ones((H, W), bool)
    reach = DILATE + FEATHER + 1
    for bx, by, bw, bh in [r["box"] for r in REGIONS]:
        far[by - reach: by + bh + reach, bx - reach: bx + bw + reach] = False
    diff = after[CHANGED][:, far].astype(float) - before[CHANGED][:, far]
    psnr = 10 * np.log10(65535.0 ** 2 / max(np.mean(diff ** 2), 1e-9))
    assert psnr > 40, psnr  # re-encoded frames: the source outside the repair
    if kind == "ffv1":  # lossless: exactly the source outside the repair
        assert np.array_equal(after[CHANGED][:, far], before[CHANGED][:, far])
    if kind in DEEP:  # the repair kept the depth: more levels than its 8-bit rounding, not 8-bit levels x257
        levels = box(after)[..., 0]
        assert len(np.unique(levels)) > 2 * len(np.unique(levels >> 8)) and not np.all(levels % 257 == 0)


def test_intra_piece_log_counts_the_frames(intra_run):
    log = (intra_run / "logs" / "prores_hq" / "seg0" / "piece_mov.log").read_text()
    assert "frames 5-9, 14-17 re-encoded, 18 of the segment's 25 frames stream-copied" in log
