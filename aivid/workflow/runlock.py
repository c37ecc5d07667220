"""Clearing the lock a killed Snakemake run leaves behind, and only that one.

Snakemake locks the working directory while it runs; a run killed with SIGKILL cannot release
its lock, and the next run then refuses to start until `snakemake --unlock`.  The workflow
records which process holds the directory (PID and start time, so a reused PID is not mistaken
for it); when that process is gone, its lock is stale and is removed before the new run.
"""

import os
import shutil
from pathlib import Path


def _start_time(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(record):
    pid, _, started = record.partition(" ")
    return pid.isdigit() and _start_time(int(pid)) == started


def claim_run_directory(snakemake_dir=".snakemake"):
    """Record this process as the directory's runner; return True if a stale lock was removed."""
    meta = Path(snakemake_dir)
    pidfile, locks = meta / "aivid-runner", meta / "locks"
    record = pidfile.read_text().strip() if pidfile.exists() else ""
    if record and _alive(record):
        return False  # another live run holds it: Snakemake's own lock check reports that
    removed = bool(record) and locks.is_dir() and any(locks.iterdir())
    if removed:
        shutil.rmtree(locks, ignore_errors=True)
    meta.mkdir(parents=True, exist_ok=True)
    pidfile.write_text(f"{os.getpid()} {_start_time(os.getpid())}\n")
    return removed
