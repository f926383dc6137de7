"""A segment definition as marketers write it: ``journeys/segments/ID.yaml``.

```yaml
id: trial_users
name: トライアル中のお客様
description: Trial started in the last 30 days, not yet a customer
condition:
  all:
    - {event: trial_started, within: 30d}
    - not: {attr: lifecycle_stage, eq: customer}
```

The condition is the journey condition language; it must compile to SQL, so it may not
read an enrollment (``entry``) or a single event (``prop`` outside an event's ``where``).
"""

from __future__ import annotations

from engine.journey.base import Name, SpecModel
from engine.journey.conditions import Condition
from engine.journey.loader import Loaded, load_model


class SegmentSpec(SpecModel):
    """One segment: a stable id, a display name, and who belongs."""

    id: Name
    name: str
    description: str | None = None
    condition: Condition


def load_segment(text: str, filename: str = "segment.yaml") -> Loaded[SegmentSpec]:
    """Parse a segment file; every finding has its file, line and column."""
    return load_model(
        text, filename, SegmentSpec, "a segment is a YAML mapping (id, name, condition)"
    )
