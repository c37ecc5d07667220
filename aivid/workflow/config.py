"""Workflow configuration: schema validation with defaults, and path resolution."""

import copy
import functools
import json
import os
import sys
from pathlib import Path

import yaml

from aivid.errors import AividError
from aivid.output.route import encode_refusal, output_format, piece_format, video_encoder

SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")  # shipped inside the package


@functools.cache
def load_schema(schema_path=SCHEMA_PATH):
    """The config schema: the one place every default and allowed value is written."""
    return yaml.safe_load(Path(schema_path).read_text())


def _resolved(schema, root):
    """`schema` with a local `$ref` ("#/definitions/NAME") followed."""
    while "$ref" in schema:
        node = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _fill_defaults(schema, value, root):
    """Fill schema defaults into `value` (objects only), recursively."""
    schema = _resolved(schema, root)
    if schema.get("type") != "object" or not isinstance(value, dict):
        return value
    for key, sub in schema.get("properties", {}).items():
        sub = _resolved(sub, root)
        if key not in value and "default" in sub:
            value[key] = copy.deepcopy(sub["default"])
        if key in value:
            value[key] = _fill_defaults(sub, value[key], root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key in value:
            if key not in schema.get("properties", {}):
                value[key] = _fill_defaults(extra, value[key], root)
    return value


def _key_path(error):
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "additionalProperties":
        unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return ".".join(parts + unknown[:1]), f"unknown key (allowed: {', '.join(sorted(error.schema.get('properties', {})))})"
    if error.validator == "required":
        missing = [r for r in error.validator_value if r not in error.instance]
        return ".".join(parts + missing[:1]), "is required"
    return ".".join(parts) or "<top level>", error.message


def _check(schema, value, source, prefix=""):
    import jsonschema

    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        key, problem = _key_path(errors[0])
        raise AividError(source, f"{prefix}{key}: {problem}")


def validate_config(config, schema_path=SCHEMA_PATH, source="config"):
    """Return a validated copy of `config` with defaults filled; AividError names the bad key.

    A video's own `automask` keys override the global section's; each video's section is then
    complete (defaults filled), so steps read one place."""
    schema = load_schema(schema_path)
    config = copy.deepcopy(config or {})
    _check(schema, config, source)
    for video in config["videos"].values():
        video["automask"] = {**config.get("automask", {}), **video.get("automask", {})}
    config = _fill_defaults(schema, config, schema)
    _complete("inpaint", config["inpaint"])
    return config


def _complete(name, values):
    """What a section's defaults cannot say alone: the inpaint preset fills steps, guidance, shift."""
    if name == "inpaint":
        from aivid.repair.backends.vace_speed import apply_preset

        apply_preset(values)
    return values


def section(name, values=None, source=None):
    """One checked config section (`automask`, `inpaint`, `output`, ...) with the schema's defaults
    filled in: for callers outside the workflow (the command line, scripts, tests), so that they
    and the workflow read the same defaults."""
    schema = load_schema()
    sub = {**schema["properties"][name], "definitions": schema.get("definitions", {})}
    values = copy.deepcopy(values or {})
    _check(sub, values, source or name, prefix=f"{name}.")
    return _complete(name, _fill_defaults(sub, values, schema))


def resolve_path(path, base_dir, workdir=None):
    """Resolve `path` against the config file's folder; keep it relative to workdir when inside it."""
    p = Path(path).expanduser()
    p = (p if p.is_absolute() else Path(base_dir) / p).resolve()
    workdir = Path(workdir or Path.cwd()).resolve()
    try:
        return str(p.relative_to(workdir))
    except ValueError:
        return str(p)


def config_base_dir(configfiles, overwrite_configfiles):
    """The folder relative paths in the config are resolved against: the user's config file's."""
    chosen = list(overwrite_configfiles) or list(configfiles)
    return Path(chosen[-1]).resolve().parent if chosen else Path.cwd()


def _write_if_changed(path, data, write=True):
    text = json.dumps(data, indent=1, sort_keys=True)
    path = Path(path)
    if write and not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)


def probe_cached(video_path, cache, write=True):
    """Probe a video (and list its packets' timestamps and keyframes) once per file version,
    cached in `cache` (read back with aivid.media.probe.cached_info)."""
    from aivid.media.probe import check_exists, probe_with_index

    check_exists(video_path)
    stat = os.stat(video_path)
    stamp = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    cache = Path(cache)
    if cache.exists():
        data = json.loads(cache.read_text())
        if data.get("stamp") == stamp and data["info"]["path"] == str(video_path) and data.get("hashes"):
            return data
    info, index = probe_with_index(video_path, hashes=True)  # the hashes: for the output's self-check
    data = {"stamp": stamp, "info": info.to_dict(), **index.to_dict()}
    _write_if_changed(cache, data, write)
    return data


def prepare_video(name, config, root="results", where="config", write=True):
    """Probe one video, check its mask sources, and (re)write its probe.json and segments.json.

    Done when the workflow is parsed, so that bad input fails before any job runs and the
    segment list is known without a checkpoint.  Files are rewritten only when they change.
    """
    from aivid.masks.manual import mask_sources, untouched_segments
    from aivid.media.probe import cached_info
    from aivid.workflow.segments import plan_segments

    video = config["videos"][name]
    data = probe_cached(video["path"], Path(root) / name / "probe.json", write)
    info = cached_info(data)
    sources = mask_sources(video, info, config["mask"]["threshold"], config["plan"]["shot_threshold"],
                           where=f"{where}: videos.{name}", track_model=config["track"]["model"])
    segments = plan_segments(info.frames, info.fps, data["safe_keys"], config["segments"]["seconds"],
                             keyframe_aligned=not config["output"]["lossless"])
    _write_if_changed(Path(root) / name / "segments.json", segments, write)
    video["untouched"] = [str(i) for i in untouched_segments(sources, segments)]
    return info, segments


def resolve_inpaint(inpaint, base, where):
    """LoRA paths resolved and checked, and stamped with their size and modification time, so
    replacing a LoRA file re-runs the windows."""
    for i, lora in enumerate(inpaint["lora"]):
        lora["path"] = resolve_path(lora["path"], base)
        if not Path(lora["path"]).exists():
            raise AividError(where, f"inpaint.lora[{i}].path: {lora['path']} does not exist")
        stat = Path(lora["path"]).stat()
        lora["stamp"] = f"{stat.st_size}:{stat.st_mtime_ns}"


def checked_config(config, configfiles=(), overwrite_configfiles=(), make_missing=None, root="results",
                   write=True):
    """Validate the workflow config, resolve its paths and check its inputs; AividError if bad.

    `make_missing(path)` may create an input that does not exist yet (the demo clip).  With
    `write`, the probe, segment and settings files are (re)written where they changed: only the
    run that holds the run directory (aivid.workflow.runlock) may; a cluster job re-parsing the
    workflow only reads them.
    """
    source = str((list(overwrite_configfiles) or list(configfiles) or ["config"])[-1])
    config = validate_config(config, source=source)
    base = config_base_dir(configfiles, overwrite_configfiles)
    resolve_inpaint(config["inpaint"], base, source)
    for name, video in config["videos"].items():
        video["path"] = resolve_path(video["path"], base)
        if video.get("mask"):
            video["mask"] = resolve_path(video["mask"], base)
        if make_missing and not Path(video["path"]).exists():
            make_missing(video)
        info, segments = prepare_video(name, config, root, source, write)
        video["segments"] = [str(s["index"]) for s in segments]
        video["piece_ext"], reason = piece_format(info, config["output"])
        if reason:
            encoder = "ffv1" if config["output"]["lossless"] else video_encoder(info, config["output"]["codec"])
            sys.stderr.write(f"aivid: {source}: videos.{name}: re-encoding the whole video with {encoder}: {reason}\n")
        refusal = encode_refusal(info, video["piece_ext"], len(video["untouched"]) == len(segments),
                                 config["output"])
        if refusal:
            raise AividError(video["path"], refusal)
        video["output_ext"], why = output_format(info, config["output"], video["piece_ext"])
        if why:
            sys.stderr.write(f"aivid: {source}: videos.{name}: writing output.{video['output_ext']}: {why}\n")
    if write:
        write_stage_settings(config, root)
    return config


def plan_options(inpaint):
    """The `inpaint` keys a plan depends on (the backend, its crop, how `auto` chooses)."""
    return {k: inpaint[k] for k in ("backend", "crop", "auto_transient_frames", "auto_seen_ratio", "auto_generative")}


def fixed_regions(video):
    """A video's regions that are fixed boxes (the others are tracked, and reach a segment's mask
    through their own job's store)."""
    from aivid.masks.track import is_tracked

    return [r for r in video.get("regions") or [] if not is_tracked(r)]


def tracked_regions(video):
    """{index: region} of a video's tracked regions (the index names results/NAME/regions/R)."""
    from aivid.masks.track import is_tracked

    return {str(i): r for i, r in enumerate(video.get("regions") or []) if is_tracked(r)}


def stage_settings(config, name):
    """The settings each stage of one video depends on (editing one re-runs that stage onwards;
    editing one tracked region re-runs that region's track, and the masks of the segments it
    meets, through its store)."""
    video = config["videos"][name]
    tracks = {f"track/{i}": {"region": region, "track": config["track"],
                             "shot_threshold": config["plan"]["shot_threshold"]}
              for i, region in tracked_regions(video).items()}
    return {
        **tracks,
        "mask": {"mask": config["mask"], "regions": fixed_regions(video), "file": video.get("mask"),
                 "automask": video["automask"], "shot_threshold": config["plan"]["shot_threshold"],
                 "segments": config["segments"], "lossless": config["output"]["lossless"]},
        "plan": {"plan": config["plan"], "inpaint": plan_options(config["inpaint"])},
        "inpaint": config["inpaint"],
        "blend": {"feather": config["mask"]["feather"]},
        "output": config["output"],
    }


def write_stage_settings(config, root="results"):
    """Write results/NAME/settings/STAGE.json, touching a file only when its content changes.

    Rules take these files as inputs, so an edit re-runs exactly the stages it affects (file
    modification times are a more dependable trigger than parameter provenance with checkpoints).
    """
    for name in config["videos"]:
        for stage, settings in stage_settings(config, name).items():
            _write_if_changed(Path(root) / name / "settings" / f"{stage}.json", settings)
