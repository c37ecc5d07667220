"""Automatic defect masks on generated footage with known defects, and `aivid automask`."""

import json
import subprocess

import numpy as np
import pytest
from conftest import ffmpeg


@pytest.fixture(scope="module")
def panning(bunny, tmp_path_factory):
    """A camera pan over real footage (a 320x192 window sliding 3 px a frame), 40 frames of luma."""
    root = tmp_path_factory.mktemp("pan")
    ffmpeg("-i", bunny, "-frames:v", "40", "-vf", "crop=320:192:'200+3*n':200,format=gray", "-c:v", "ffv1",
           root / "pan.mkv")
    from aivid.decode import iter_frame_blocks

    return np.concatenate([b[..., 0] for _, b in iter_frame_blocks(root / "pan.mkv", pix_fmt="gray")])


def with_defects(clean):
    video = clean.copy()
    specks = [(10, 50, 60), (20, 120, 200), (30, 90, 150)]  # (frame, y, x): 3x3 dark/bright dots
    for t, y, x in specks:
        video[t, y - 1 : y + 2, x - 1 : x + 2] = 0 if clean[t, y, x] > 110 else 255
    video[25, 30:90, 250:252] = 255  # a one-frame scratch
    video[:, 170, 20] = 255  # a stuck pixel
    logo = np.zeros(clean.shape[1:], bool)
    logo[12:40, 230:300] = True  # a semi-transparent box "logo" with a hard outline
    video[:, logo] = (0.5 * video[:, logo] + 0.5 * 240).astype(np.uint8)
    return video, specks, logo


def test_detectors_find_injected_defects_and_little_else(panning):
    from aivid.automask import detect_span

    video, specks, logo = with_defects(panning)
    found = detect_span(video, {})
    for t, y, x in specks:
        assert found[t, y - 1 : y + 2, x - 1 : x + 2].mean() >= 0.5, (t, y, x)
    assert found[25, 30:90, 250:252].mean() > 0.5
    assert found[20, 168:173, 18:23].any()  # stuck pixel
    assert found[20][logo].mean() > 0.5  # the overlay, in a frame with no transient defect
    truth = np.zeros(video.shape, bool)
    truth[:, 9:43, 227:303] = True  # the overlay and 3 px around it (its edges' gradient reaches out)
    truth[:, 160:181, 10:31] = True
    truth[25, 20:100, 240:262] = True
    for t, y, x in specks:
        truth[t, y - 8 : y + 9, x - 8 : x + 9] = True
    assert (found & ~truth).mean() < 0.002
    assert detect_span(panning, {}).mean() < 0.002  # the clean clip: almost nothing


def test_nothing_is_flagged_in_excluded_boxes(panning):
    from aivid.automask import detect_span

    video, _, _ = with_defects(panning)
    found = detect_span(video, {"exclude": [[200, 0, 120, 60]], "detectors": ["static"]})
    assert not found[:, 0:60, 200:320].any()


def test_automask_command_writes_a_grey_mask_video_and_a_preview(bunny, tmp_path):
    ffmpeg("-i", bunny, "-frames:v", "30", "-vf", "crop=320:192:'200+3*n':200,drawbox=x=100:y=80:w=3:h=3:"
           "color=white:t=fill:enable='eq(n,12)'", "-c:v", "libx264", "-crf", "10", tmp_path / "clip.mp4")
    out = subprocess.run(["aivid", "automask", str(tmp_path / "clip.mp4"), "-o", str(tmp_path / "mask.mkv"),
                          "--preview", str(tmp_path / "sheet.png"), "--span", "16"],
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["frames"] == 30
    from aivid.decode import iter_frame_blocks
    from aivid.probe import probe

    info = probe(tmp_path / "mask.mkv")
    assert (info.width, info.height, info.frames, info.fps) == (320, 192, 30, "25/1")
    mask = np.concatenate([b[..., 0] for _, b in iter_frame_blocks(tmp_path / "mask.mkv", pix_fmt="gray")])
    assert set(np.unique(mask)) <= {0, 255} and mask[12, 80:84, 100:104].any()
    assert (tmp_path / "sheet.png").stat().st_size > 1000


def test_automask_bad_input_is_one_line(tmp_path):
    (tmp_path / "bad.mp4").write_text("not a video")
    proc = subprocess.run(["aivid", "automask", str(tmp_path / "bad.mp4"), "-o", str(tmp_path / "m.mkv")],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "bad.mp4" in proc.stderr
    assert not (tmp_path / "m.mkv").exists()


def test_workflow_with_automask_repairs_a_speck_nobody_marked(bunny, tmp_path):
    import yaml
    from conftest import ffmpeg_rgb, snakemake

    ffmpeg("-i", bunny, "-frames:v", "30", "-vf", "crop=320:192:'200+3*n':200,drawbox=x=100:y=80:w=4:h=4:"
           "color=white:t=fill:enable='eq(n,12)'", "-c:v", "libx264", "-crf", "10", "-g", "30", tmp_path / "clip.mp4")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({
        "videos": {"clip": {"path": str(tmp_path / "clip.mp4")}},
        "automask": {"enabled": True, "detectors": ["transient"]}, "output": {"lossless": True}}))
    snakemake(tmp_path)
    summary = json.loads((tmp_path / "results" / "clip" / "seg0" / "mask.json").read_text())
    assert 12 in summary["active_frames"] and summary["masked_fraction"] < 0.01
    source, out = ffmpeg_rgb(tmp_path / "clip.mp4"), ffmpeg_rgb(tmp_path / "results" / "clip" / "output.mkv")
    assert out.shape == source.shape
    assert out[12, 80:84, 100:104].mean() < source[12, 80:84, 100:104].mean() - 40  # the speck is gone
