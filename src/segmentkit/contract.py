"""The base every result type shares: a frozen pydantic model that refuses unknown fields.

A result type is declared once, in the module of its concept (a profile statistic in
:mod:`segmentkit.profiles.statistics`, a persona split in :mod:`segmentkit.personas.types`,
...); :mod:`segmentkit.result` assembles them into the summary and generates
``summary.schema.json`` from them. So a field is declared in one place and the library, the
summary and the schema cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from segmentkit.export import json_safe

__all__ = ["Typed"]


class Typed(BaseModel):
    """A frozen result with a closed set of fields.

    Fields marked ``Field(exclude=True)`` are the library's own (for example the column a
    statistic belongs to, which the summary holds as the key): they are left out of
    :meth:`to_dict`, of ``summary.json`` and of the schema.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_serialization_defaults_required=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (floats rounded as in ``summary.json``)."""
        return json_safe(self.model_dump())
