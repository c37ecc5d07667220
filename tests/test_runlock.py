"""A killed run's lock is cleared; a live run's never is."""

import os
import subprocess

from aivid.workflow.runlock import _start_time, claim_run_directory


def test_stale_lock_of_a_dead_runner_is_removed(tmp_path):
    meta = tmp_path / ".snakemake"
    (meta / "locks").mkdir(parents=True)
    (meta / "locks" / "0.output.lock").write_text("x")
    dead = subprocess.Popen(["true"])
    dead.wait()
    (meta / "aivid-runner").write_text(f"{dead.pid} 12345\n")
    assert claim_run_directory(meta)
    assert not (meta / "locks").exists()
    assert (meta / "aivid-runner").read_text().split()[0] == str(os.getpid())


def test_lock_of_a_live_runner_is_kept(tmp_path):
    meta = tmp_path / ".snakemake"
    (meta / "locks").mkdir(parents=True)
    (meta / "locks" / "0.output.lock").write_text("x")
    live = subprocess.Popen(["sleep", "30"])
    try:
        (meta / "aivid-runner").write_text(f"{live.pid} {_start_time(live.pid)}\n")
        assert not claim_run_directory(meta)
        assert (meta / "locks" / "0.output.lock").exists()
        assert (meta / "aivid-runner").read_text().split()[0] == str(live.pid)
    finally:
        live.kill()
