"""How far a run has got, read from its results folder alone (no Snakemake needed): per video,
segments and windows done and total, whether a run is alive in the folder, and an ETA.

Segments are known from `segments.json`, windows from the plans written so far (a segment whose
plan is not written yet has unknown windows); a window is done when its store has its final name,
a segment when its piece or copy exists or the video's output does.  The run started when it
claimed the folder (`.snakemake/aivid.lock`, see aivid.workflow.runlock).
"""

import fcntl
import json
import time
from pathlib import Path


def _finished(paths):
    return [p for p in paths if not p.name.startswith(".")]


def video_progress(video_dir):
    """{segments, segments_done, planned, windows, windows_done, output} for results/NAME."""
    video_dir = Path(video_dir)
    segments = json.loads((video_dir / "segments.json").read_text())
    output = _finished(video_dir.glob("output.*"))
    planned = windows = windows_done = segments_done = 0
    for seg in segments:
        folder = video_dir / f"seg{seg['index']}"
        plan = folder / "plan.json"
        work = True
        if plan.exists():
            planned += 1
            data = json.loads(plan.read_text())
            ids, work = [w["id"] for w in data["windows"]], data["work"]
            windows += len(ids)
            windows_done += sum((folder / "windows" / f"{i}.zarr").is_dir() for i in ids)
        if output or _finished(folder.glob("piece.*")) or not work:  # copied at the join: nothing to do before
            segments_done += 1
    return {"segments": len(segments), "segments_done": segments_done, "planned": planned, "windows": windows,
            "windows_done": windows_done, "output": str(output[0]) if output else None}


def run_state(run_dir):
    """(alive, started): whether a run holds the folder now, and when the last run started (epoch
    seconds, or None)."""
    lock = Path(run_dir) / ".snakemake" / "aivid.lock"
    if not lock.exists():
        return False, None
    with open(lock) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True, lock.stat().st_mtime
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False, lock.stat().st_mtime


def eta(done, total, started, now=None):
    """Seconds left at the pace so far, or None while nothing is done yet."""
    if not done or started is None or done >= total:
        return 0.0 if total and done >= total else None
    elapsed = (now or time.time()) - started
    return elapsed / done * (total - done)


def progress_line(video_dir, started=None):
    """`windows 3/7, segments 2/4 done (plans 4/4), about 1 min 20 s left` for one video."""
    p = video_progress(video_dir)
    text = f"windows {p['windows_done']}/{p['windows']}, segments {p['segments_done']}/{p['segments']} done"
    if p["planned"] < p["segments"]:
        text += f" (plans {p['planned']} of {p['segments']} segments so far)"
    left = eta(p["windows_done"] + p["segments_done"], p["windows"] + p["segments"], started)
    if left:
        text += f", about {_duration(left)} left"
    return text


def _duration(seconds):
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def status(run_dir):
    """Lines describing every video of the run in `run_dir`; AividError if there is none."""
    from aivid.errors import AividError

    results = Path(run_dir) / "results"
    videos = sorted(d for d in results.iterdir() if (d / "segments.json").exists()) if results.is_dir() else []
    if not videos:
        raise AividError(run_dir, "no aivid run here (no results/NAME/segments.json)")
    alive, started = run_state(run_dir)
    lines = [f"{run_dir}: {'a run is working here' if alive else 'no run is working here now'}"]
    for video in videos:
        p = video_progress(video)
        state = f"done: {p['output']}" if p["output"] and p["segments_done"] == p["segments"] else \
            ("running" if alive else "unfinished (run the same snakemake command to resume)")
        lines.append(f"{video.name}: {progress_line(video, started if alive else None)}; {state}")
    return lines
