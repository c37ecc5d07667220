"""Inpainting backends: a window of frames and its mask in, repaired frames out."""

from aivid.repair.backends.base import InpaintBackend

BACKENDS = {
    "classical": ("aivid.repair.backends.classical", "ClassicalBackend"),
    "vace": ("aivid.repair.backends.vace", "VaceBackend"),
}


def get_backend(name, options):
    """Instantiate the backend called `name` with the `inpaint` config section."""
    import importlib

    module, cls = BACKENDS[name]
    return getattr(importlib.import_module(module), cls)(options)


def backend_class(name):
    import importlib

    module, cls = BACKENDS[name]
    return getattr(importlib.import_module(module), cls)


__all__ = ["InpaintBackend", "get_backend", "backend_class"]
