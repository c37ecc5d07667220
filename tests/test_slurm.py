"""Scale-out: the unchanged workflow through Snakemake's Slurm executor on a real one-node cluster."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, SNAKEFILE, ffmpeg_rgb

pytest.importorskip("snakemake_executor_plugin_slurm")
from slurm_cluster import one_node_cluster  # noqa: E402

PROFILE = REPO / "workflow" / "profiles" / "slurm"


def slurm_run(workdir, *args):
    """The profile as a cluster user runs it; a hung status check is killed, never waited on."""
    cmd = ["timeout", "-s", "KILL", "900", sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE),
           "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"),
           "--workflow-profile", str(PROFILE), "--slurm-status-command", "squeue",
           "--slurm-no-account", "--slurm-init-seconds-before-status-checks", "1", *args]
    return subprocess.run(cmd, capture_output=True, text=True)


@pytest.mark.slow
def test_slurm_run_equals_local_run(vace_run, tmp_path):
    """VACE windows (rule resource gpu=1) go to the gpu partition with `--gpus=1`; masks are grouped;
    plans and the join run where Snakemake runs."""
    workdir = tmp_path / "run"
    workdir.mkdir()
    shutil.copy(vace_run / "config.yaml", workdir / "config.yaml")
    with one_node_cluster(tmp_path / "slurm"):
        proc = slurm_run(workdir)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        jobs = [line.split() for line in subprocess.run(
            ["squeue", "-h", "--states=all", "-O", "Comment:80,Partition:20,State:20,tres-per-job:40"], capture_output=True, text=True,
        ).stdout.splitlines()]
    local = ffmpeg_rgb(vace_run / "results" / "clip" / "output.mkv")
    assert np.array_equal(ffmpeg_rgb(workdir / "results" / "clip" / "output.mkv"), local)
    assert jobs and all(state == "COMPLETED" for _, _, state, _ in jobs), jobs
    windows = [job for job in jobs if job[0].startswith("rule_inpaint")]
    assert len(windows) >= 2 and all(part == "gpu" and "gpu" in gres for _, part, _, gres in windows), jobs
    names = [job[0] for job in jobs]
    assert names.count("rule_scan_mask") == 1, jobs  # the masks: one grouped Slurm job
    assert not [n for n in names if n.startswith(("rule_plan", "rule_concat"))], jobs  # local rules
