"""aivid: local AI video repair — mask the defects, fill only those regions, keep everything else."""

__version__ = "0.1.0"

__all__ = ["LazyVideo", "AividError", "__version__"]


def __getattr__(name):  # keep `import aivid` light: zarr/numpy load on first use
    if name == "LazyVideo":
        from aivid.media.lazy import LazyVideo

        return LazyVideo
    if name == "AividError":
        from aivid.errors import AividError

        return AividError
    raise AttributeError(name)
