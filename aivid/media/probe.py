"""Probing a video: geometry, exact frame count and rate, colour tags, streams, keyframes."""

import functools
import json
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import ffmpeg

from aivid.errors import AividError
from aivid.media.ffmpeg_bin import last_error_line, require, run_capture


@dataclass
class VideoInfo:
    """What aivid needs to know about a source video (see `probe`)."""

    path: str
    width: int
    height: int
    frames: int
    fps: str  # exact rational, "num/den"
    time_base: str
    codec: str
    profile: str | None
    level: int | None
    pix_fmt: str
    bit_depth: int
    sar: str
    color_primaries: str | None
    color_transfer: str | None
    color_space: str | None
    color_range: str | None
    rotation: int
    vfr: bool
    duration: float
    start_time: float
    has_audio: bool
    audio: list = field(default_factory=list)
    subtitles: list = field(default_factory=list)
    bit_rate: int | None = None
    field_order: str | None = None  # "progressive", "tt" (top field first), "bb", ... or None
    container: str | None = None  # the demuxer's name (ffprobe format_name)
    stream: int = 0  # the video stream's index in the file
    # every frame's timestamp (for exact seeks), kept out of to_dict: attached by probe() and
    # cached_info(), so the jobs of one workflow list a video's packets once, not once each
    index: "PacketIndex | None" = field(default=None, repr=False, compare=False)

    @property
    def frame_rate(self):
        return Fraction(self.fps)

    def to_dict(self):
        data = asdict(replace(self, index=None))
        del data["index"]
        return data

    @classmethod
    def from_dict(cls, data):
        return cls(**data)

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2)


@dataclass
class PacketIndex:
    """Presentation-ordered timestamps of every video frame, which frames are keyframes, and the
    packets in decode order (for safe cuts and for the output's timestamps).

    Frames are what the decoder outputs: packets an edit list discards (ffprobe flag D) are not
    frames, and are not counted.
    """

    pts: list  # in stream time_base ticks, sorted (presentation order)
    keyframes: list  # frame indices (presentation order) that start with a keyframe
    time_base: Fraction
    decode_pts: list = field(default_factory=list)  # pts of the frames' packets in decode order
    decode_dts: list = field(default_factory=list)  # their dts (None where the container has none)
    safe_keys: list = field(default_factory=list)  # keyframes a cut may start at (safe_cut_points)
    reliable: bool = True  # every packet has its own pts (else frames are found by counting)
    discarded: int = 0  # packets an edit list hides (decoded for reference, never shown)
    # where listed with hashes (packet_index(hashes=True)): each decode_pts packet's ffprobe
    # adler32 ("adler32:hex") and size, what the self-check compares copied packets by
    hashes: list = field(default_factory=list)
    sizes: list = field(default_factory=list)

    def to_dict(self):
        return {"pts": self.pts, "keyframes": self.keyframes, "time_base": str(self.time_base),
                "decode_pts": self.decode_pts, "decode_dts": self.decode_dts, "safe_keys": self.safe_keys,
                "reliable": self.reliable, "discarded": self.discarded, "hashes": self.hashes, "sizes": self.sizes}

    @classmethod
    def from_dict(cls, data):
        return cls(pts=data["pts"], keyframes=data["keyframes"], time_base=Fraction(data["time_base"]),
                   decode_pts=data.get("decode_pts", []), decode_dts=data.get("decode_dts", []),
                   safe_keys=data.get("safe_keys", data["keyframes"]), reliable=data.get("reliable", True),
                   discarded=data.get("discarded", 0), hashes=data.get("hashes", []), sizes=data.get("sizes", []))

    def packet_rows(self, hashed=True):
        """[(pts, dts, "", hash, size)] of the frames' packets in decode order, as
        aivid.output.check lists packets, where every packet has its own pts and (`hashed`) this
        index holds their hashes; else None (the check lists them itself)."""
        n = len(self.decode_pts)
        if not self.reliable or len(self.decode_dts) != n or (hashed and len(self.hashes) != n):
            return None
        hashes, sizes = (self.hashes, self.sizes) if hashed else ([None] * n, [0] * n)
        return list(zip(self.decode_pts, self.decode_dts, [""] * n, hashes, sizes))

    def reorder_delay(self):
        """How many frames the decoder holds back (0 without B-frames): the most any packet's
        decode position runs ahead of its presentation position."""
        rank = {ts: i for i, ts in enumerate(self.pts)}
        return max([0] + [j - rank[ts] for j, ts in enumerate(self.decode_pts)])

    def decode_start(self, start):
        """The decode position of the keyframe to start decoding at so that frame `start` and
        every later frame come out: the last keyframe at or before it in presentation with no
        packet needed (pts >= frame start's) before it in decode order."""
        target, best, seen = self.pts[start], 0, None
        keys = set(self.keyframes)
        rank = {ts: i for i, ts in enumerate(self.pts)}
        for j, ts in enumerate(self.decode_pts):
            if seen is not None and seen >= target:
                break
            if rank[ts] in keys and ts <= target:
                best = j
            seen = ts if seen is None else max(seen, ts)
        return best


def _run_ffprobe_json(path):
    require("ffprobe")
    try:
        return ffmpeg.probe(str(path))
    except ffmpeg.Error as exc:
        raise AividError(path, f"not a readable video ({last_error_line(exc.stderr)})") from None


def check_exists(path):
    p = Path(path)
    if not p.exists():
        raise AividError(path, "no such file")
    if p.is_dir():
        raise AividError(path, "is a directory, not a video file")
    if p.stat().st_size == 0:
        raise AividError(path, "is empty (0 bytes)")


def _video_stream(data, path):
    streams = [s for s in data.get("streams", []) if s.get("codec_type") == "video"]
    streams = [s for s in streams if not s.get("disposition", {}).get("attached_pic")]
    if not streams:
        raise AividError(path, "has no video stream")
    return streams[0]


def _rotation(stream):
    for side in stream.get("side_data_list", []) or []:
        if "rotation" in side:
            return int(round(float(side["rotation"]))) % 360
    rotate = stream.get("tags", {}).get("rotate")
    return (-int(rotate)) % 360 if rotate else 0


def _bit_depth(stream):
    raw = stream.get("bits_per_raw_sample")
    if raw and str(raw).isdigit():
        return int(raw)
    pix = stream.get("pix_fmt", "")
    for depth in (16, 14, 12, 10, 9):
        if f"p{depth}" in pix:
            return depth
    return 8


def _fraction(text, default="0/1"):
    text = text if text and text != "0/0" else default
    return Fraction(text)


def safe_cut_points(decode_pts, key_positions):
    """Frame indices where a cut is safe: a keyframe that no later packet (decode order) shows
    before and no earlier packet shows after, so the GOP it starts references nothing before it.
    H.264 open GOPs and HEVC CRA pictures with leading (RASL) pictures fail this: their leading
    pictures come after them in decode order and reference the previous GOP."""
    n = len(decode_pts)
    suffix_min = [None] * n
    low = None
    for j in range(n - 1, -1, -1):
        suffix_min[j] = low
        low = decode_pts[j] if low is None else min(low, decode_pts[j])
    safe, high = [], None
    for j, ts in enumerate(decode_pts):
        if j in key_positions and (high is None or high < ts) and (suffix_min[j] is None or suffix_min[j] > ts):
            safe.append(j)  # exactly j packets come before it, all shown earlier: it is frame j
        high = ts if high is None else max(high, ts)
    return safe


def packet_index(path, stream_index=None, hashes=False):
    """Read every video packet's timestamps and flags, without decoding (fast); with `hashes`
    also each packet's adler32 and size (the same one pass over the file)."""
    require("ffprobe")
    select = f"{stream_index}" if stream_index is not None else "v:0"
    entries = "packet=pts,dts,flags" + (",size,data_hash" if hashes else "") + ":stream=time_base"
    code, out, err = run_capture(
        ["ffprobe", "-v", "error", "-select_streams", select, "-show_entries", entries, "-of", "json"]
        + (["-show_data_hash", "adler32"] if hashes else []) + [str(path)]
    )
    if code != 0:
        raise AividError(path, f"cannot read packets ({last_error_line(err)})")
    data = json.loads(out or b"{}")
    time_base = _fraction(data.get("streams", [{}])[0].get("time_base"), "1/90000")
    def number(value):
        return int(value) if value not in (None, "N/A") else None

    listed = data.get("packets", [])
    packets = [pkt for pkt in listed if "D" not in pkt.get("flags", "")]
    # a packet's own pts only: AVI gives B-frame streams' packets a dts and no pts, and a dts
    # taken for a pts puts the frames in decode order
    decode_pts = [number(p.get("pts")) for p in packets]
    decode_dts = [number(p.get("dts")) for p in packets]
    reliable = None not in decode_pts and len(set(decode_pts)) == len(decode_pts)
    if not reliable:  # no usable timestamps: frames in decode order, found by counting
        decode_pts = list(range(len(packets)))
    key_positions = {j for j, p in enumerate(packets) if "K" in p.get("flags", "")}
    order = sorted(range(len(packets)), key=lambda j: decode_pts[j])
    rank = {j: i for i, j in enumerate(order)}
    keyframes = sorted(rank[j] for j in key_positions)
    safe = safe_cut_points(decode_pts, key_positions) if reliable else keyframes
    return PacketIndex(pts=[decode_pts[j] for j in order], keyframes=keyframes, time_base=time_base,
                       decode_pts=decode_pts, decode_dts=decode_dts, safe_keys=safe, reliable=reliable,
                       discarded=len(listed) - len(packets),
                       hashes=[p.get("data_hash") for p in packets] if hashes else [],
                       sizes=[int(p.get("size") or 0) for p in packets] if hashes else [])


def _is_vfr(index, fps):
    if len(index.pts) < 3 or not fps:
        return False
    deltas = [b - a for a, b in zip(index.pts, index.pts[1:])]
    expected = 1 / (fps * index.time_base)
    return any(abs(d - expected) > max(1.0, 0.02 * expected) for d in deltas)


def _stream_summary(stream):
    return {
        "index": stream["index"],
        "codec": stream.get("codec_name"),
        "language": stream.get("tags", {}).get("language"),
        **({"channels": stream.get("channels"), "sample_rate": stream.get("sample_rate")}
           if stream.get("codec_type") == "audio" else {}),
    }


def probe(path):
    """Probe `path`; raise AividError with a one-line reason if it is not a usable video."""
    return probe_with_index(path)[0]


def probe_with_index(path, hashes=False):
    """Probe `path` and return (VideoInfo, PacketIndex): the packets are listed only once
    (`hashes`: with their hashes, packet_index)."""
    check_exists(path)
    data = _run_ffprobe_json(path)
    vs = _video_stream(data, path)
    index = packet_index(path, vs["index"], hashes)
    listed = int(vs["nb_frames"]) if str(vs.get("nb_frames", "")).isdigit() else None
    frames = len(index.pts)  # what the decoder outputs (an edit list's discarded packets left out)
    if frames == 0:
        raise AividError(path, "contains no video frames")
    if listed is not None and listed > frames + index.discarded:
        raise AividError(path, f"file truncated: its header lists {listed} frames, {frames} are in the file")
    fps = _fraction(vs.get("avg_frame_rate")) or _fraction(vs.get("r_frame_rate"))
    rotation = _rotation(vs)
    width, height = int(vs["width"]), int(vs["height"])
    if rotation in (90, 270):
        width, height = height, width
    fmt = data.get("format", {})
    others = data.get("streams", [])
    audio = [_stream_summary(s) for s in others if s.get("codec_type") == "audio"]
    subs = [_stream_summary(s) for s in others if s.get("codec_type") == "subtitle"]
    info = VideoInfo(
        path=str(path), width=width, height=height, frames=frames,
        fps=f"{fps.numerator}/{fps.denominator}", time_base=vs.get("time_base", "1/90000"),
        codec=vs.get("codec_name"), profile=vs.get("profile"), level=vs.get("level"),
        pix_fmt=vs.get("pix_fmt"), bit_depth=_bit_depth(vs),
        sar=vs.get("sample_aspect_ratio", "1:1") if vs.get("sample_aspect_ratio") != "0:1" else "1:1",
        color_primaries=vs.get("color_primaries"), color_transfer=vs.get("color_transfer"),
        color_space=vs.get("color_space"), color_range=vs.get("color_range"),
        rotation=rotation, vfr=_is_vfr(index, fps), duration=float(fmt.get("duration") or 0.0),
        start_time=float(fmt.get("start_time") or 0.0), has_audio=bool(audio), audio=audio,
        subtitles=subs, bit_rate=int(vs["bit_rate"]) if str(vs.get("bit_rate", "")).isdigit() else None,
        field_order=vs.get("field_order"), container=fmt.get("format_name"), stream=vs["index"],
        index=index,
    )
    return info, index


def cached_info(data):
    """The VideoInfo in a probe cache (aivid.workflow.config.probe_cached), with its packet index."""
    info = VideoInfo.from_dict(data["info"])
    if "pts" in data:
        info.index = PacketIndex.from_dict(data)
    return info


@functools.lru_cache(maxsize=16)
def hdr_metadata(path):
    """The HDR10 static metadata of a video's first frame, as x264/x265 take it: {"display":
    "G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)" (chromaticities in 1/50000, luminance in 1/10000
    cd/m²), "light": "MaxCLL,MaxFALL"}, each only where the source has it ({} for SDR).  Read
    with PyAV's libavcodec, whose decoders export it for H.264 as well as HEVC."""
    import struct

    import av

    found = {}
    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0), None)
    except (av.FFmpegError, StopIteration):
        return found
    side = frame.side_data if frame is not None else []
    for data in (side.values() if hasattr(side, "values") else side):  # a mapping from PyAV 18
        raw = bytes(data)
        if data.type.name == "MASTERING_DISPLAY_METADATA" and len(raw) >= 88:
            v = struct.unpack("<22i", raw[:88])  # 10 rationals (num, den), has_primaries, has_luminance
            q = [Fraction(v[i], v[i + 1]) if v[i + 1] else Fraction(0) for i in range(0, 20, 2)]
            (rx, ry, gx, gy, bx, by, wx, wy), (low, high) = q[:8], q[8:]
            c, lum = (lambda f: round(f * 50000)), (lambda f: round(f * 10000))
            if v[20] and v[21]:
                found["display"] = (f"G({c(gx)},{c(gy)})B({c(bx)},{c(by)})R({c(rx)},{c(ry)})"
                                    f"WP({c(wx)},{c(wy)})L({lum(high)},{lum(low)})")
        elif data.type.name == "CONTENT_LIGHT_LEVEL" and len(raw) >= 8:
            found["light"] = "%d,%d" % struct.unpack("<2I", raw[:8])
    return found
