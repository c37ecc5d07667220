"""Progress: `aivid status RUN_DIR` and the done/total lines of the window and segment logs."""

import os
import signal
import subprocess

from conftest import write_config
from test_faults import done_outputs, start, wait_for


def status(run_dir):
    return subprocess.run(["aivid", "status", str(run_dir)], capture_output=True, text=True)


def test_a_finished_run(finished):
    proc = status(finished)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"{finished}: no run is working here now",
        "clip: windows 3/3, segments 4/4 done; done: " + str(finished / "results" / "clip" / "output.mkv")]
    logs = sorted((finished / "logs" / "clip").glob("seg*/inpaint_*.log"))
    assert all("video clip: windows " in log.read_text() for log in logs)
    assert "segments 4/4 done" in "".join(p.read_text() for p in (finished / "logs" / "clip").glob("seg*/piece*.log"))


def test_a_live_run_then_a_killed_one(clip, tmp_path):
    write_config(tmp_path, clip)
    results = tmp_path / "results" / "clip"
    proc = start(tmp_path)
    wait_for(lambda: done_outputs(results, "seg*/windows/*.zarr"))
    alive = status(tmp_path)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert alive.returncode == 0 and "a run is working here" in alive.stdout and "; running" in alive.stdout
    dead = status(tmp_path).stdout.splitlines()
    assert dead[0].endswith("no run is working here now")
    done = len(done_outputs(results, "seg*/windows/*.zarr"))
    assert f"clip: windows {done}/" in dead[1] and dead[1].endswith("unfinished (run the same snakemake command to resume)")


def test_an_empty_folder(tmp_path):
    proc = status(tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip() == f"aivid: error: {tmp_path}: no aivid run here (no results/NAME/segments.json)"
