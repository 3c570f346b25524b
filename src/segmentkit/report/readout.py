"""The lift readout page (``readout.html``): target against holdout per segment.

Rendered from the readout dict (``readout.json``) only; every value is escaped by Jinja2's
autoescaping, the page has no script and makes no network request, and it holds no customer
identifier.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from segmentkit.export import to_json
from segmentkit.report._format import DASH, fmt_int, fmt_num, fmt_p, fmt_pct

__all__ = ["render_readout", "write_readout"]


def get(mapping: Any, key: str, default: Any = None) -> Any:
    """``mapping[key]``, or ``default`` when missing or ``None`` (the readout dict is plain JSON)."""
    value = mapping.get(key) if isinstance(mapping, Mapping) else None
    return default if value is None else value


def _signed_pct(x: Any) -> str:
    return DASH if x is None else f"{float(x) * 100:+.1f} %"


def _metric(m: Mapping[str, Any] | None, share: bool) -> dict[str, Any] | None:
    if not isinstance(m, Mapping):
        return None
    fmt = fmt_pct if share else fmt_num
    lo, hi = (list(get(m, "difference_ci", [None, None])) + [None, None])[:2]
    llo, lhi = (list(get(m, "lift_ci", [None, None])) + [None, None])[:2]
    significant = llo is not None and lhi is not None and (llo > 0 or lhi < 0)
    return {
        "target": fmt(get(m, "target")), "holdout": fmt(get(m, "holdout")),
        "difference": (fmt_pct(get(m, "difference")) if share else fmt_num(get(m, "difference"))),
        "difference_ci": f"{fmt(lo)} to {fmt(hi)}",
        "lift": _signed_pct(get(m, "lift")), "lift_ci": f"{_signed_pct(llo)} to {_signed_pct(lhi)}",
        "p": fmt_p(get(m, "p_value")), "significant": significant,
    }


def render_readout(readout: Mapping[str, Any]) -> str:
    """Render ``readout.html`` from the readout dict."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("segmentkit.report", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    window = get(readout, "window", {})
    rows = []
    for seg in get(readout, "segments", []):
        rows.append({
            "id": get(seg, "segment_id"), "name": str(get(seg, "name", "")),
            "n_target": fmt_int(get(seg, "n_target")), "n_holdout": fmt_int(get(seg, "n_holdout")),
            "spend": _metric(get(seg, "spend_per_customer"), share=False),
            "buying": _metric(get(seg, "share_buying"), share=True),
            "verdict": str(get(seg, "verdict", "")),
        })
    ctx = {"window_from": str(get(window, "from", DASH)), "window_to": str(get(window, "to", DASH)),
           "confidence": fmt_pct(get(readout, "confidence"), 0), "spend_unit": str(get(readout, "spend_unit", "")),
           "min_lift": fmt_pct(get(readout, "min_lift"), 0) if get(readout, "min_lift") is not None else DASH,
           "rows": rows}
    return env.get_template("readout.html.j2").render(ctx)


def write_readout(readout: Mapping[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write ``readout.json`` and ``readout.html`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "readout.json", "html": out / "readout.html"}
    paths["json"].write_text(to_json(dict(readout)), encoding="utf-8")
    paths["html"].write_text(render_readout(readout), encoding="utf-8")
    return paths
