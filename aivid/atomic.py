"""Write-then-rename helpers so that nothing half-written ever looks finished."""

import contextlib
import json
import os
import shutil
from pathlib import Path


def remove_path(path):
    """Remove a file or a directory tree if it exists."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def temporary_sibling(final):
    """A hidden name next to `final` that keeps its suffix (ffmpeg picks formats by suffix)."""
    final = Path(final)
    return final.with_name(f".{final.stem}.tmp{os.getpid()}{final.suffix}")


@contextlib.contextmanager
def atomic_output(final):
    """Yield a temporary path; rename it to `final` only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(final)
    remove_path(tmp)
    try:
        yield tmp
    except BaseException:
        remove_path(tmp)
        raise
    remove_path(final)
    os.replace(tmp, final)


def write_json(data, path):
    """Write `data` as JSON at `path`, atomically."""
    with atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(data, indent=1))
