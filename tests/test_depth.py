"""Sources deeper than 8 bits keep their levels: frames are decoded, stored and repaired at 16
bits; lossless output is 16-bit RGB FFV1, bit-exact outside the repair; lossy output re-encodes
at the source's depth and chroma (H.264 High 10 and 4:2:2 GOPs joined with the copied ones)."""

import json
import subprocess

import numpy as np
import pytest
import yaml
from conftest import DILATE, FEATHER, snakemake

W, H, T = 160, 96, 30
BOX, FRAMES = [60, 30, 30, 24], [5, 28]
KINDS = {  # name: (file, ffmpeg encoder options): a camera's 10-bit H.264 and an editor's ProRes 422 HQ
    "high10": ("high10.mkv", ["-c:v", "libx264", "-pix_fmt", "yuv420p10le", "-crf", "4", "-g", "25"]),
    "prores": ("prores.mov", ["-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le"]),
}


def gradient(count):
    """A slowly panning smooth colour gradient at 16 bits: far more than 256 levels per channel."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    frames = []
    for t in range(count):
        v = (x + 1.5 * t) / (W + 80) * 0.8 + y / H * 0.15
        frames.append(np.clip(np.stack([v, 0.6 * v + 0.2, 1 - v], -1) * 65535, 0, 65535).astype("<u2"))
    return np.stack(frames)


def rgb48(path):
    """ffmpeg's own 16-bit RGB decode of `path` (the reference)."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb48le", "pipe:"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, "<u2").reshape(-1, H, W, 3)


def ffprobe(path, entries):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", f"stream={entries}",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)["streams"][0]


def make_run(root, kinds, frames, lossless, count=T):
    raw = gradient(count).tobytes()
    videos = {}
    for name, (file, args) in kinds.items():
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb48le", "-s", f"{W}x{H}", "-r", "25",
                        "-i", "pipe:", *args, str(root / file)], input=raw, check=True)
        videos[name] = {"path": str(root / file), "regions": [{"box": BOX, "frames": frames}]}
    config = {"videos": videos, "mask": {"dilate": DILATE, "feather": FEATHER}, "segments": {"seconds": 1},
              "inpaint": {"backend": "classical"}, "output": {"lossless": lossless, "preset": "veryfast"}}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(root)
    return root


@pytest.fixture(scope="module")
def deep_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("deep"), KINDS, FRAMES, lossless=True)


LOSSY = {  # name: (file, encoder options, what the output's video stream must be)
    "high10": (*KINDS["high10"], {"codec_name": "h264", "profile": "High 10", "pix_fmt": "yuv420p10le"}),
    "high422": ("high422.mp4", ["-c:v", "libx264", "-pix_fmt", "yuv422p", "-crf", "10", "-g", "25"],
                {"codec_name": "h264", "profile": "High 4:2:2", "pix_fmt": "yuv422p"}),
    "h444": ("h444.mp4", ["-c:v", "libx264", "-pix_fmt", "yuv444p", "-crf", "10", "-g", "25"],
             {"codec_name": "h264", "profile": "High 4:4:4 Predictive", "pix_fmt": "yuv444p"}),
    "prores": (*KINDS["prores"], {"codec_name": "prores", "profile": "HQ", "pix_fmt": "yuv422p10le"}),
    # a phone's HDR: HEVC 10-bit PQ with HDR10 static metadata, closed GOPs (smart-rendered), and
    # HLG with x265's default open GOPs (no safe cut but the first: every frame re-encoded, in HEVC)
    "hevc_pq": ("pq.mkv", ["-c:v", "libx265", "-pix_fmt", "yuv420p10le", "-x265-params",
                           "keyint=25:min-keyint=25:open-gop=0:scenecut=0:log-level=error:master-display=G(13250,34500)B(7500,3000)R(34000,16000)"
                           "WP(15635,16450)L(10000000,1):max-cll=1000,400", "-color_primaries", "bt2020",
                           "-color_trc", "smpte2084", "-colorspace", "bt2020nc"],
                {"codec_name": "hevc", "profile": "Main 10", "pix_fmt": "yuv420p10le"}),
    "hevc_hlg": ("hlg.mkv", ["-c:v", "libx265", "-pix_fmt", "yuv420p10le", "-x265-params", "keyint=25:log-level=error",
                             "-color_primaries", "bt2020", "-color_trc", "arib-std-b67", "-colorspace", "bt2020nc"],
                 {"codec_name": "hevc", "profile": "Main 10", "pix_fmt": "yuv420p10le"}),
}
HDR = ("MASTERING_DISPLAY_METADATA", "CONTENT_LIGHT_LEVEL")


def hdr_side_data(path):
    """The raw HDR side data of the first frame, as libavcodec (PyAV's, which reads it from H.264
    too) exports it: {type: bytes}."""
    import av

    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    side = frame.side_data
    side = side.values() if hasattr(side, "values") else side  # a mapping of type -> data from PyAV 18
    return {d.type.name: bytes(d) for d in side if d.type.name in HDR}


@pytest.fixture(scope="module")
def lossy_run(tmp_path_factory):
    kinds = {name: (file, args) for name, (file, args, _) in LOSSY.items()}
    return make_run(tmp_path_factory.mktemp("deep_lossy"), kinds, [5, 20], lossless=False, count=50)  # 2 GOPs


@pytest.mark.parametrize("kind", LOSSY)
def test_lossy_output_keeps_depth_and_chroma(lossy_run, kind):
    file, _, expected = LOSSY[kind]
    out_path = next((lossy_run / "results" / kind).glob("output.*"))
    assert out_path.suffix == "." + file.split(".")[1]  # the source's container
    assert ffprobe(out_path, "codec_name,profile,pix_fmt") == expected
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out_path), "-f", "null", "-"], capture_output=True,
                             text=True)
    assert decoded.returncode == 0 and decoded.stderr == ""  # re-encoded and copied GOPs are one stream
    source, out = rgb48(lossy_run / file), rgb48(out_path)
    x, y, w, h = BOX
    assert len(np.unique(out[5:20, y : y + h, x : x + w, 0])) > (20 if kind in ("high422", "h444") else 256)
    colour = "color_primaries,color_transfer,color_space,color_range"
    tagged = lambda tags: {k: v for k, v in tags.items() if (k, v) != ("color_range", "tv") or len(tags) > 1}
    # (x264 writes a range only with a colour description: a lone "tv", the default, reads as unset)
    assert tagged(ffprobe(out_path, colour)) == tagged(ffprobe(lossy_run / file, colour))
    assert hdr_side_data(out_path) == hdr_side_data(lossy_run / file)  # mastering display, light level
    if kind == "hevc_pq":
        assert set(hdr_side_data(out_path)) == set(HDR)
    if kind not in ("hevc_hlg",):  # smart render: the second segment's packets copied
        second = json.loads((lossy_run / "results" / kind / "segments.json").read_text())[1]["start"]
        assert np.array_equal(out[second:], source[second:])


@pytest.mark.parametrize("kind", KINDS)
def test_lossless_output_keeps_the_depth(deep_run, kind):
    source_path = deep_run / KINDS[kind][0]
    assert int(ffprobe(source_path, "bits_per_raw_sample")["bits_per_raw_sample"]) == 10
    out_path = deep_run / "results" / kind / "output.mkv"
    assert ffprobe(out_path, "codec_name,pix_fmt") == {"codec_name": "ffv1", "pix_fmt": "gbrp16le"}
    store = json.loads((deep_run / "results" / kind / "seg0" / "repaired.zarr" / ".zarray").read_text())
    assert store["dtype"] == "<u2"  # repaired at 16 bits
    source, out = rgb48(source_path), rgb48(out_path)
    reach = DILATE + FEATHER + 1
    x, y, w, h = BOX
    far = np.ones(source.shape[:3], bool)
    far[FRAMES[0] : FRAMES[1], y - reach : y + h + reach, x - reach : x + w + reach] = False
    assert np.array_equal(out[far], source[far])  # every untouched pixel, all 16 bits
    box = out[FRAMES[0] : FRAMES[1], y : y + h, x : x + w]
    assert not np.array_equal(box, source[FRAMES[0] : FRAMES[1], y : y + h, x : x + w])  # repaired
    assert len(np.unique(box[..., 0])) > 256  # more levels than 8 bits have ...
    assert not np.all(box % 257 == 0)  # ... and not 8-bit levels scaled up
