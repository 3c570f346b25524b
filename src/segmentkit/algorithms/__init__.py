"""Registry of clustering algorithms.

Every module in this package (not starting with ``_``) defines ``SPEC``, an
:class:`~segmentkit.algorithms._base.AlgorithmSpec`. The registry is built by scanning the
package on demand, so there is no mutable module-level state and adding an algorithm is a
one-file change.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from segmentkit.algorithms._base import (
    FIT_OPENMP_THREADS,
    NOISE,
    AlgorithmSpec,
    Capabilities,
    Fitted,
    assign_noise,
    fit_threads,
    nearest_centre,
)

__all__ = ["AlgorithmSpec", "Capabilities", "FIT_OPENMP_THREADS", "Fitted", "NOISE", "assign_noise", "fit_threads", "get", "names", "nearest_centre", "run_names"]


@cache
def _specs() -> dict[str, AlgorithmSpec]:
    specs: dict[str, AlgorithmSpec] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(module, "SPEC", None)
        if isinstance(spec, AlgorithmSpec):
            specs[spec.name] = spec
    return dict(sorted(specs.items()))


def names() -> tuple[str, ...]:
    """Names of every registered algorithm, sorted."""
    return tuple(_specs())


def run_names() -> tuple[str, ...]:
    """Algorithms a segmentation run can use (``algorithm=`` of a run), sorted.

    A run builds numeric features only, so algorithms that need categorical columns
    (kprototypes) are left out; call them through :func:`get` on a matrix of your own.
    """
    return tuple(name for name, spec in _specs().items() if not spec.capabilities.categorical)


def get(name: str) -> AlgorithmSpec:
    """Return the algorithm called ``name``.

    Raises
    ------
    ValueError
        If no such algorithm exists; the message lists the known ones.
    """
    specs = _specs()
    if name not in specs:
        raise ValueError(f"algorithm must be one of {', '.join(specs)}; got {name!r}")
    return specs[name]
