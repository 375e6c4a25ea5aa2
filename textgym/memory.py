"""glibc's malloc, started where its own dynamic thresholds end up, so a step does not page-fault fresh memory.

glibc serves an allocation above its mmap threshold (128 KiB at start) with a fresh ``mmap`` and unmaps it on
``free``; it raises the threshold to the size of each mapped block freed, up to 32 MiB, and trims the heap's top
when more than twice the threshold lies free there. A vector env's step and a training pass allocate and free
megabytes of tensors and arrays. Until the threshold has climbed past every size they use, each of those is mapped
fresh, and each 4 KiB page of it faults and is zeroed by the kernel: about 4 us a page on a virtual machine, so
3 ms for a 3 MB array. That is the "first measurement of a process is slow" cliff of issue 14 (4,096 envs with
chrF: 384k faults and 316k steps/s in a process's first timed window, 2.8k faults and 495k steps/s in its third;
``benchmarks/RESULTS.md``).

:func:`tune_malloc` sets both thresholds to the values the dynamic scheme reaches at its limit (32 MiB and twice
that), from the start. Blocks up to 32 MiB are then reused from the heap, and the heap keeps up to 64 MiB of free
top instead of returning it to the kernel; the peak resident memory is the same (measured). It is called by the
components that allocate per step (:class:`~textgym.vector.TextGenVectorEnv`, its scoring workers, the agents'
policy). It does nothing where the C library is not glibc, where the process chose its own settings through glibc's
environment variables (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_TOP_PAD_``,
``MALLOC_MMAP_MAX_``), or where ``TEXTGYM_TUNE_MALLOC=0``.
"""

from __future__ import annotations

import ctypes
import os

from textgym.error import InvalidArgumentError

__all__ = ["GLIBC_ENV_VARS", "MMAP_THRESHOLD", "TRIM_THRESHOLD", "is_glibc", "is_tuned", "tune_malloc"]

MMAP_THRESHOLD = 32 << 20  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on a 64-bit machine: the dynamic scheme's ceiling
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # what glibc sets beside each raised mmap threshold
GLIBC_ENV_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)

_state: dict[str, bool] = {}


def tune_malloc() -> bool:
    """Set glibc's mmap and trim thresholds to their dynamic ceilings, once per process; whether they are set.

    False (and nothing changed) off glibc, when one of :data:`GLIBC_ENV_VARS` is set, or with
    ``TEXTGYM_TUNE_MALLOC=0``; another value of that variable raises :class:`~textgym.error.InvalidArgumentError`.
    Idempotent; a child process (a scoring worker) does its own.
    """
    pid = str(os.getpid())
    if pid not in _state:
        _state.clear()
        _state[pid] = _apply()
    return _state[pid]


def is_tuned() -> bool:
    """Whether :func:`tune_malloc` has set glibc's thresholds in this process (it changes nothing)."""
    return _state.get(str(os.getpid()), False)


def is_glibc() -> bool:
    """Whether this process's C library is glibc (the only one :func:`tune_malloc` knows)."""
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")  # "glibc 2.36"; absent elsewhere
    except (AttributeError, ValueError, OSError):
        return False


def _apply() -> bool:
    switch = os.environ.get("TEXTGYM_TUNE_MALLOC", "1")
    if switch not in ("0", "1"):
        raise InvalidArgumentError(f"Unknown TEXTGYM_TUNE_MALLOC={switch!r}. Accepted: '1' (the default) or '0' (off).")
    if switch == "0" or any(name in os.environ for name in GLIBC_ENV_VARS) or not is_glibc():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # the mmap threshold first: setting either one turns glibc's dynamic adjustment off for both
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
