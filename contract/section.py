"""The base of every config section (frozen, strictly typed, unknown keys rejected) and the value types they share."""

from __future__ import annotations

import collections
from typing import Annotated, Optional

from pydantic import BaseModel, ConfigDict, Field

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Density = Annotated[float, Field(gt=0, le=1)]
Seed = Annotated[int, Field(ge=0, lt=2**63)]  # what torch.manual_seed takes


class Section(BaseModel):
    """Base of every section: frozen, strict types, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def listed_once(values: Optional[list], what: str) -> Optional[list]:
    """Return `values`, or raise ValueError naming the first value listed more than once."""
    # A repeated density would be owed twice and a study could never complete; a repeated
    # temperature or seed would give duplicate rows counted as independent samples.
    counts = collections.Counter(values or [])
    repeated = sorted(v for v, n in counts.items() if n > 1)
    if repeated:
        raise ValueError(f"{repeated[0]:g} is listed {counts[repeated[0]]} times; list each {what} once")
    return values
