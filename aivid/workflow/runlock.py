"""One run at a time in a run directory, and nothing written into it before the run is ours.

Snakemake locks the directory only after it has parsed the workflow, and aivid's parse writes
files (probe, segments, stage settings): a second run started beside a live one would rewrite
them before Snakemake refused it.  So the main Snakemake process first takes an exclusive
`flock` on `.snakemake/aivid.lock` and keeps it for its whole life; the kernel releases it when
the process ends, however it ends (kill -9 included).  A run that cannot take it stops with one
line naming the run that holds it, having written nothing.

Holding it, a run knows no other run of this directory is alive, so what dead runs left is
removed: Snakemake's own lock (which a SIGKILLed Snakemake cannot release) and aivid's temporary
files (`.NAME.tmpPID…`, see aivid.atomic).  On a shared filesystem the flock may not reach across
hosts (NFS clients without lock forwarding), so the record also names the host: a lock recorded
by another host is never cleared here; the run stops with one line saying which host holds it.
"""

import fcntl
import os
import re
import shutil
import socket
from pathlib import Path

from aivid.errors import AividError

_HELD = {}  # path -> open file: the flock lasts as long as this process
TEMPORARY = re.compile(r"^\.[^/]*\.tmp\d+")  # aivid.atomic.temporary_sibling's names


def _start_time(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _record():
    pid = os.getpid()
    return f"{socket.gethostname()} {pid} {_start_time(pid)}"


def claim_run_directory(snakemake_dir=".snakemake", results="results"):
    """Take this run directory for this process, or raise AividError saying who has it.

    Returns what was cleared (a stale Snakemake lock, dead runs' temporary files), as lines to
    show the user."""
    meta = Path(snakemake_dir)
    if str(meta.resolve()) in _HELD:
        return []
    meta.mkdir(parents=True, exist_ok=True)
    handle = open(meta / "aivid.lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise AividError(Path.cwd(), f"another aivid run is using this directory ({_describe(holder)}); "
                                     "wait for it to finish") from None
    handle.seek(0)
    previous = handle.read().strip()
    host = previous.split(" ")[0] if previous else socket.gethostname()
    if host != socket.gethostname() and _snakemake_locked(meta):
        handle.close()
        raise AividError(Path.cwd(), f"locked by a run on host {host} ({_describe(previous)}); if that run is "
                                     "no longer alive, run `snakemake --unlock` there or here")
    handle.seek(0)
    handle.truncate()
    handle.write(_record() + "\n")
    handle.flush()
    _HELD[str(meta.resolve())] = handle
    cleared = []
    if _snakemake_locked(meta):
        shutil.rmtree(meta / "locks", ignore_errors=True)
        cleared.append("removed the lock left by an interrupted run")
    leftovers = remove_leftovers(results)
    if leftovers:
        cleared.append(f"removed {len(leftovers)} temporary file(s) of interrupted runs")
    return cleared


def _describe(record):
    parts = record.split(" ")
    return f"host {parts[0]}, process {parts[1]}" if len(parts) >= 2 else record


def _snakemake_locked(meta):
    locks = meta / "locks"
    return locks.is_dir() and any(locks.iterdir())


def remove_leftovers(results="results"):
    """Remove the temporary files and folders dead runs left under `results` (only safe while this
    run directory is claimed: no live run is writing them)."""
    removed = []
    root = Path(results)
    if not root.is_dir():
        return removed
    for folder, dirs, files in os.walk(root):
        for name in [d for d in dirs if TEMPORARY.match(d)] + [f for f in files if TEMPORARY.match(f)]:
            path = Path(folder) / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
        dirs[:] = [d for d in dirs if not TEMPORARY.match(d)]
    return removed


def stop_scheduler_timers():
    """Cancel the timers Snakemake's scheduler leaves behind, so that a finished run exits at once.

    Snakemake's job rate limiter (`--max-jobs-per-timespan`, 100/1s by default) wakes its scheduler
    with a `threading.Timer` of one timespan each time it waits; the timers are not daemons, so the
    interpreter waits for the last one before exiting: up to a second after the run has finished
    (measured 1.1-1.4 s on a 17 s run).  Only a finished run calls this (`onsuccess`), when nothing
    is left to schedule; other timers are left alone."""
    import threading

    for thread in threading.enumerate():
        function = getattr(thread, "function", None)
        if isinstance(thread, threading.Timer) and getattr(function, "__module__", "").startswith("snakemake.scheduling"):
            thread.cancel()
