"""Play a video in headless Chromium (Debian `chromium`): its duration and a frame's brightness."""

import json
import os
import shutil
import signal
import subprocess
import time

PAGE = """<!doctype html><body><video id="v" src="{name}" muted preload="auto"></video><script>
const v = document.getElementById("v");
const done = (r) => console.log("AIVID_RESULT " + JSON.stringify(r));
v.addEventListener("error", () => done({{error: v.error ? v.error.code : -1}}));
v.addEventListener("loadeddata", () => {{ v.currentTime = v.duration / 2; }});
v.addEventListener("seeked", () => {{
  const c = document.createElement("canvas");
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext("2d");
  g.drawImage(v, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let s = 0;
  for (let i = 0; i < d.length; i += 4) s += d[i] + d[i + 1] + d[i + 2];
  done({{duration: v.duration, width: v.videoWidth, height: v.videoHeight, mean: s / (d.length / 4 * 3)}});
}});
</script></body>"""


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def play_in_browser(video, timeout=60):
    """Load `video` in a <video> element, seek to the middle, read that frame back through a canvas.

    Returns {"duration", "width", "height", "mean"} (mean 0-255 over the frame) or {"error": code}.
    """
    page = video.parent / f"{video.stem}_play.html"
    page.write_text(PAGE.format(name=video.name))
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
           "--enable-logging=stderr", "--v=0", f"--user-data-dir={video.parent / 'chromium-profile'}",
           page.as_uri()]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    return _result(proc, video, timeout)


def _result(proc, what, timeout):
    """The JSON a page logged as `AIVID_RESULT …` on Chromium's stderr; Chromium is then stopped."""
    deadline = time.monotonic() + timeout
    try:
        for line in proc.stderr:
            if "AIVID_RESULT " in line:
                return json.loads(line.split("AIVID_RESULT ", 1)[1].rsplit('"', 1)[0])
            if time.monotonic() > deadline:
                break
        raise AssertionError(f"Chromium gave no result for {what} within {timeout} s")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


CHECK = """<!doctype html><body><iframe id="f" src="{name}" width="1200" height="900"></iframe><script>
const done = (r) => console.log("AIVID_RESULT " + JSON.stringify(r));
document.getElementById("f").addEventListener("load", async () => {{
  const doc = document.getElementById("f").contentDocument;
  const images = [...doc.images].map(i => ({{src: i.getAttribute("src"), ok: i.complete && i.naturalWidth > 0}}));
  const videos = [];
  for (const v of doc.querySelectorAll("video")) {{
    const ended = await new Promise(resolve => {{
      v.addEventListener("ended", () => resolve(true));
      v.addEventListener("error", () => resolve(false));
      v.muted = true; v.playbackRate = 4; v.play().catch(() => resolve(false));
      setTimeout(() => resolve(false), 20000);
    }});
    videos.push({{src: v.getAttribute("src"), ended: ended, duration: v.duration, width: v.videoWidth}});
  }}
  done({{title: doc.title, images: images, videos: videos}});
}});
</script></body>"""


def _chromium(args, log_dir, timeout):
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
           "--autoplay-policy=no-user-gesture-required", "--enable-logging=stderr", "--v=0",
           f"--user-data-dir={log_dir / 'chromium-profile'}", *args]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)


def check_page(page, timeout=90):
    """Open `page` (an HTML file) in headless Chromium: which of its images loaded, whether each of
    its videos played to its end.  Returns {"title", "images": [...], "videos": [...]}."""
    page = page.resolve()
    checker = page.parent / f"{page.stem}_check.html"
    checker.write_text(CHECK.format(name=page.name))
    return _result(_chromium([checker.as_uri()], page.parent, timeout), page, timeout)


def screenshot(page, out, size=(1200, 1400), timeout=60):
    """A PNG of `page` as headless Chromium shows it."""
    page = page.resolve()
    proc = _chromium([f"--window-size={size[0]},{size[1]}", f"--screenshot={out}", page.as_uri()], page.parent, timeout)
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return out
