"""Footage as cameras and editors make it, generated with ffmpeg for the footage matrix tests:
containers, open GOPs, HEVC leading pictures, VFR, rotation, anamorphic, full range, interlaced,
odd sizes, PCM audio, VP9/Opus, audio before video, edit lists."""

import subprocess
from pathlib import Path

SIZE, RATE, SECONDS = "192x108", 25, 2.4

# picture with texture and motion (a compression test needs detail that moves)
PICTURE = f"testsrc2=size={SIZE}:rate={RATE}:duration={SECONDS}"
X264_GOP = "keyint=25:min-keyint=25:scenecut=0"

KINDS = {
    # name: (file name, input args, output args)
    "mp4": ("clip.mp4", [], ["-c:v", "libx264", "-x264-params", X264_GOP, "-c:a", "aac"]),
    "mkv": ("clip.mkv", [], ["-c:v", "libx264", "-x264-params", X264_GOP, "-c:a", "aac"]),
    "mov_pcm": ("clip.mov", [], ["-c:v", "libx264", "-x264-params", X264_GOP, "-c:a", "pcm_s16le",
                                 "-timecode", "01:00:00:00"]),  # a tmcd data stream, as cameras write
    "open_gop": ("clip.mp4", [], ["-c:v", "libx264", "-x264-params",
                                  "keyint=25:min-keyint=25:open_gop=1:bframes=3:b-pyramid=normal:scenecut=0",
                                  "-c:a", "aac"]),
    "hevc": ("clip.mp4", [], ["-c:v", "libx265", "-x265-params", "keyint=25:min-keyint=25:log-level=error",
                              "-tag:v", "hvc1", "-c:a", "aac"]),
    # a phone's HEVC: closed GOPs (IDR every second), B-frames, in MP4 as hvc1
    "hevc_closed": ("clip.mp4", [], ["-c:v", "libx265", "-x265-params",
                                     "keyint=25:min-keyint=25:open-gop=0:scenecut=0:log-level=error", "-tag:v", "hvc1",
                                     "-c:a", "aac"]),
    # NTSC rate in Matroska's millisecond time base: frame times are not whole ticks
    "ntsc_mkv": ("clip.mkv", [], ["-c:v", "libx264", "-x264-params", X264_GOP, "-c:a", "aac"]),
    "vfr": ("clip.mkv", [], ["-vf", "setpts='N/(25*TB)+0.01*sin(N)/TB'", "-fps_mode", "vfr", "-c:v", "libx264",
                             "-x264-params", X264_GOP, "-c:a", "aac"]),
    "vfr_switch": ("clip.mp4", [], ["-vf", "setpts='if(lt(N,30),N/(30*TB),(30/30+(N-30)/24)/TB)'", "-fps_mode",
                                    "vfr", "-c:v", "libx264", "-x264-params", X264_GOP, "-c:a", "aac"]),
    "rotate90": ("clip.mp4", [], ["-c:v", "libx264", "-x264-params", X264_GOP, "-c:a", "aac"]),
    "rotate270": ("clip.mp4", [], ["-c:v", "libx264", "-x264-params", X264_GOP, "-c:a", "aac"]),
    "anamorphic": ("clip.mp4", [], ["-vf", "scale=720:576,setsar=16/15", "-c:v", "libx264",  # PAL 4:3
                                    "-x264-params", X264_GOP, "-c:a", "aac"]),
    "full_range": ("clip.mp4", [], ["-vf", "scale=out_range=pc,format=yuvj420p", "-c:v", "libx264",
                                    "-x264-params", X264_GOP, "-color_range", "pc", "-c:a", "aac"]),
    "interlaced": ("clip.mp4", [], ["-vf", "scale=192:108:interl=1", "-flags", "+ilme+ildct", "-c:v", "libx264",
                                    "-x264-params", X264_GOP + ":tff=1", "-c:a", "aac"]),
    "odd_size": ("clip.mp4", [], ["-vf", "scale=191:107", "-c:v", "libx264", "-pix_fmt", "yuv444p",
                                  "-x264-params", X264_GOP, "-c:a", "aac"]),
    "webm": ("clip.webm", [], ["-c:v", "libvpx-vp9", "-g", "25", "-deadline", "realtime", "-cpu-used", "8",
                               "-b:v", "400k", "-c:a", "libopus"]),
    "av1": ("clip.mp4", [], ["-c:v", "libsvtav1", "-g", "25", "-preset", "12", "-crf", "35", "-c:a", "aac"]),
    "prores_pcm": ("clip.mov", [], ["-c:v", "prores_ks", "-profile:v", "3", "-c:a", "pcm_s24le"]),  # an editor's
    "avi_mjpeg": ("clip.avi", [], ["-c:v", "mjpeg", "-q:v", "3", "-c:a", "pcm_s16le"]),  # an old camera's
    # B-frames in AVI (DivX/Xvid era): packets carry no pts, frames are found by counting
    "avi_bframes": ("clip.avi", [], ["-c:v", "mpeg4", "-bf", "2", "-g", "25", "-q:v", "3", "-c:a", "pcm_s16le"]),
    "audio_first": ("clip.mp4", [], ["-c:v", "libx264", "-x264-params", X264_GOP, "-c:a", "aac"]),
}


def make(kind, folder):
    """Generate the clip of `kind` in `folder` (once) and return its path."""
    name, in_args, out_args = KINDS[kind]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}_{name}"
    if path.exists():
        return path
    sound = f"sine=frequency=440:sample_rate=48000:duration={SECONDS}"
    picture = PICTURE.replace(f"rate={RATE}", "rate=30000/1001") if kind == "ntsc_mkv" else PICTURE
    if kind == "audio_first":  # the video starts 0.2 s after the sound (as cameras' files often do)
        inputs = ["-itsoffset", "0.2", "-f", "lavfi", "-i", picture, "-f", "lavfi", "-i", sound]
    else:
        inputs = ["-f", "lavfi", "-i", picture, "-f", "lavfi", "-i", sound]
    maps = ["-map", "0:v", "-map", "1:a"]
    if kind == "mkv":  # with subtitles
        subs = folder / "subs.srt"
        subs.write_text("1\n00:00:00,500 --> 00:00:01,500\nHello\n\n2\n00:00:01,600 --> 00:00:02,200\nAgain\n")
        inputs += ["-i", str(subs)]
        maps += ["-map", "2:s", "-c:s", "srt"]
    tmp = path.with_name(f".tmp.{path.name}")
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *inputs, *in_args, *maps,
                    *out_args, "-shortest", str(tmp)], check=True)
    if kind.startswith("rotate"):
        set_display_rotation(tmp, int(kind[len("rotate"):]))
    tmp.rename(path)
    return path


def set_display_rotation(path, degrees):
    """Write a rotation into the video track's display matrix (the tkhd box), as a phone held
    upright does (this ffmpeg's muxer has no option for it).  `degrees` clockwise: 90 or 270."""
    data = bytearray(Path(path).read_bytes())
    at = data.index(b"tkhd")  # the first track is the video
    version = data[at + 4]
    matrix = at + 4 + 4 + (32 if version == 1 else 20) + 16
    one, zero = 0x10000, 0
    a, b, c, d = {90: (zero, one, -one, zero), 270: (zero, -one, one, zero), 180: (-one, zero, zero, -one)}[degrees]
    for i, value in enumerate((a, b, 0, c, d, 0, 0, 0, 0x40000000)):
        data[matrix + 4 * i: matrix + 4 * i + 4] = (value & 0xFFFFFFFF).to_bytes(4, "big")
    Path(path).write_bytes(bytes(data))


def trimmed(folder):
    """An MP4 cut by an editor without re-encoding: frames before the cut stay in the file, hidden
    by an edit list (the first GOP starts before the first frame shown)."""
    source = make("mp4", folder)
    path = Path(folder) / "trimmed_clip.mp4"
    if not path.exists():
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-ss", "0.3", "-i", str(source), "-c", "copy",
                        str(path)], check=True)
    return path
