"""Fewer malloc arenas for a long-running agent.

glibc gives a thread that meets contention an arena of its own, up to 8 per core: the
listener's pool threads, the writers and the scheduler each end up holding freed memory the
others cannot reuse (about 2 MB on the 2-core test machine, more on a 4-core Pi). Two arenas
are plenty for a process that runs Python code one thread at a time (the GIL). Whoever set
MALLOC_ARENA_MAX (a unit's Environment=, a shell) is obeyed instead; other C libraries
(musl) have no such call and are left as they are.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Mapping, Optional

M_ARENA_MAX = -8  # glibc's malloc.h
ARENAS = 2


def c_library() -> Any:
    import ctypes  # only here: its cost (about 0.4 MB) is paid where the saving is

    return ctypes.CDLL(None)


def limit_malloc_arenas(arenas: int = ARENAS, environ: Optional[Mapping[str, str]] = None,
                        library: Callable[[], Any] = c_library) -> bool:
    """Call before the threads start; True when the C library took the limit."""
    environ = os.environ if environ is None else environ
    if "MALLOC_ARENA_MAX" in environ or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = library().mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return mallopt(M_ARENA_MAX, arenas) == 1
