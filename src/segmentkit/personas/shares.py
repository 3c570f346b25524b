"""Who is where: personas per customer, the persona × segment crosstab, the shares both
ways (``r`` of each persona, ``c`` of each segment, ``base`` of all) and the agreement
scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics

from segmentkit.personas.types import CrosstabShares

__all__ = ["NOISE", "Shares", "agreement", "int_labels", "persona_codes", "shares"]

NOISE = -1


def int_labels(lab: np.ndarray) -> np.ndarray:
    """Labels as int64; integral floats are accepted, anything else is an error."""
    if lab.dtype.kind in "iu":
        return lab.astype(np.int64)
    if lab.dtype.kind == "f" and np.all(np.isfinite(lab)) and np.all(np.mod(lab, 1) == 0):
        return lab.astype(np.int64)
    raise ValueError("labels must be integers (-1 for noise), without missing values")


def _persona_strings(personas: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Persona label per customer as ``str`` (object array) and a missing mask."""
    s = personas if isinstance(personas, pd.Series) else pd.Series(personas)
    if len(s) != n:
        raise ValueError(f"personas has {len(s)} rows, labels have {n}")
    s = s.reset_index(drop=True)
    missing = s.isna().to_numpy(dtype=bool)
    known = s[~missing]
    if pd.api.types.is_float_dtype(known.dtype) and len(known) and np.all(np.mod(known.to_numpy(), 1) == 0):
        known = known.astype(np.int64)
    text = known.astype(str).str.strip()
    out = np.full(n, None, dtype=object)
    out[~missing] = text.to_numpy(dtype=object)
    blank = np.zeros(n, dtype=bool)
    blank[~missing] = (text == "").to_numpy(dtype=bool)
    missing = missing | blank
    out[missing] = None
    return out, missing


def persona_codes(personas: Any, n: int) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """The persona names (sorted), each customer's persona code (``-1``: missing or blank)
    and the missing mask."""
    pers, missing = _persona_strings(personas, n)
    known = ~missing
    names = tuple(sorted(set(pers[known].tolist())))
    index = {p: i for i, p in enumerate(names)}
    pcode = np.full(n, -1, dtype=np.int64)
    if known.any():
        pcode[known] = pd.Series(pers[known]).map(index).to_numpy(dtype=np.int64)
    return names, pcode, missing


@dataclass(frozen=True)
class Shares:
    """The crosstab and its shares (notation of :mod:`segmentkit.personas`).

    ``counts`` is personas × ``seg_all`` (every segment, noise included); ``N``, ``r`` and
    ``c`` are personas × ``seg_ids`` (the non-noise segments): the counts, the share of each
    persona's members (all of them, noise included) and the share of each segment's
    members with a known persona. ``p_size`` counts each persona's members, ``s_size`` each
    segment's members with a known persona, ``base`` each persona's share of all.
    """

    persona_names: tuple[str, ...]
    seg_all: tuple[int, ...]
    seg_ids: tuple[int, ...]
    counts: np.ndarray
    N: np.ndarray
    r: np.ndarray
    c: np.ndarray
    p_size: np.ndarray
    s_size: np.ndarray
    base: np.ndarray

    def both_ways(self) -> CrosstabShares:
        """The crosstab as shares of each persona (every segment) and of each segment."""
        counts = self.counts.astype(float)
        rows = counts.sum(axis=1, keepdims=True)
        cols = counts.sum(axis=0, keepdims=True)
        by_p = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
        by_s = np.divide(counts, cols, out=np.zeros_like(counts), where=cols > 0)
        return CrosstabShares(
            by_persona={p: {s: float(by_p[i, j]) for j, s in enumerate(self.seg_all)}
                        for i, p in enumerate(self.persona_names)},
            by_segment={s: {p: float(by_s[i, j]) for i, p in enumerate(self.persona_names)}
                        for j, s in enumerate(self.seg_all)},
        )

    def crosstab(self) -> dict[str, dict[int, int]]:
        """The counts, persona → segment id → customers."""
        return {p: {s: int(self.counts[i, j]) for j, s in enumerate(self.seg_all)}
                for i, p in enumerate(self.persona_names)}


def shares(lab: np.ndarray, pcode: np.ndarray, persona_names: tuple[str, ...]) -> Shares:
    """Crosstab customers of a known persona by segment, and the shares both ways."""
    known = pcode >= 0
    seg_all = tuple(int(s) for s in np.unique(lab))
    seg_ids = tuple(s for s in seg_all if s != NOISE)
    scode = np.searchsorted(np.asarray(seg_all), lab)
    n_p, n_s = len(persona_names), len(seg_all)
    flat = np.bincount(pcode[known] * n_s + scode[known], minlength=n_p * n_s) if n_p else np.zeros(0, int)
    counts = flat.reshape(n_p, n_s) if n_p else np.zeros((0, n_s), dtype=np.int64)
    s_index = {s: j for j, s in enumerate(seg_all)}
    N = counts[:, [s_index[s] for s in seg_ids]].astype(float)  # persona x non-noise segment
    p_size = counts.sum(axis=1).astype(float)  # all members incl. noise
    s_size = N.sum(axis=0)  # known members per segment
    total_known = p_size.sum()
    return Shares(
        persona_names=persona_names, seg_all=seg_all, seg_ids=seg_ids, counts=counts, N=N,
        r=np.divide(N, p_size[:, None], out=np.zeros_like(N), where=p_size[:, None] > 0),
        c=np.divide(N, s_size[None, :], out=np.zeros_like(N), where=s_size[None, :] > 0),
        p_size=p_size, s_size=s_size,
        base=p_size / total_known if total_known > 0 else np.zeros(n_p),
    )


def agreement(lab: np.ndarray, pcode: np.ndarray) -> tuple[float | None, ...]:
    """ARI, AMI, NMI and V-measure over customers with a known persona and a segment
    (``None`` each with fewer than two such customers)."""
    scored = (pcode >= 0) & (lab != NOISE)
    if scored.sum() < 2:
        return None, None, None, None
    yt, yp = pcode[scored], lab[scored]
    return (float(metrics.adjusted_rand_score(yt, yp)), float(metrics.adjusted_mutual_info_score(yt, yp)),
            float(metrics.normalized_mutual_info_score(yt, yp)), float(metrics.v_measure_score(yt, yp)))
