"""Faults harm nothing: kill -9 at any point, a second run started beside a live one, a full
disk, and user mistakes found only while running — each is one line about the user's file, and
a rerun gives the output an undisturbed run gives."""

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest
import yaml
from conftest import SNAKEFILE, ffmpeg_rgb, snakemake, write_config


def start(workdir, config="config.yaml", cores="1"):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir),
           "--configfile", str(workdir / config), "--cores", cores]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for(condition, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    raise AssertionError("the run never reached the point the test waits for")


def leftovers(workdir):
    """Temporary names (aivid.atomic) anywhere under results/."""
    return [p for p in (workdir / "results").rglob(".*") if re.match(r"^\.[^/]*\.tmp\d+", p.name)]


def executed(stderr):
    return Counter(m.group(1) for m in re.finditer(r"^(?:local)?(?:rule|checkpoint) (\w+):$", stderr, re.M))


def said_last(stderr, line):
    """`line` comes after every error block and stack line Snakemake printed."""
    lines = stderr.splitlines()
    after = lines[max(i for i, ln in enumerate(lines) if ln == line) + 1 :]
    return not any(ln.startswith(("Error in rule", "RuleException", "  File", "aivid:")) for ln in after)


def aivid_errors(stderr):
    return list(dict.fromkeys(ln for ln in stderr.splitlines() if ln.startswith("aivid: error:")))


def done_outputs(results, pattern):
    """Finished outputs only: pathlib's `*` also matches the temporary `.NAME.tmpPID` names."""
    return [p for p in results.glob(pattern) if not p.name.startswith(".")]


POINTS = {  # kill -9 as soon as the run has finished...
    "a mask": lambda r: done_outputs(r, "seg*/mask.json"),
    "a window": lambda r: done_outputs(r, "seg*/windows/*.zarr"),
    "a piece": lambda r: done_outputs(r, "seg*/piece.mkv"),
}


@pytest.mark.parametrize("point", POINTS)
def test_kill_9_then_the_same_command_matches_an_undisturbed_run(clip, finished, tmp_path, point):
    write_config(tmp_path, clip)
    results = tmp_path / "results" / "clip"
    proc = start(tmp_path)
    wait_for(lambda: POINTS[point](results))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {p: p.stat().st_mtime_ns for p in done_outputs(results, "seg*/windows/*.zarr")}
    assert (tmp_path / ".snakemake" / "locks").exists()  # a SIGKILLed Snakemake leaves its lock
    rerun = snakemake(tmp_path)  # the same command; the default profile sets --rerun-incomplete
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())  # finished windows were kept ...
    windows = len(done_outputs(results, "seg*/windows/*.zarr"))
    assert executed(rerun.stderr)["inpaint"] == windows - len(done)  # ... and not recomputed
    assert leftovers(tmp_path) == []
    a, b = ffmpeg_rgb(results / "output.mkv"), ffmpeg_rgb(finished / "results" / "clip" / "output.mkv")
    assert np.array_equal(a, b)


def test_a_second_run_is_refused_before_it_writes_anything(clip, finished, tmp_path):
    write_config(tmp_path, clip)
    other = yaml.safe_load((tmp_path / "config.yaml").read_text())
    other["segments"]["seconds"] = 2  # would rewrite segments.json and the settings
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    first = start(tmp_path)
    results = tmp_path / "results" / "clip"
    wait_for(lambda: done_outputs(results, "seg*/mask.json"))
    parse_time = sorted(results.glob("*.json")) + sorted(results.glob("settings/*.json"))
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in parse_time}
    second = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(tmp_path),
                             "--configfile", str(tmp_path / "other.yaml"), "--cores", "1"],
                            capture_output=True, text=True)
    assert second.returncode != 0
    errors = aivid_errors(second.stderr)
    assert len(errors) == 1 and "another aivid run is using this directory" in errors[0], second.stderr[-2000:]
    assert "Traceback" not in second.stderr
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in parse_time} == before
    assert first.wait(timeout=300) == 0, first.stderr.read()[-2000:]
    a, b = ffmpeg_rgb(results / "output.mkv"), ffmpeg_rgb(finished / "results" / "clip" / "output.mkv")
    assert np.array_equal(a, b)


@pytest.fixture
def small_disk(tmp_path):
    """A 5 MB tmpfs, enlarged by calling the fixture's value."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(mount)],
                                           capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield mount, lambda size: subprocess.run(["mount", "-o", f"remount,size={size}", str(mount)], check=True)
    finally:
        subprocess.run(["umount", "-l", str(mount)])


def test_a_full_disk_is_one_line_and_the_same_command_completes_once_there_is_room(clip, finished, tmp_path,
                                                                                    small_disk):
    mount, resize = small_disk
    write_config(tmp_path, clip)
    (tmp_path / "results").symlink_to(mount)
    full = snakemake(tmp_path, check=False)
    assert full.returncode != 0
    errors = aivid_errors(full.stderr)  # one line per job that ran out of space (two run side by side)
    assert errors and all(re.search(r"^aivid: error: results/clip/seg\d+: no space left on device while [a-z ]+ "
                                    r"\(\d+\.\d MB free; this step writes up to about \d+\.\d MB\)", e)
                          for e in errors), full.stderr[-3000:]
    assert said_last(full.stderr, errors[-1])  # repeated below Snakemake's error blocks
    assert "Traceback" not in full.stderr and leftovers(tmp_path) == []
    resize("200m")
    snakemake(tmp_path)
    a, b = ffmpeg_rgb(tmp_path / "results" / "clip" / "output.mkv"), ffmpeg_rgb(finished / "results" / "clip" / "output.mkv")
    assert np.array_equal(a, b)


def test_a_truncated_source_is_refused_at_start_naming_it(media, tmp_path):
    """A faststart MP4 cut in half: its header promises 100 frames; found before any work."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"videos": {"v": {
        "path": str(media / "truncated.mp4"), "regions": [{"box": [10, 10, 20, 20], "frames": [2, 8]}]}}}))
    proc = snakemake(tmp_path, check=False)
    assert proc.returncode != 0
    errors = aivid_errors(proc.stderr)
    assert errors == [f"aivid: error: {media / 'truncated.mp4'}: file truncated: its header lists 100 frames, "
                      f"{errors[0].rsplit(', ', 1)[1]}"], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and not (tmp_path / "results" / "v").exists()


def test_a_mask_that_covers_a_whole_frame_names_the_mask_file(clip, tmp_path):
    from aivid.media.encode import EncodeSettings, encode_frames

    mask = np.zeros((100, 272, 640, 3), np.uint8)
    mask[30] = 255
    encode_frames(mask, tmp_path / "white.mkv", 640, 272, 25, EncodeSettings.from_config({"lossless": True}))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"videos": {"clip": {
        "path": str(clip / "clip.mp4"), "mask": "white.mkv"}}, "segments": {"seconds": 1}}))
    proc = snakemake(tmp_path, check=False)
    assert proc.returncode != 0
    errors = aivid_errors(proc.stderr)
    assert errors == ["aivid: error: white.mkv: mask covers the whole frame at frame 30: "
                      "nothing is left to fill from"], proc.stderr[-2000:]
    assert said_last(proc.stderr, errors[0]) and "Traceback" not in proc.stderr


def test_dead_runs_leftovers_are_removed_and_a_foreign_hosts_lock_is_kept(tmp_path, monkeypatch):
    from aivid.errors import AividError
    from aivid.workflow import runlock

    monkeypatch.chdir(tmp_path)
    left = tmp_path / "results" / "v" / "seg0" / ".frames.tmp99999.zarr"
    left.mkdir(parents=True)
    (left.parent / ".plan.tmp99999.json").write_text("{")
    (left.parent / "plan.json").write_text("{}")
    (tmp_path / ".snakemake" / "locks").mkdir(parents=True)
    (tmp_path / ".snakemake" / "locks" / "0.input.lock").write_text("x")
    (tmp_path / ".snakemake" / "aivid.lock").write_text("login-node-7 4242 123\n")
    with pytest.raises(AividError, match="locked by a run on host login-node-7"):
        runlock.claim_run_directory()
    assert (tmp_path / ".snakemake" / "locks" / "0.input.lock").exists() and left.exists()
    (tmp_path / ".snakemake" / "aivid.lock").write_text(f"{os.uname().nodename} 4242 123\n")
    cleared = runlock.claim_run_directory()
    assert len(cleared) == 2 and not (tmp_path / ".snakemake" / "locks").exists()
    assert not left.exists() and not (left.parent / ".plan.tmp99999.json").exists()
    assert (left.parent / "plan.json").exists()
    runlock._HELD.clear()


def test_a_finished_run_does_not_wait_for_snakemakes_scheduler_timers():
    """Snakemake's scheduler re-wakes itself with a (non-daemon) threading.Timer; the interpreter
    would wait for the last one before a finished run exits.  The workflow's onsuccess cancels
    those -- the timer here is made by Snakemake's own code -- and leaves other timers alone."""
    import threading
    from types import SimpleNamespace

    from snakemake.scheduling.job_scheduler import JobScheduler

    from aivid.workflow.runlock import stop_scheduler_timers

    scheduler = SimpleNamespace(_open_jobs=threading.Semaphore(0))
    before = set(threading.enumerate())
    JobScheduler._schedule_reevalutation(scheduler, 60)
    (snakemakes,) = set(threading.enumerate()) - before
    ours = threading.Timer(60, lambda: None)
    ours.start()
    try:
        stop_scheduler_timers()
        snakemakes.join(timeout=5)
        assert not snakemakes.is_alive() and ours.is_alive()
        assert not scheduler._open_jobs.acquire(blocking=False)  # cancelled, not fired
    finally:
        ours.cancel()


def test_a_run_folder_with_an_apostrophe_joins(clip, tmp_path):
    """Names reach ffmpeg safely: the concat list quotes the pieces' paths."""
    run = tmp_path / "it's a -run: ü"
    run.mkdir()
    write_config(run, clip, output={"lossless": False}, segments={"seconds": 2})
    snakemake(run)
    out = run / "results" / "clip" / "output.mp4"
    assert ffmpeg_rgb(out).shape == ffmpeg_rgb(clip / "clip.mp4").shape


def test_an_encode_cut_short_by_a_full_disk_fails_though_ffmpeg_exits_0(small_disk):
    """ffmpeg 5.1.9 exits 0 when a full disk stops it writing the trailer ("Error writing trailer
    ...: No space left on device"): aivid's encode must fail, with the disk's words, and leave
    nothing under the final name."""
    from aivid.errors import AividError
    from aivid.media.encode import EncodeSettings, encode_frames

    mount, _ = small_disk
    (mount / "filler").write_bytes(b"\0" * (5 * 1024 * 1024 - 8192))  # leaves a few kB
    frames = np.random.default_rng(0).integers(0, 256, (20, 96, 128, 3), np.uint8)
    with pytest.raises(AividError, match="No space left on device") as caught:
        encode_frames(frames, mount / "out.mkv", 128, 96, 25, EncodeSettings.from_config())
    assert "\n" not in str(caught.value)
    assert not (mount / "out.mkv").exists()
