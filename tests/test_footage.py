"""Footage as it comes (tests/footage.py): each kind goes through the workflow with a small
classical repair, and the output is checked here with ffprobe, ffmpeg and numpy -- not by
trusting the workflow's own self-check: frame count, every timestamp, copied frames bit-identical,
re-encoded frames aligned, audio packets and the A/V offset, container, tags and orientation."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml
from conftest import SNAKEFILE, ffmpeg_rgb

import footage

BOX = (40, 30, 32, 24)  # x, y, w, h in displayed pixels
FRAMES = (30, 36)
# packets copied outside the repaired GOP (closed GOPs, a codec the output matches)
SMART = ["mp4", "mkv", "mov_pcm", "ntsc_mkv", "vfr", "vfr_switch", "rotate90", "rotate270", "anamorphic", "full_range",
         "interlaced", "audio_first", "trimmed", "hevc_closed"]
# every frame re-encoded, frame-exact: not matched yet, or (hevc: x265's open GOPs) no safe cut but the first
WHOLE = ["hevc", "webm", "av1", "avi_bframes"]
INTRA = ["prores_pcm", "avi_mjpeg"]  # intra-only codecs: only the repaired frames re-encoded, in the source's codec
FAMILY = {"hevc": "hevc", "webm": "vp9", "av1": "av1"}  # whole re-encodes in the source's codec family
KINDS = SMART + ["open_gop"] + INTRA + WHOLE


@pytest.fixture(scope="session")
def footage_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("footage")


def source_of(kind, folder):
    return footage.trimmed(folder) if kind == "trimmed" else footage.make(kind, folder)


def run_workflow(workdir, source, check=True):
    """Run the workflow on `source` (a path: the video "clip"; or {name: path}: all of them in one
    run, --keep-going, so one kind's failure leaves the others' outputs)."""
    sources = source if isinstance(source, dict) else {"clip": source}
    region = [{"box": list(BOX), "frames": list(FRAMES)}]
    config = {"videos": {name: {"path": str(path), "regions": region} for name, path in sources.items()},
              "segments": {"seconds": 1}, "inpaint": {"backend": "classical"}, "output": {"preset": "veryfast"}}
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--cores", "2"]
    cmd += ["--keep-going"] if isinstance(source, dict) else []
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr[-3000:])
    return proc


def probe(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
                         capture_output=True, check=True).stdout
    return json.loads(out)


def packets(path, select):
    """[(pts seconds, dts seconds or None, flags, hash)] of one stream, in file order."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", select, "-show_entries",
                          "packet=pts_time,dts_time,flags,data_hash", "-show_data_hash", "md5", "-of", "json",
                          str(path)], capture_output=True, check=True).stdout
    rows = []
    for p in json.loads(out)["packets"]:
        dts = p.get("dts_time")
        shown = p.get("pts_time", dts)  # AVI's B-frame packets: a dts only (frame n at n/fps)
        rows.append((float(shown), float(dts) if dts not in (None, "N/A") else None, p["flags"],
                     p["data_hash"]))
    return rows


def frames_rgb(path):
    info = [s for s in probe(path)["streams"] if s["codec_type"] == "video"][0]
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24",
                          "-fps_mode", "passthrough", "-"], capture_output=True, check=True)
    assert not out.stderr, out.stderr[-500:]  # decodes without a single error message
    rotated = any(abs(float(d.get("rotation", 0))) in (90, 270) for d in info.get("side_data_list", []))
    w, h = (info["height"], info["width"]) if rotated else (info["width"], info["height"])
    return np.frombuffer(out.stdout, np.uint8).reshape(-1, h, w, 3)


def luma_psnr(a, b):
    weights = np.array([0.299, 0.587, 0.114], np.float32)
    d = a.astype(np.float32) @ weights - b.astype(np.float32) @ weights
    mse = float(np.mean(d * d))
    return 99.0 if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def keyframes(path):
    shown = [p for p in packets(path, "v:0") if "D" not in p[2]]
    order = sorted(range(len(shown)), key=lambda i: shown[i][0])
    return sorted(r for r, i in enumerate(order) if "K" in shown[i][2])


def resent_only(source, out, at):
    """Whether the output's video packet shown at `at` seconds is the source's, byte for byte,
    after nothing but HEVC parameter sets (VPS, SPS, PPS; 4-byte lengths, as hvc1 MP4 has them)."""
    import av

    def packet(path):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            return next(bytes(p) for p in container.demux(stream)
                        if p.pts is not None and abs(float(p.pts * stream.time_base) - at) < 1e-4)

    src, got = packet(source), packet(out)
    if not got.endswith(src) or len(got) == len(src):
        return False
    prefix, types = got[: len(got) - len(src)], []
    while prefix:
        size = int.from_bytes(prefix[:4], "big")
        types.append((prefix[4] >> 1) & 0x3F)
        prefix = prefix[4 + size:]
    return set(types) == {32, 33, 34}


@pytest.fixture(scope="session")
def matrix(footage_dir, tmp_path_factory):
    """Every kind through one workflow run (one Snakemake start, both cores busy): its folder."""
    run = tmp_path_factory.mktemp("matrix")
    proc = run_workflow(run, {kind: source_of(kind, footage_dir) for kind in KINDS}, check=False)
    (run / "stderr.txt").write_text(proc.stderr)
    return run


@pytest.mark.parametrize("kind", KINDS)
def test_footage_comes_out_as_it_went_in(kind, footage_dir, matrix):
    source = source_of(kind, footage_dir)
    results = matrix / "results" / kind
    outputs = list(results.glob("output.*"))
    errors = [line for line in (matrix / "stderr.txt").read_text().splitlines() if kind in line and "error" in line]
    assert len(outputs) == 1, errors[:3]
    out = outputs[0]
    src_info, out_info = probe(source), probe(out)
    # the container is the source's (AVI cannot hold the H.264 a whole re-encode writes: Matroska)
    expected_format = "matroska,webm" if kind == "avi_bframes" else src_info["format"]["format_name"]
    assert out_info["format"]["format_name"] == expected_format
    assert out.suffix == (".mkv" if kind == "avi_bframes" else source.suffix)
    if kind in FAMILY:
        assert [s["codec_name"] for s in out_info["streams"] if s["codec_type"] == "video"] == [FAMILY[kind]]

    # every frame, at its source frame's presentation time (VFR stays VFR), DTS increasing
    src_v = [p for p in packets(source, "v:0") if "D" not in p[2]]
    out_v = [p for p in packets(out, "v:0") if "D" not in p[2]]
    assert len(out_v) == len(src_v)
    tick = 0.0011 if out.suffix in (".mkv", ".webm") else 1e-4
    assert np.allclose(sorted(p[0] for p in out_v), sorted(p[0] for p in src_v), atol=tick, rtol=0)
    dts = [p[1] for p in packets(out, "v:0") if p[1] is not None]
    assert all(b > a for a, b in zip(dts, dts[1:]))

    # audio: every packet copied, at its own time (the A/V offset of the source, exactly)
    src_a, out_a = packets(source, "a:0"), packets(out, "a:0")
    assert [p[3] for p in out_a] == [p[3] for p in src_a]  # Matroska keeps times in milliseconds
    assert np.allclose([p[0] for p in out_a], [p[0] for p in src_a], atol=tick, rtol=0)
    assert out_a[0][0] - out_v[0][0] == pytest.approx(src_a[0][0] - src_v[0][0], abs=tick)

    # tags and geometry
    sv = [s for s in src_info["streams"] if s["codec_type"] == "video"][0]
    ov = [s for s in out_info["streams"] if s["codec_type"] == "video"][0]
    for key in ("width", "height", "color_range", "sample_aspect_ratio", "field_order"):
        if kind in WHOLE and key == "color_range" and sv.get(key) == "tv":
            continue  # H.264 cannot say "limited" without a colour description: the default meaning
        same = {None: "progressive"} if key == "field_order" else {}  # no word for it: progressive
        if kind == "av1" and key == "sample_aspect_ratio":  # a stream muxed alone (remux._stream_like) says
            same = {None: "1:1"}  # no aspect: square pixels (an anamorphic AV1 source is refused at the join)
        assert same.get(ov.get(key), ov.get(key)) == same.get(sv.get(key), sv.get(key)), key
    if kind == "interlaced":  # every frame coded as the source's: interlaced, same field first
        fields = lambda path: subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
             "frame=interlaced_frame,top_field_first", "-of", "csv=p=0", str(path)],
            capture_output=True, text=True, check=True).stdout.replace(",\n", "\n").split()
        assert fields(out) == fields(source) and set(fields(source)) == {"1,0"}, set(fields(out))
    rotation = lambda s: [d.get("rotation") for d in s.get("side_data_list", []) if "rotation" in d]
    assert rotation(ov) == rotation(sv)
    same_container = out.suffix == source.suffix  # codec tags belong to a container
    kinds = lambda info: [(s["codec_type"], s.get("codec_name"), same_container and s.get("codec_tag_string"))
                          for s in info["streams"] if s["codec_type"] != "video" or kind not in WHOLE]
    assert kinds(out_info) == kinds(src_info)  # every stream: subtitles, a timecode track
    for s in src_info["streams"]:
        if s["codec_type"] == "subtitle":
            assert packets(out, f"{s['index']}") == packets(source, f"{s['index']}")
    a = [s for s in src_info["streams"] if s["codec_type"] == "audio"][0]
    b = [s for s in out_info["streams"] if s["codec_type"] == "audio"][0]
    assert (b["codec_name"], b["sample_rate"]) == (a["codec_name"], a["sample_rate"])

    # pixels: copied frames bit-identical, re-encoded ones aligned, the repair where it was asked
    src_px, out_px = frames_rgb(source), frames_rgb(out)
    assert out_px.shape == src_px.shape
    x, y, w, h = BOX
    far = np.ones(src_px.shape[1:3], bool)
    far[max(0, y - 16): y + h + 16, max(0, x - 16): x + w + 16] = False
    for i in range(len(src_px)):
        assert luma_psnr(out_px[i][far], src_px[i][far]) > 35, i
    changed = [i for i in range(len(src_px)) if not np.array_equal(out_px[i], src_px[i])]
    assert set(range(*FRAMES)) <= set(changed)
    if kind in SMART:
        # the packets that differ from the source's are one run of whole GOPs: from the keyframe of
        # the repair's GOP (or the one before, where the windows' context frames reach back) to
        # the keyframe after the repair; every other packet is the source's, byte for byte
        keys = keyframes(source)
        shown = lambda rows: [p[3] for p in sorted(rows)]  # hashes in presentation order
        differ = [i for i, (a, b) in enumerate(zip(shown(out_v), shown(src_v))) if a != b]
        if kind.startswith("hevc") and differ and resent_only(source, out, sorted(src_v)[differ[-1]][0]):
            differ = differ[:-1]  # the copied GOP after: its packet with the source's parameter sets again
        lo, hi = differ[0], differ[-1] + 1
        assert differ == list(range(lo, hi)), differ
        at = max(i for i, k in enumerate(keys) if k <= FRAMES[0])
        assert lo in ([0] + keys) and keys[max(0, at - 1)] <= lo <= keys[at], (lo, keys)
        assert hi == min([k for k in keys if k >= FRAMES[1]] + [len(src_px)]), (hi, keys)
        assert set(changed) <= set(range(lo, hi)), (lo, hi, changed)
    if kind in INTRA:  # the repaired frames' packets re-encoded, in the source's codec; every other copied
        assert [s["codec_name"] for s in out_info["streams"] if s["codec_type"] == "video"] == [sv["codec_name"]]
        assert ov.get("profile") == sv.get("profile") and ov["pix_fmt"] == sv["pix_fmt"]
        shown = lambda rows: [p[3] for p in sorted(rows)]
        differ = [i for i, (a, b) in enumerate(zip(shown(out_v), shown(src_v))) if a != b]
        assert differ == list(range(*FRAMES)), differ


def test_odd_size_is_refused_before_any_work(footage_dir, tmp_path):
    proc = run_workflow(tmp_path, source_of("odd_size", footage_dir), check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("aivid: error")]
    assert len(lines) == 1 and "191x107 has an odd side" in lines[0], proc.stderr[-1500:]
    assert "Traceback" not in proc.stderr
    assert not [p for p in tmp_path.glob("results/clip/seg*") if p.is_dir()]  # no job ran


def test_any_character_in_names(footage_dir, tmp_path):
    """An apostrophe, a colon and a leading dash in the run folder and the source's name."""
    odd = tmp_path / "it's: a run"
    odd.mkdir()
    source = odd / "-clip 'one'.mp4"
    shutil.copy(source_of("mp4", footage_dir), source)
    run_workflow(odd / "run", source)
    assert len(packets(odd / "run" / "results" / "clip" / "output.mp4", "v:0")) == 60
    # x264 wrote its reconstruction beside the piece (its path escaped in x264-params), and the check used it
    joined = (odd / "run" / "logs" / "clip" / "concat_mp4.log").read_text()
    assert "the encoder's reconstruction of the very packets written" in joined, joined
    assert not list((odd / "run" / "results").rglob(".recon*"))  # the raw dump is gone


def encode_piece(source, first, count, out):
    """Frames [first, first + count) of `source`, re-encoded as a join piece (MPEG-TS, SPS id 1)."""
    stamps = [p[0] for p in packets(source, "v:0") if "D" not in p[2]]
    at = (sorted(stamps)[first - 1] + sorted(stamps)[first]) / 2
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", f"{at:.6f}", "-i", str(source), "-frames:v", str(count),
                    "-c:v", "libx264", "-x264-params", "sps-id=1", "-an", "-f", "mpegts", str(out)], check=True)


@pytest.mark.parametrize("broken", ["one frame late", "a frame dropped", "piece and capture a frame late",
                                    "reconstruction a frame late"])
def test_self_check_stops_a_broken_join(footage_dir, tmp_path, broken):
    """The repaired GOP's piece replaced by one a frame late (what a float seek that rounds to the
    neighbour makes) or one frame short: the join stops with one line and leaves no output.  The
    check takes the source's side of a re-encoded span from what the piece's encode decoded (its
    capture): a piece that re-encoded the wrong frames has a capture of those, and the check's own
    decode of the span's first frames tells it.  The output's side of the span after its first two
    frames comes from x264's reconstruction: where that is off (its first two frames still right),
    the check finds it too."""
    import cv2

    source = source_of("mp4", footage_dir)
    run_workflow(tmp_path, source)
    out, piece = tmp_path / "results" / "clip" / "output.mp4", tmp_path / "results" / "clip" / "seg1" / "piece.ts"
    capture, recon = piece.parent / "check.25-50.luma", piece.parent / "recon.25-50.luma"
    # the piece kept the source's side, luma at full size: the span's 25 frames and the 9 the check compares after it
    assert capture.stat().st_size == 34 * 108 * 192
    assert recon.stat().st_size == 25 * 108 * 192  # and its encoder's reconstruction
    joined = (tmp_path / "logs" / "clip" / "concat_mp4.log").read_text()
    assert "frames 27-50: the encoder's reconstruction of the very packets written" in joined, joined
    late = broken not in ("a frame dropped", "reconstruction a frame late")
    if broken == "reconstruction a frame late":
        frames = np.fromfile(recon, np.uint8).reshape(25, 108, 192)
        frames[2:-1] = frames[3:].copy()
        frames.tofile(recon)
    else:
        encode_piece(source, 26 if late else 25, 25 if late else 24, piece)
    if broken == "piece and capture a frame late":  # as if the piece's own reading had been off
        frames = ffmpeg_rgb(source)[26:60]
        capture.write_bytes(np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]).tobytes())
    out.unlink()
    proc = run_workflow(tmp_path, source, check=False)
    assert proc.returncode != 0 and not out.exists()
    lines = [line for line in proc.stderr.splitlines() if line.startswith("aivid: error")]
    assert len(set(lines)) == 1, proc.stderr[-2000:]
    if broken in ("one frame late", "reconstruction a frame late"):
        assert "self-check" in lines[0] and "dB" in lines[0], lines
        assert broken == "one frame late" or "frame 27 " in lines[0], lines
    elif late:
        assert "are not the source's" in lines[0], lines
    else:
        assert "holds 24 frames" in lines[0], lines
    assert not [p for p in out.parent.glob("*output*")]


@pytest.mark.parametrize("broken", ["GOPs swapped", "a packet dropped"])
def test_self_check_finds_a_broken_output(footage_dir, tmp_path, broken):
    """An output whose GOPs 25-50 and 50-60 were swapped (timestamps kept) fails the check of
    copied packets, one with a packet left out the frame count; the source itself passes."""
    import av

    from aivid.errors import AividError
    from aivid.media.probe import probe as aivid_probe
    from aivid.output.check import check_output

    source = source_of("mp4", footage_dir)
    info = aivid_probe(source)
    assert check_output(info, source, [], whole=False) == []
    path = tmp_path / "broken.mp4"
    with av.open(str(source)) as src, av.open(str(path), "w") as dst:
        video = src.streams.video[0]
        out = dst.add_stream_from_template(video)
        out.time_base = video.time_base
        rows = [(bytes(p), p.pts, p.dts, p.is_keyframe) for p in src.demux(video) if p.size]
        keys = [i for i, r in enumerate(rows) if r[3]]  # decode positions of the GOPs
        gop = lambda k: rows[keys[k]: keys[k + 1] if k + 1 < len(keys) else len(rows)]
        data = [r[0] for r in gop(0)] + [r[0] for r in gop(2)] + [r[0] for r in gop(1)]
        if broken == "a packet dropped":
            data, rows = [r[0] for r in rows], rows[:40] + rows[41:]
            data = data[:40] + data[41:]
        for (_, pts, dts, key), payload in zip(rows, data):
            packet = av.Packet(payload)
            packet.stream, packet.time_base, packet.pts, packet.dts, packet.is_keyframe = out, video.time_base, pts, dts, key
            dst.mux(packet)
    message = "copied packet of frame 25 differs" if broken == "GOPs swapped" else "has 59 video frames"
    with pytest.raises(AividError, match=message):
        check_output(info, path, [], whole=False)
