"""How each segment of a video becomes a piece of the output: the one decision of copy versus
encode, which the config check, the rules (which files a segment needs) and the piece step (which
encode to run) all ask.

A video's pieces are of one format (`piece_format`): "ts" (H.264/HEVC GOPs in MPEG-TS), "mov" or
"nut" (frames of an intra-only codec: ProRes, DNxHR, MJPEG; FFV1) when untouched frames can keep their packets
(smart render, `smart_render`), else "mkv" (lossless) or "mp4" (everything re-encoded).  Each
segment then takes one route (`segment_route`):

- "copy": its packets are copied from the source at the join (aivid.output.remux): no file;
- "transcode": re-encoded straight from the source, nothing repaired;
- "repair_gops": the GOPs its repair reaches (for an intra-only codec: the frames it changes) are
  re-encoded with the repair laid over, its other packets stream-copied;
- "repair": the whole segment re-encoded with the repair laid over.
"""

# source codec -> the encoder that can match its stream, so re-encoded and copied packets are one
# stream (aivid.output.assemble.matched_settings)
COPY_CODECS = {"h264": "libx264", "hevc": "libx265", "prores": "prores_ks", "dnxhd": "dnxhd", "mjpeg": "mjpeg",
               "ffv1": "ffv1"}
INTRA_CODECS = ("prores", "dnxhd", "mjpeg", "ffv1")  # every frame coded on its own: every frame a safe cut
SMART_PIECES = {"ts": "gops", "mov": "intra", "nut": "intra"}  # piece formats whose pieces join copied packets
INTRA_PIECES = {"prores": "mov", "dnxhd": "mov", "mjpeg": "mov", "ffv1": "nut"}  # a container that takes the codec


def smart_render(piece_ext):
    """Whether pieces of this format (see piece_format) replace some of the source's packets, the
    others copied (else the pieces are the whole video)."""
    return piece_ext in SMART_PIECES


def stream_copy_reason(info, output):
    """Why untouched frames cannot keep their packets for this source and `output` config section
    (None: they can)."""
    from aivid.media.ffmpeg_bin import has_encoder
    from aivid.output.assemble import OVERLAY_FORMATS, intra_reason

    if output["lossless"]:
        return "lossless output re-encodes everything"
    if info.codec not in COPY_CODECS:
        return f"the source codec {info.codec} cannot be matched (only {', '.join(COPY_CODECS)})"
    encoder = COPY_CODECS[info.codec]
    if output["codec"] not in ("auto", encoder):
        return f"output.codec {output['codec']} differs from the source's {info.codec}"
    if not has_encoder(encoder):
        return f"this ffmpeg has no {encoder} encoder for the source's {info.codec}"
    if info.codec in INTRA_CODECS:
        if intra_reason(info):
            return intra_reason(info)
    elif (info.pix_fmt or "").replace("yuvj", "yuv") not in OVERLAY_FORMATS:
        return f"the source's pixel format {info.pix_fmt} is not matched yet"
    if not (info.index.reliable if info.index else True):
        return "the source's packets have no timestamps to cut by"
    return None


ENCODER_CODEC = {"libx264": "h264", "libx265": "hevc", "libvpx-vp9": "vp9", "libsvtav1": "av1", "libaom-av1": "av1"}
FAMILY_ENCODERS = {"h264": ("libx264",), "hevc": ("libx265",), "vp9": ("libvpx-vp9",), "av1": ("libsvtav1", "libaom-av1")}


def video_encoder(info, codec):
    """The encoder of a video's lossy re-encodes: `output.codec` as set, or for `auto` (the
    default) the source's own codec family where this ffmpeg has an encoder for it (x264, x265,
    libvpx-vp9, SVT-AV1 or libaom), else libx264 (MPEG-4, ... and a missing encoder; ProRes, DNxHR
    and MJPEG smart-render with their own encoder, aivid.output.assemble.matched_settings)."""
    from aivid.media.ffmpeg_bin import has_encoder

    if codec != "auto":
        return codec
    return next((name for name in FAMILY_ENCODERS.get(info.codec, ()) if has_encoder(name)), "libx264")


def output_for(info, output):
    """The `output` config section as it applies to one video: its encoder resolved."""
    return {**output, "codec": video_encoder(info, output["codec"])}


def output_format(info, output, piece_ext):
    """(extension, reason) of a video's output file: the source's container when it can hold
    what is written (always, when the video's packets are copied), else Matroska, and why."""
    from aivid.output.remux import output_container

    if smart_render(piece_ext):
        return output_container(info)
    encoder = video_encoder(info, output["codec"])
    codec = "ffv1" if piece_ext == "mkv" else ENCODER_CODEC.get(encoder, encoder)
    return output_container(info, codec)


def encode_refusal(info, piece_ext, untouched_all, output):
    """Why this video cannot be written at all (None: it can), known before any work: a 4:2:0
    encode needs even sizes."""
    if smart_render(piece_ext) and untouched_all:
        return None  # nothing is re-encoded
    if piece_ext != "mkv" and (info.width % 2 or info.height % 2):
        return (f"{info.width}x{info.height} has an odd side, and re-encoded frames are 4:2:0, which needs "
                "even sizes: crop or pad the video by one pixel first (or set output.lossless: true)")
    return None


def piece_format(info, output):
    """(format, reason): "ts", "mov", "nut", "mkv" or "mp4" for a video's pieces, and why not smart
    render (None when it is, or when the config asked for a full re-encode)."""
    if output["lossless"]:
        return "mkv", None
    if output["reencode"] == "all":
        return "mp4", None
    reason = stream_copy_reason(info, output)
    if reason:
        return "mp4", reason
    return INTRA_PIECES.get(info.codec, "ts"), None


def segment_route(piece_ext, untouched, plan=None):
    """The route of one segment (see the module's docstring), or None while it depends on the
    segment's plan and `plan` is not given.  `untouched`: no mask source can reach the segment
    (known from the config alone, so such a segment needs no mask and no plan)."""
    copyable = smart_render(piece_ext)
    if untouched or (plan is not None and not plan["work"]):
        return "copy" if copyable else "transcode"
    if plan is None:
        return None
    return "repair_gops" if copyable else "repair"


def piece_name(piece_ext, route):
    """The file a segment's route writes, relative to its segment folder (None: copied at the join)."""
    return None if route == "copy" else f"piece.{piece_ext}"


def route_reason(route, piece_ext, whole_reason=None, spans=()):
    """Why a segment took its route, in words (for the report); `spans`: its re-encoded frames
    [(a, b), ...] (aivid.output.assemble.reencoded_spans)."""
    if route == "copy":
        return "no repair reaches it: its packets are copied into the output, never decoded"
    if route == "repair_gops":
        frames = ", ".join(f"{a}-{b}" for a, b in spans)
        if SMART_PIECES[piece_ext] == "intra":
            return f"frames {frames} (the frames its repair changes) re-encoded, its other frames copied"
        return f"frames {frames} (the GOPs its repair reaches) re-encoded, its other GOPs copied"
    why = ("lossless output re-encodes everything" if piece_ext == "mkv"
           else whole_reason or "output.reencode: all")
    return ("repaired and re-encoded: " if route == "repair" else "re-encoded from the source: ") + why
