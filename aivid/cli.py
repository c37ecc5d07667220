"""The `aivid` command line.  Heavy modules are imported inside commands, never at start-up."""

import functools
import json
import sys

import click


def user_errors(func):
    """Turn AividError (and Ctrl-C) into a one-line message and a non-zero exit, no traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from aivid.errors import AividError

        try:
            return func(*args, **kwargs)
        except AividError as exc:
            click.echo(f"aivid: error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("aivid: interrupted", err=True)
            sys.exit(130)

    return wrapper


@click.group()
@click.version_option(package_name="aivid")
def main():
    """aivid: repair defects in videos, touching only the pixels that need it."""


@main.command()
@click.argument("video", type=click.Path(dir_okay=False))
@user_errors
def probe(video):
    """Print what aivid knows about VIDEO as JSON."""
    from aivid.media.probe import probe as probe_video

    click.echo(probe_video(video).to_json())


@main.command()
@click.argument("video", type=click.Path(dir_okay=False))
@click.argument("out", type=click.Path())
@click.option("--start", type=int, default=0, show_default=True, help="First frame (inclusive).")
@click.option("--stop", type=int, default=None, help="Last frame (exclusive); default: the end.")
@user_errors
def decode(video, out, start, stop):
    """Decode VIDEO (frames [START, STOP)) into the Zarr store OUT."""
    from aivid.media.decode import decode_to_zarr

    decode_to_zarr(video, out, start, stop)


@main.command()
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--lossless", is_flag=True, help="FFV1 in Matroska: decodes back to identical RGB.")
@click.option("--crf", type=int, help="Quality for lossy codecs (default: output.crf of the config schema).")
@click.option("--codec", help="ffmpeg video encoder (default: output.codec of the config schema).")
@click.option("--preset", help="Encoder speed preset (default: output.preset of the config schema).")
@click.option("--audio-from", type=click.Path(dir_okay=False), help="Copy audio and subtitles from this file.")
@user_errors
def encode(store, out, lossless, crf, codec, preset, audio_from):
    """Encode the Zarr video STORE to the file OUT."""
    from aivid.media.encode import EncodeSettings, encode_zarr
    from aivid.errors import AividError

    if lossless and not out.lower().endswith(".mkv"):
        raise AividError(out, "lossless output is FFV1 and needs a .mkv file name")
    chosen = {"codec": codec, "crf": crf, "preset": preset, "lossless": lossless}
    settings = EncodeSettings.from_config({k: v for k, v in chosen.items() if v is not None})
    n = encode_zarr(store, out, settings, audio_from)
    click.echo(json.dumps({"output": out, "frames": n}))


def _box(text):
    try:
        box = [int(v) for v in text.split(",")]
    except ValueError:
        box = []
    if len(box) != 4:
        raise click.BadParameter(f"{text!r}: expected x,y,width,height")
    return box


@main.command()
@click.argument("video", type=click.Path(dir_okay=False))
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Mask video to write (.mkv).")
@click.option("--detectors", help="Comma-separated (default: automask.detectors of the config schema): "
              "transient (specks, scratches, dropouts) and/or static (logos, text, stuck pixels).")
@click.option("--exclude", multiple=True, metavar="X,Y,W,H", help="Never flag inside this box (repeatable).")
@click.option("--span", type=int, default=250, show_default=True,
              help="Frames analysed together (overlays are found per span; memory does not grow with it).")
@click.option("--preview", type=click.Path(dir_okay=False), help="Also write a contact sheet PNG of the mask.")
@user_errors
def automask(video, out, detectors, exclude, span, preview):
    """Find defects in VIDEO and write them as a lossless grey mask video (255 = repair)."""
    import numpy as np

    from aivid.media.encode import encode_frames
    from aivid.errors import AividError
    from aivid.masks.manual import AutoMask
    from aivid.media.probe import probe as probe_video
    from aivid.workflow.config import section

    if not out.lower().endswith(".mkv"):
        raise AividError(out, "the mask is lossless FFV1 and needs a .mkv file name")
    info = probe_video(video)
    chosen = {"exclude": [_box(b) for b in exclude]}
    if detectors:
        chosen["detectors"] = [d.strip() for d in detectors.split(",") if d.strip()]
    options = section("automask", chosen, source="--detectors/--exclude")
    source = AutoMask(video, info.frames, options, section("plan")["shot_threshold"])
    flagged = [0]

    def masks():
        for a in range(0, info.frames, span):
            for _, block in source.blocks(a, min(info.frames, a + span)):
                flagged[0] += int(block.any(axis=(1, 2)).sum())
                yield block.view(np.uint8) * np.uint8(255)

    n = encode_frames(masks(), out, info.width, info.height, info.fps, gray=True)
    if preview:
        from aivid.masks.preview import contact_sheet

        contact_sheet(video, out, preview)
    click.echo(json.dumps({"mask": out, "frames": n, "frames_with_defects": flagged[0], "preview": preview}))


@main.command()
@click.argument("video", type=click.Path(dir_okay=False))
@click.option("--box", nargs=4, type=int, metavar="X Y W H", help="The object's box on --frame.")
@click.option("--point", "points", multiple=True, nargs=2, type=float, metavar="X Y",
              help="A pixel on the object (repeatable; SAM2 / SAM3 models only).")
@click.option("--text", help="Words naming the object instead of a box (a SAM3 video model only, e.g. facebook/sam3).")
@click.option("--frame", "frame", type=int, required=True, help="The frame the box, points or text are given on.")
@click.option("--frames", nargs=2, type=int, metavar="START STOP",
              help="Track over these frames (stop exclusive) instead of the shot around --frame.")
@click.option("--model", help="classical or a SAM2 / SAM3 model: hub id or local folder (default: track.model of the config schema).")
@click.option("--width", type=int, help="Working width (default: track.width of the config schema).")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Mask video to write (.mkv).")
@click.option("--preview", type=click.Path(dir_okay=False), help="Also write a contact sheet PNG of the mask.")
@user_errors
def track(video, box, points, text, frame, frames, model, width, out, preview):
    """Follow an object through its shot in VIDEO and write a lossless grey mask video (255 = object)
    the size and length of VIDEO: the object is given by a box (or points, or words) on one frame."""
    import numpy as np

    from aivid.errors import AividError
    from aivid.masks.track import check_tracked, full_size, region_span, track_small
    from aivid.media.encode import encode_frames
    from aivid.media.probe import probe as probe_video
    from aivid.workflow.config import section

    if not out.lower().endswith(".mkv"):
        raise AividError(out, "the mask is lossless FFV1 and needs a .mkv file name")
    info = probe_video(video)
    chosen = {k: v for k, v in (("model", model), ("width", width)) if v is not None}
    options = section("track", chosen, source="--model/--width")
    region = {"track": True, "frame": frame, **({"box": list(box)} if box else {}),
              **({"points": [list(p) for p in points]} if points else {}),
              **({"text": text} if text is not None else {}),
              **({"frames": list(frames)} if frames else {})}
    check_tracked(region, None, info.width, info.height, info.frames, options["model"], f"{video}: --box/--point/--text")
    a, b = region_span(video, info, region, section("plan")["shot_threshold"])
    masks = track_small(video, info, region, a, b, options)

    def blocks():
        empty = np.zeros((info.height, info.width), np.uint8)
        for t in range(info.frames):
            yield (full_size(masks[t - a], info.width, info.height) * np.uint8(255)) if a <= t < b else empty

    n = encode_frames(blocks(), out, info.width, info.height, info.fps, gray=True)
    if preview:
        from aivid.masks.preview import contact_sheet

        contact_sheet(video, out, preview)
    click.echo(json.dumps({"mask": out, "frames": n, "tracked": [a, b], "empty_frames": int((~masks.any(axis=(1, 2))).sum()),
                           "model": options["model"], "preview": preview}))


@main.command()
@click.argument("video", type=click.Path(dir_okay=False))
@click.argument("mask", type=click.Path(dir_okay=False))
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="PNG to write.")
@click.option("--frames", "count", type=int, default=12, show_default=True, help="Frames on the sheet.")
@user_errors
def preview(video, mask, out, count):
    """Contact sheet of VIDEO with MASK (white = repair) overlaid in red: the busiest frames and a spread."""
    from aivid.masks.preview import contact_sheet

    click.echo(json.dumps({"preview": contact_sheet(video, mask, out, count)}))


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False), default=".")
@user_errors
def status(run_dir):
    """How far the workflow run in RUN_DIR has got: per video, windows and segments done and total."""
    from aivid.workflow.progress import status as run_status

    for line in run_status(run_dir):
        click.echo(line)


@main.command()
@click.argument("video_out", type=click.Path(dir_okay=False), default="resources/demo/input.mp4")
@click.argument("mask_out", type=click.Path(dir_okay=False), default="resources/demo/specks.mkv")
@user_errors
def demo(video_out, mask_out):
    """Write the demo clip (real footage with burned-in defects) and its speck mask video."""
    from aivid.demo import make_demo

    make_demo(video_out, mask_out)
    click.echo(json.dumps({"video": video_out, "mask": mask_out}))


if __name__ == "__main__":
    main()
