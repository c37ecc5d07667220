"""Locating the ffmpeg/ffprobe binaries and running them with readable errors."""

import functools
import shutil
import subprocess
import threading

from aivid.errors import AividError

INSTALL_HINT = "install it with 'apt-get install ffmpeg' (Debian/Ubuntu) or 'conda install -c conda-forge ffmpeg'"


def require(binary="ffmpeg"):
    """Return the path of `binary`, or fail with an install hint."""
    found = shutil.which(binary)
    if not found:
        raise AividError(binary, f"not found on PATH; {INSTALL_HINT}")
    return found


#: what ffmpeg says when it could not finish writing a file -- ffmpeg 5.1.9 says it and exits 0
#: (a full disk while it writes the trailer: the file is cut short, an MP4 has no index)
WRITE_FAILED = ("Error writing trailer", "Error closing file", "No space left on device")


def exit_code(code, stderr):
    """ffmpeg's exit code, made non-zero where its stderr says an output was not fully written."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    return code or (1 if any(phrase in text for phrase in WRITE_FAILED) else 0)


def last_error_line(stderr):
    """The most informative line of ffmpeg's stderr."""
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "ffmpeg failed"


class StderrCollector(threading.Thread):
    """Drain a process's stderr in the background so the pipe never fills up."""

    def __init__(self, stream, limit=64 * 1024):
        super().__init__(daemon=True)
        self.stream, self.limit, self.data = stream, limit, bytearray()
        self.start()

    def run(self):
        for chunk in iter(lambda: self.stream.read(4096), b""):
            self.data += chunk
            del self.data[: -self.limit]

    def text(self):
        self.join(timeout=5)
        return bytes(self.data)


def run_capture(args):
    """Run a short ffmpeg/ffprobe command, returning (returncode, stdout, stderr)."""
    proc = subprocess.run(args, capture_output=True, stdin=subprocess.DEVNULL)
    return exit_code(proc.returncode, proc.stderr), proc.stdout, proc.stderr


@functools.lru_cache(maxsize=None)
def has_encoder(name):
    """Whether this ffmpeg has the encoder `name` (`ffmpeg -encoders`)."""
    require("ffmpeg")
    listing = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    return any(line.split()[1:2] == [name] for line in listing.splitlines() if line.startswith(" "))
