"""A real one-node Slurm cluster (Debian's slurm-wlm) for the scale-out test.

`one_node_cluster()` installs slurm-wlm and munge with apt when they are missing, writes
/etc/slurm/slurm.conf (the executor plugin's inner `srun` reads only that path), starts munged,
slurmctld and slurmd in the foreground as child processes, waits until the node is idle, and on
exit stops exactly the processes it started, by PID, and leaves a config whose clients give up
at once.  It never touches a slurm.conf it did not write itself.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

MARK = "# written by aivid tests/slurm_cluster.py"
CONF = Path("/etc/slurm/slurm.conf")
GRES = Path("/etc/slurm/gres.conf")


def _need_root_and_apt():
    if os.geteuid() != 0:
        pytest.skip("a one-node Slurm cluster needs root")
    if shutil.which("slurmctld") and shutil.which("munged"):
        return
    if not shutil.which("apt-get"):
        pytest.skip("slurm-wlm is not installed and apt-get is unavailable")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "slurm-wlm", "munge"]
    if subprocess.run(install, env=env, capture_output=True).returncode:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=True)
        subprocess.run(install, env=env, capture_output=True, check=True)


def _memory_mb():
    with open("/proc/meminfo") as f:
        total_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    return total_kb // 1024 - 1024


def _write_config(state):
    host, cpus, mem = socket.gethostname(), os.cpu_count(), _memory_mb()
    CONF.parent.mkdir(parents=True, exist_ok=True)
    CONF.write_text(f"""{MARK}
ClusterName=aivid-ci
SlurmctldHost={host}
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU={mem // cpus}
MinJobAge=300
ReturnToService=2
StateSaveLocation={state}/ctld
SlurmdSpoolDir={state}/d
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
GresTypes=gpu
NodeName={host} CPUs={cpus} RealMemory={mem} Gres=gpu:1 State=UNKNOWN
# The partition names aivid's Slurm profile uses; one node serves both.
PartitionName=cpu Nodes={host} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes={host} MaxTime=INFINITE State=UP
""")
    # No real GPU: a GRES backed by /dev/null so `--gpus=1` jobs are scheduled as on a GPU node.
    GRES.write_text(f"{MARK}\nNodeName={host} Name=gpu File=/dev/null\n")


def _start_munge(state, procs):
    run_dir = Path("/run/munge")
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.chown(run_dir, "munge", "munge")
    if not Path("/etc/munge/munge.key").exists():
        subprocess.run(["mungekey", "--create"], check=True)
        shutil.chown("/etc/munge/munge.key", "munge", "munge")
    if Path("/run/munge/munge.socket.2").exists() and subprocess.run(
        ["munge", "-n"], capture_output=True
    ).returncode == 0:
        return  # a munged is already serving this machine; leave it alone
    log = open(state / "munged.log", "w")
    procs.append(subprocess.Popen(["munged", "-F", "--force"], user="munge", group="munge",
                                  extra_groups=[], stdout=log, stderr=subprocess.STDOUT))
    _wait(lambda: subprocess.run(["munge", "-n"], capture_output=True).returncode == 0, "munged")


def _wait(ready, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not come up within {timeout} s")


def _node_idle():
    out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return out.returncode == 0 and out.stdout.strip() in ("idle", "mixed")


def _stop(procs):
    for proc in reversed(procs):
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
    for proc in reversed(procs):
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def one_node_cluster(state):
    """Bring up munged + slurmctld + slurmd with state under `state`; stop them on exit."""
    _need_root_and_apt()
    if CONF.exists() and MARK not in CONF.read_text():
        pytest.skip(f"{CONF} belongs to a real cluster; not replacing it")
    state = Path(state)
    for sub in ("ctld", "d"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    _write_config(state)
    procs = []
    try:
        _start_munge(state, procs)
        for daemon in ("slurmctld", "slurmd"):
            log = open(state / f"{daemon}.out", "w")
            procs.append(subprocess.Popen([daemon, "-D"], stdout=log, stderr=subprocess.STDOUT))
            if daemon == "slurmctld":
                _wait(lambda: subprocess.run(["scontrol", "ping"], capture_output=True,
                                             text=True).stdout.count("UP") > 0, "slurmctld")
        _wait(_node_idle, "the Slurm node")
        yield procs
    finally:
        _stop(procs)
        _leave_config_for_a_stopped_cluster()


def _leave_config_for_a_stopped_cluster():
    """Every Snakemake start asks `scontrol show config` (the Slurm plugin does, for its help
    text); with our config and no controller that retries for 9 s.  A one-second message timeout
    makes it give up at once, so later tests and runs on this machine do not pay for it."""
    if CONF.exists() and MARK in CONF.read_text():
        CONF.write_text(CONF.read_text() + "# the cluster above is stopped: give up at once\nMessageTimeout=1\n")
