"""Workflow configuration: schema validation with defaults, and path resolution."""

import copy
from pathlib import Path

import yaml

from .errors import AividError

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"


def _fill_defaults(schema, value):
    """Fill schema defaults into `value` (objects only), recursively."""
    if schema.get("type") != "object" or not isinstance(value, dict):
        return value
    for key, sub in schema.get("properties", {}).items():
        if key not in value and "default" in sub:
            value[key] = copy.deepcopy(sub["default"])
        if key in value:
            value[key] = _fill_defaults(sub, value[key])
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key in value:
            if key not in schema.get("properties", {}):
                value[key] = _fill_defaults(extra, value[key])
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


def validate_config(config, schema_path=SCHEMA_PATH, source="config"):
    """Return a validated copy of `config` with defaults filled; AividError names the bad key."""
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text())
    config = copy.deepcopy(config or {})
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        key, problem = _key_path(errors[0])
        raise AividError(source, f"{key}: {problem}")
    return _fill_defaults(schema, config)


def resolve_path(path, base_dir, workdir=None):
    """Resolve `path` against the config file's folder; keep it relative to workdir when inside it."""
    p = Path(path).expanduser()
    p = p if p.is_absolute() else (Path(base_dir) / p)
    p = Path(*p.resolve().parts) if p.exists() else Path(str(p.absolute()))
    workdir = Path(workdir or Path.cwd()).resolve()
    try:
        return str(p.resolve().relative_to(workdir))
    except ValueError:
        return str(p)


def config_base_dir(configfiles, overwrite_configfiles):
    """The folder relative paths in the config are resolved against: the user's config file's."""
    chosen = list(overwrite_configfiles) or list(configfiles)
    return Path(chosen[-1]).resolve().parent if chosen else Path.cwd()


def check_video_inputs(name, video, options, where):
    """Probe a video and its mask sources now, so bad input fails before any job runs."""
    from .masks import mask_sources
    from .probe import probe

    info = probe(video["path"])
    mask_sources(video, info, options["mask"]["threshold"], where=f"{where}: videos.{name}")
    return info


def checked_config(config, configfiles=(), overwrite_configfiles=(), made_by_workflow=()):
    """Validate the workflow config, resolve its paths and check its inputs; AividError if bad."""
    source = str((list(overwrite_configfiles) or list(configfiles) or ["config"])[-1])
    config = validate_config(config, source=source)
    base = config_base_dir(configfiles, overwrite_configfiles)
    for name, video in config["videos"].items():
        video["path"] = resolve_path(video["path"], base)
        if video.get("mask"):
            video["mask"] = resolve_path(video["mask"], base)
        if video["path"] in made_by_workflow:
            continue
        check_video_inputs(name, video, config, source)
    from .backends import backend_class

    config["inpaint_chained"] = backend_class(config["inpaint"]["backend"]).chained
    return config
