"""Identity across refreshes: the same segment keeps its id (and so its name and overrides)
from one run to the next.

* :func:`segment_overlap` -- customers shared by each previous and current segment;
* :func:`match_segments` -- current segments matched one-to-one to the previous run's by
  optimal assignment on that overlap (unmatched ones get fresh ids);
* :func:`relabel` -- labels rewritten with the matched ids;
* :func:`migration_table` / :func:`migration_records` -- customers moving between segments;
* :func:`load_previous` and :func:`carry_ids` -- what a run does with a previous run's model:
  load it, then renumber its own segments (labels, centres, raw-label map) to the matched ids.

A refresh, end to end::

    overlap = segment_overlap(previous_model_labels_on_new_data, new_labels)
    mapping = match_segments(previous_ids, new_ids, overlap)
    labels = relabel(new_labels, mapping)
    profiles = profile_segments(features, labels, ...)
    names = generate_names(profiles, specs, previous=previous_names)
    names = apply_overrides(names, load_name_overrides("segment_names.toml"))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from segmentkit.model import SegmentationModel, load_model
from segmentkit.profiles import NOISE

__all__ = [
    "carry_ids", "load_previous", "match_segments", "migration_records", "migration_table", "relabel",
    "segment_overlap",
]

#: Tie-break towards keeping a segment's own id: a bonus this small (relative to the
#: overlap scale, shared over all pairs) changes the matching only between equal overlaps.
_SAME_ID_BONUS = 1e-9



def _unique_ints(ids: Sequence[int] | np.ndarray | pd.Index, what: str) -> list[int]:
    out = [int(i) for i in ids]
    if len(set(out)) != len(out):
        raise ValueError(f"{what} has duplicate ids")
    return out


def _axis_says(name: object, word: str) -> bool:
    return isinstance(name, str) and name.strip().lower().startswith(word)


def _previous_on_rows(frame: pd.DataFrame) -> bool:
    """The frame's axis names say rows are previous segments (or columns current ones)."""
    rows_prev = _axis_says(frame.index.name, "prev") or _axis_says(frame.columns.name, "cur")
    rows_cur = _axis_says(frame.index.name, "cur") or _axis_says(frame.columns.name, "prev")
    if rows_prev and rows_cur:
        raise ValueError(
            f"overlap axis names are contradictory: index {frame.index.name!r}, "
            f"columns {frame.columns.name!r}"
        )
    return rows_prev


def _similarity(overlap: np.ndarray | pd.DataFrame, cur: list[int], prev: list[int]) -> np.ndarray:
    """``overlap`` as a finite array, current ids (``cur``) on the rows and previous ids
    (``prev``) on the columns, in their order (see :func:`match_segments`)."""
    if isinstance(overlap, pd.DataFrame):
        if _previous_on_rows(overlap):
            overlap = overlap.T
        idx = [int(i) for i in overlap.index]
        cols = [int(c) for c in overlap.columns]
        extra_rows = sorted(set(idx) - set(cur))
        extra_cols = sorted(set(cols) - set(prev))
        if extra_rows or extra_cols:
            raise ValueError(
                "overlap rows must be current ids and columns previous ids "
                f"(unknown rows {extra_rows}, unknown columns {extra_cols}); transposed?"
            )
        frame = overlap.copy()
        frame.index, frame.columns = idx, cols
        sim = frame.reindex(index=cur, columns=prev, fill_value=0).to_numpy(dtype=float)
    else:
        sim = np.asarray(overlap, dtype=float)
        if sim.ndim != 2 or sim.shape != (len(cur), len(prev)):
            raise ValueError(
                "overlap must have shape (len(current_ids), len(previous_ids)) = "
                f"{(len(cur), len(prev))}; got {sim.shape}"
            )
    if not np.all(np.isfinite(sim)):
        raise ValueError("overlap has missing or infinite values")
    return sim


def match_segments(
    previous_ids: Sequence[int] | np.ndarray,
    current_ids: Sequence[int] | np.ndarray,
    overlap: np.ndarray | pd.DataFrame,
    *,
    min_overlap: float = 0.0,
    next_id: int | None = None,
) -> dict[int, int]:
    """Match current segments one-to-one to previous ones, so ids stick across refreshes.

    Parameters
    ----------
    previous_ids : sequence of int
        Segment ids of the previous run.
    current_ids : sequence of int
        Segment ids of the current run.
    overlap : numpy.ndarray or pandas.DataFrame
        Similarity of each current segment (rows) to each previous segment (columns), higher
        = more alike: customer counts as from ``pd.crosstab(current, previous)``, Jaccard
        overlaps from :func:`segment_overlap`, or negative centre distances. A DataFrame is
        aligned by its index (current ids) and columns (previous ids), missing pairs = 0 --
        unless its axis names say otherwise: an index named ``"previous..."`` or columns
        named ``"current..."`` (as from ``pd.crosstab(pd.Series(prev, name="previous"),
        pd.Series(cur, name="current"))``) mean previous ids are the rows, and the frame is
        transposed. An array must have shape ``(len(current_ids), len(previous_ids))``.
    min_overlap : float, default 0.0
        Pairs need a similarity above this to be matched (with counts or Jaccard, 0 means
        "share at least one customer").
    next_id : int, optional
        Lowest id for new segments (e.g. one above every id ever used); by default one
        above the largest previous id.

    Returns
    -------
    dict of int to int
        Every current id mapped to its stable id: the matched previous id, or a fresh id
        above the previous maximum for segments without a match (in increasing current-id
        order). Noise (``-1``) always maps to ``-1`` and is never matched to a segment.

    Notes
    -----
    The assignment maximizes total similarity (:func:`scipy.optimize.linear_sum_assignment`).
    Exact ties prefer keeping the same id, then follow the id order, so the result is
    deterministic. Previous segments left unmatched have vanished.
    """
    prev = _unique_ints(previous_ids, "previous_ids")
    cur = _unique_ints(current_ids, "current_ids")
    sim = _similarity(overlap, cur, prev)
    rows = sorted((i for i, c in enumerate(cur) if c != NOISE), key=lambda i: cur[i])
    cols = sorted((j for j, p in enumerate(prev) if p != NOISE), key=lambda j: prev[j])
    mapping: dict[int, int] = {}
    if rows and cols:
        sub = sim[np.ix_(rows, cols)]
        same = np.array([[cur[i] == prev[j] for j in cols] for i in rows])
        span = float(np.abs(sub).max()) if sub.size else 0.0
        bonus = _SAME_ID_BONUS * (span + 1.0) / (len(rows) + len(cols))
        r, c = linear_sum_assignment(sub + bonus * same, maximize=True)
        for a, b in zip(r, c):
            if sub[a, b] > min_overlap:
                mapping[cur[rows[a]]] = prev[cols[b]]
    start = max([p for p in prev if p != NOISE], default=-1) + 1
    if next_id is not None:
        start = max(start, int(next_id))
    for cid in sorted(c for c in cur if c != NOISE):
        if cid not in mapping:
            mapping[cid] = start
            start += 1
    if NOISE in cur:
        mapping[NOISE] = NOISE
    return {cid: mapping[cid] for cid in sorted(cur, key=lambda i: (i == NOISE, i))}


def relabel(labels: np.ndarray | pd.Series, mapping: Mapping[int, int]) -> np.ndarray | pd.Series:
    """Apply a :func:`match_segments` mapping to labels (a Series keeps its index).

    Raises
    ------
    KeyError
        A label has no entry in ``mapping``.
    """
    arr = np.asarray(labels).astype(np.int64)
    uniq, inverse = np.unique(arr, return_inverse=True)
    missing = [int(u) for u in uniq if int(u) not in mapping]
    if missing:
        raise KeyError(f"labels {missing} are not in the mapping")
    out = np.array([int(mapping[int(u)]) for u in uniq], dtype=np.int64)[inverse.reshape(-1)]
    if isinstance(labels, pd.Series):
        return pd.Series(out, index=labels.index, name=labels.name)
    return out


def segment_overlap(
    previous_labels: np.ndarray | pd.Series,
    current_labels: np.ndarray | pd.Series,
    *,
    normalize: str = "jaccard",
) -> pd.DataFrame:
    """Overlap of current segments (rows) with previous segments (columns).

    Parameters
    ----------
    previous_labels, current_labels : array-like
        Two labelings of the *same* customers (e.g. the previous model's predictions for
        today's customers, and today's clustering).
    normalize : {"jaccard", "count", "current"}, default "jaccard"
        Jaccard index of the two customer sets, raw counts, or the share of each current
        segment falling in each previous one.

    Returns
    -------
    pandas.DataFrame
        Index: current ids, columns: previous ids (sorted, noise last), ready for
        :func:`match_segments`.
    """
    prev = np.asarray(previous_labels).astype(np.int64)
    cur = np.asarray(current_labels).astype(np.int64)
    if prev.shape != cur.shape or prev.ndim != 1:
        raise ValueError(f"labels must be 1-D and the same length; got {prev.shape} and {cur.shape}")
    p_ids = sorted(np.unique(prev).tolist(), key=lambda i: (i == NOISE, i))
    c_ids = sorted(np.unique(cur).tolist(), key=lambda i: (i == NOISE, i))
    p_code = np.searchsorted(np.array(sorted(p_ids)), prev)
    c_code = np.searchsorted(np.array(sorted(c_ids)), cur)
    counts = np.bincount(c_code * len(p_ids) + p_code, minlength=len(c_ids) * len(p_ids)).reshape(
        len(c_ids), len(p_ids)
    )
    table = pd.DataFrame(counts, index=sorted(c_ids), columns=sorted(p_ids)).reindex(
        index=c_ids, columns=p_ids
    )
    if normalize == "count":
        out = table.astype(float)
    elif normalize == "current":
        out = table.div(table.sum(axis=1), axis=0)
    elif normalize == "jaccard":
        rows = table.sum(axis=1).to_numpy()[:, None]
        cols = table.sum(axis=0).to_numpy()[None, :]
        inter = table.to_numpy(dtype=float)
        out = pd.DataFrame(inter / (rows + cols - inter), index=table.index, columns=table.columns)
    else:
        raise ValueError(f"normalize must be 'jaccard', 'count' or 'current'; got {normalize!r}")
    out.index.name, out.columns.name = "current_segment", "previous_segment"
    return out


def migration_table(previous_labels: pd.Series, current_labels: pd.Series) -> pd.DataFrame:
    """Customers moving between segments from one run to the next.

    Parameters
    ----------
    previous_labels, current_labels : pandas.Series
        Segment per customer (index ``customer_id``, unique) in the previous and the current
        run, with current ids already matched (see :func:`match_segments`).

    Returns
    -------
    pandas.DataFrame
        Customer counts, rows ``from_segment`` = previous segment ids then ``"new"``
        (customers only in the current run), columns ``to_segment`` = current segment ids
        then ``"gone"`` (customers only in the previous run). Labels are strings (``"0"``,
        ``"-1"`` for noise, last among segments) so the table serializes as it is.
    """
    for what, s in (("previous_labels", previous_labels), ("current_labels", current_labels)):
        if not isinstance(s, pd.Series):
            raise TypeError(f"{what} must be a pandas Series indexed by customer")
        if not s.index.is_unique:
            raise ValueError(f"{what} has duplicate customers")
    prev = previous_labels.astype(np.int64)
    cur = current_labels.astype(np.int64)
    joined = pd.concat([prev.rename("from"), cur.rename("to")], axis=1, join="outer")
    p_ids = sorted(pd.unique(prev).tolist(), key=lambda i: (i == NOISE, i))
    c_ids = sorted(pd.unique(cur).tolist(), key=lambda i: (i == NOISE, i))
    row_labels = [str(i) for i in p_ids] + ["new"]
    col_labels = [str(i) for i in c_ids] + ["gone"]
    from_code = np.full(len(joined), len(p_ids), dtype=np.int64)
    to_code = np.full(len(joined), len(c_ids), dtype=np.int64)
    has_from = joined["from"].notna().to_numpy()
    has_to = joined["to"].notna().to_numpy()
    if p_ids:
        from_code[has_from] = pd.Index(p_ids).get_indexer(
            joined["from"].to_numpy()[has_from].astype(np.int64)
        )
    if c_ids:
        to_code[has_to] = pd.Index(c_ids).get_indexer(joined["to"].to_numpy()[has_to].astype(np.int64))
    n_rows, n_cols = len(row_labels), len(col_labels)
    counts = np.bincount(from_code * n_cols + to_code, minlength=n_rows * n_cols).reshape(n_rows, n_cols)
    table = pd.DataFrame(
        counts,
        index=pd.Index(row_labels, name="from_segment"),
        columns=pd.Index(col_labels, name="to_segment"),
    )
    return table


def migration_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The non-zero cells of a :func:`migration_table`, JSON-safe, in table order.

    Returns
    -------
    list of dict
        ``{"from_segment": "0", "to_segment": "2", "customers": 31, "share_of_from": 0.12}``;
        ``share_of_from`` is the share of the row's customers (``None`` for the ``"new"`` row).
    """
    counts = table.to_numpy(dtype=np.int64)
    totals = counts.sum(axis=1)
    out: list[dict[str, Any]] = []
    for i, src in enumerate(table.index):
        for j, dst in enumerate(table.columns):
            if counts[i, j]:
                share = None if src == "new" else round(float(counts[i, j] / totals[i]), 6)
                out.append(
                    {
                        "from_segment": str(src),
                        "to_segment": str(dst),
                        "customers": int(counts[i, j]),
                        "share_of_from": share,
                    }
                )
    return out


# --------------------------------------------------------------------------- a run's refresh


def load_previous(previous: SegmentationModel | str | Path | None) -> SegmentationModel | None:
    """The previous run's model: as given, or loaded from its output or ``model/`` folder."""
    if previous is None or isinstance(previous, SegmentationModel):
        return previous
    return load_model(previous)


def carry_ids(
    prev_labels: np.ndarray, labels: np.ndarray, centres: dict[int, np.ndarray], label_map: dict[int, int],
    *, next_id: int | None = None,
) -> tuple[np.ndarray, dict[int, np.ndarray], dict[int, int]]:
    """Renumber current segments to match the previous run's ids.

    ``prev_labels`` are the current customers as the previous model assigns them; the overlap
    of old and new labels is matched one-to-one (Hungarian, :func:`match_segments`), so a
    segment keeps its id and name; unmatched new segments get fresh ids (from ``next_id``
    when given, e.g. above ids the previous run gave to lifecycle groups).

    Returns
    -------
    labels : numpy.ndarray
        The current labels with the matched ids (noise stays ``-1``).
    centres : dict
        Segment id → centre, under the matched ids.
    label_map : dict
        The algorithm's raw label → the matched segment id.
    """
    cur_ids = sorted(int(s) for s in set(labels.tolist()) if s >= 0)
    prev_ids = sorted(int(s) for s in set(prev_labels.tolist()) if s >= 0)
    overlap = pd.crosstab(pd.Series(prev_labels, name="previous"), pd.Series(labels, name="current"))
    overlap = overlap.reindex(index=prev_ids, columns=cur_ids, fill_value=0)
    mapping = match_segments(prev_ids, cur_ids, overlap, next_id=next_id)
    lookup = {c: int(mapping.get(c, c)) for c in cur_ids}
    new_centres = {lookup[c]: v for c, v in centres.items()}
    new_map = {raw: lookup.get(cid, cid) for raw, cid in label_map.items()}
    return relabel(labels, {**lookup, NOISE: NOISE}), new_centres, new_map
