"""newsflow: news about AI in entertainment, from feeds to Parquet on object storage."""

from importlib.metadata import PackageNotFoundError, version

from pipeline.memory import limit_arenas

limit_arenas()  # before any thread allocates: see pipeline.memory

try:
    __version__ = version("newsflow")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
