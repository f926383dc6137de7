"""A broadcast as marketers write it: ``journeys/broadcasts/ID.yaml``.

```yaml
id: spring_sale
name: 春のセールのお知らせ
template: spring_sale
topic: newsletter
audience: {segment: trial_users}      # or {tag: vip}, or {list: seminar-2026}
send_at: 2026-04-01T09:00:00+09:00    # optional; omitted, it waits for `send`
ab:                                   # optional
  variants:
    - {name: A, subject: 春のセール開催中}
    - {name: B, template: spring_sale_b}
  sample: 20%
  metric: opens                       # or clicks (human ones only)
  window: 4h
```
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BeforeValidator, Field, model_validator

from engine.journey.base import Name, SpecModel
from engine.journey.diagnostics import Diagnostic
from engine.journey.durations import Duration
from engine.journey.loader import load_model

_PERCENT = re.compile(r"^\s*(\d{1,2})\s*%\s*$")
BroadcastId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")]


def _percent(value: Any) -> Any:
    """Read ``20%`` (or 20) as the integer 20."""
    if isinstance(value, str):
        found = _PERCENT.match(value)
        if found is None:
            raise ValueError("write the sample as a percentage from 1% to 99%, like 20%")
        return int(found.group(1))
    return value


class Audience(SpecModel):
    """Who receives it: the members of one segment or one static list, or those with one tag."""

    segment: Name | None = None
    #: ``tag`` in YAML (the spec base already uses the name ``tag``).
    tagged: Name | None = Field(None, alias="tag")
    #: ``list`` in YAML: a static list's key.
    static_list: Name | None = Field(None, alias="list")

    @model_validator(mode="after")
    def _exactly_one(self) -> Audience:
        if sum(x is not None for x in (self.segment, self.tagged, self.static_list)) != 1:
            raise ValueError("name exactly one of segment, tag or list")
        return self


class Variant(SpecModel):
    """One arm of an A/B test: a subject, a template, or both, replacing the broadcast's."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,32}$")]
    subject: str | None = None
    template: Name | None = None


class ABTest(SpecModel):
    """Send variants to a sample, wait ``window``, then send the rest the winner."""

    variants: list[Variant] = Field(min_length=2, max_length=10)
    sample: Annotated[int, BeforeValidator(_percent), Field(ge=1, le=99)]
    metric: Literal["opens", "clicks"] = "opens"
    window: Duration = timedelta(hours=4)

    @model_validator(mode="after")
    def _distinct_names(self) -> ABTest:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError("variant names must differ")
        return self


class BroadcastSpec(SpecModel):
    """One campaign: what goes out (template, subject), to whom, under which consent topic."""

    id: BroadcastId
    name: Annotated[str, Field(min_length=1, max_length=200)]
    template: Name
    subject: str | None = None
    topic: Name
    audience: Audience
    send_at: AwareDatetime | None = None
    ab: ABTest | None = None


def parse_broadcast(
    source: str, filename: str, *, expected_id: str | None = None
) -> tuple[BroadcastSpec | None, list[Diagnostic]]:
    """Check a broadcast's YAML text; every finding has its file, line and column."""
    loaded = load_model(
        source, filename, BroadcastSpec, "a broadcast is a YAML mapping (id, name, template, ...)"
    )
    spec = loaded.spec
    if spec is None:
        return None, list(loaded.diagnostics)
    if expected_id is not None and spec.id != expected_id:
        line, col = loaded.source_map.locate(("id",))
        message = f"the id '{spec.id}' must match the file name '{expected_id}'"
        return None, [Diagnostic(filename, line, col, "error", "B101", "id", message)]
    return spec, []
