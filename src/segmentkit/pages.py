"""Plain memory pages for a run's large arrays.

numpy (1.20 and later, on Linux) advises the kernel to back every large array with
transparent huge pages. Where the kernel compacts memory to honour that advice
(``/sys/kernel/mm/transparent_hugepage/defrag`` set to ``madvise``, a common default) and
free memory is fragmented (a machine whose page cache has filled it, for one), the first
touch of every fresh array waits for the compaction. A run allocates a few fresh arrays the
size of its feature matrix at each stage and touches each only a few times, so the huge
pages never pay back: at 1,000,000 customers, the variance of the 25 feature columns took
2.3 s of system time with the advice and 0.2 s without, and a whole ``run --k 8`` took
108 s with it and 81 s without (README, Performance).

:func:`plain_pages` switches the advice off for the length of a run and restores it after,
as ``threadpoolctl.threadpool_limits`` does for BLAS threads.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

__all__ = ["plain_pages"]


def _switch() -> Callable[[bool], bool] | None:
    """numpy's switch of the huge-page advice (returns the previous setting), if it has one."""
    try:
        from numpy._core import multiarray  # numpy 2
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray
    return getattr(multiarray, "_set_madvise_hugepage", None)


@contextmanager
def plain_pages() -> Iterator[None]:
    """Within the block, numpy asks for plain pages for its arrays (see the module's text).

    The setting before the block is restored after it. A numpy without the switch (not on
    Linux, or a future numpy) is left alone.
    """
    switch = _switch()
    if switch is None:
        yield
        return
    before = switch(False)
    try:
        yield
    finally:
        switch(before)
