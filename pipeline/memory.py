"""Fewer malloc arenas, so that a long run's memory follows its day.

glibc gives each thread that allocates concurrently an arena of its own, up to eight per
core, and a freed block goes back to the arena it came from. A commit allocates and frees
hundreds of megabytes from Python, pyarrow's and delta-rs's threads; with many arenas the
freed space is scattered and resident memory ratchets up commit after commit (measured:
a process committing 300 synthetic articles a day for 40 days grew by 6 MiB a day with
the default and by under 2 MiB a day with two arenas). ``limit_arenas`` caps them at two, as
``MALLOC_ARENA_MAX=2`` does, from inside the process: it must run before the threads
start, so the package calls it when it is imported. Other C libraries are untouched.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's <malloc.h>


def limit_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas (unless ``MALLOC_ARENA_MAX`` says otherwise); whether
    it was done (not on other C libraries or systems)."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))
