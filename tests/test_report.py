"""`snakemake --report report.zip`: every repair before and after, seen in a browser."""

import json
import zipfile

import cv2
import pytest
from browser import check_page, chromium, screenshot
from conftest import snakemake


@pytest.mark.skipif(chromium() is None, reason="Chromium is not installed (.ci/run installs Debian's chromium)")
def test_the_report_shows_every_repair_and_plays_its_clips(finished, tmp_path):
    snakemake(finished, "--report", str(tmp_path / "report.zip"))
    with zipfile.ZipFile(tmp_path / "report.zip") as archive:
        archive.extractall(tmp_path)
    (page,) = [p for p in (tmp_path / "report" / "data" / "raw").glob("*/index.html")]
    text = page.read_text()
    assert text.count("repaired and re-encoded: lossless output re-encodes everything") == 2  # segments 0, 2
    assert text.count("re-encoded from the source: lossless output re-encodes everything") == 2  # 1, 3
    assert text.count("<td>classical</td>") == 3  # one row per window tile
    seen = check_page(page)
    assert seen["title"] == "clip"
    assert len(seen["images"]) == 8 and all(i["ok"] for i in seen["images"]), seen  # 2 stretches x 4 pictures
    assert len(seen["videos"]) == 2 and all(v["ended"] and v["width"] > 0 for v in seen["videos"]), seen
    shot = cv2.imread(str(screenshot(page, tmp_path / "shot.png")))
    assert shot is not None and shot.std() > 10  # not blank
    # each stretch's before/after shows what its tiles and the feather reach (from the plan, to
    # whole chroma samples), not the box grown to whole store chunks
    feather = json.loads((finished / "results" / "clip" / "settings" / "mask.json").read_text())["mask"]["feather"]
    info = json.loads((finished / "results" / "clip" / "probe.json").read_text())["info"]
    pictures = list(page.parent.glob("seg*_s*_before.png"))
    assert len(pictures) == 2
    for before in pictures:
        seg, stretch = before.name.split("_")[:2]
        plan = json.loads((finished / "results" / "clip" / seg / "plan.json").read_text())
        tiles = [t for w in plan["windows"] if f"s{w['stretch']}" == stretch for t in w["tiles"]]
        x0, y0 = min(t[0] for t in tiles) - feather - 1, min(t[1] for t in tiles) - feather - 1
        x1, y1 = max(t[0] + t[2] for t in tiles) + feather + 1, max(t[1] + t[3] for t in tiles) + feather + 1
        x0, y0 = max(0, x0 // 4 * 4), max(0, y0 // 4 * 4)  # to whole chroma samples, inside the frame
        x1, y1 = min(info["width"], -(-x1 // 4) * 4), min(info["height"], -(-y1 // 4) * 4)
        assert cv2.imread(str(before)).shape[:2] == (y1 - y0, x1 - x0), (before.name, tiles)
        assert f"the repair's reach {x1 - x0}x{y1 - y0} at ({x0}, {y0})" in text
