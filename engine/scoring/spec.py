"""The scoring file as marketers write it (``journeys/scoring.yaml``), read into frozen specs.

```yaml
models:
  default:
    decay: {half_life: 30d, after: 14d}
    rules:
      - id: pricing_page
        event: page_view
        where: {path: {starts_with: /pricing}}
        points: 10
        cap: {times: 3, per: 1d}
grade:
  rules:
    - {attr: industry, in: [ソフトウェア, 製造業], points: 20}
    - {attr: employees, at_least: 100, points: 15}
  thresholds: {A: 60, B: 40, C: 20}
lifecycle:
  mql: {score_at_least: 60, grade_at_least: B}
  handoff: {pool: inside-sales, strategy: round_robin}
```

Every finding carries its file, line and column (the journey loader places them).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, StringConstraints, Tag, model_validator

from engine.journey.base import AttrPath, Name, SpecModel
from engine.journey.durations import Duration
from engine.journey.loader import Loaded, load_model

Grade = Literal["A", "B", "C", "D"]
#: Best first: ``grade_at_least: B`` accepts A and B.
GRADES: tuple[Grade, ...] = ("A", "B", "C", "D")
RuleId = Annotated[str, StringConstraints(pattern=r"^[^\W\d][\w\-]*$", max_length=100)]
Scalar = str | int | float | bool
#: How a pool shares its leads.
Method = Literal["round_robin", "least_loaded", "territory", "account_owner"]


class Match(SpecModel):
    """A test of one value: equal, one of, starts with, contains, or a numeric bound."""

    eq: Scalar | None = None
    in_: tuple[Scalar, ...] | None = Field(default=None, alias="in")
    starts_with: str | None = None
    contains: str | None = None
    at_least: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _one_test(self) -> Match:
        given = [name for name in Match.model_fields if getattr(self, name) is not None]
        if not given:
            raise ValueError("give a test: eq, in, starts_with, contains, at_least or below")
        return self


def _as_match(value: Any) -> Any:
    """A bare value means ``eq`` and a bare list means ``in``: the short forms people write."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {"in": value}
    return {"eq": value}


class Cap(SpecModel):
    """At most ``times`` awards of a rule to one contact within any ``per`` window."""

    times: int = Field(ge=1)
    per: Duration


class Rule(SpecModel):
    """Points for an event of a type whose properties (and contact's domain) match."""

    id: RuleId
    event: Name
    where: dict[AttrPath, Match] = Field(default_factory=dict)
    email_domain: tuple[str, ...] = ()
    points: int
    reason: str | None = None
    cap: Cap | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_matches(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("where"), dict):
            data = {**data, "where": {k: _as_match(v) for k, v in data["where"].items()}}
        return data

    @model_validator(mode="after")
    def _points_not_zero(self) -> Rule:
        if self.points == 0:
            raise ValueError("points is 0: a rule that changes nothing is a mistake")
        return self


class HalfLife(SpecModel):
    """The score halves every ``half_life`` once a contact was inactive for ``after``."""

    half_life: Duration
    after: Duration = timedelta(0)
    every: Duration = timedelta(days=1)


class PointsPerPeriod(SpecModel):
    """``points`` are taken off every ``every`` once a contact was inactive for ``after``."""

    points: int = Field(ge=1)
    every: Duration
    after: Duration = timedelta(0)


def _decay_kind(data: Any) -> str:
    """``half_life`` names the halving kind; anything else is points per period."""
    if isinstance(data, dict):
        return "half_life" if "half_life" in data else "points"
    return "half_life" if isinstance(data, HalfLife) else "points"


Decay = Annotated[
    Annotated[HalfLife, Tag("half_life")] | Annotated[PointsPerPeriod, Tag("points")],
    Discriminator(_decay_kind),
]


class Model(SpecModel):
    """One named score: its rules and how it fades."""

    rules: tuple[Rule, ...] = ()
    decay: Decay | None = None
    floor: int = 0

    @model_validator(mode="after")
    def _unique_rules(self) -> Model:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id '{rule.id}' is used twice")
            seen.add(rule.id)
        return self


class GradeRule(Match):
    """Fit points when a contact attribute (``industry``, ``employees``) passes the test."""

    attr: AttrPath
    points: int

    @model_validator(mode="before")
    @classmethod
    def _short_value(cls, data: Any) -> Any:
        if isinstance(data, dict) and "value" in data:
            rest = {k: v for k, v in data.items() if k != "value"}
            return {**rest, **_as_match(data["value"])}
        return data


class Thresholds(SpecModel):
    """The least fit points for each grade; below ``C`` is D."""

    A: int
    B: int
    C: int

    @model_validator(mode="after")
    def _descending(self) -> Thresholds:
        if not self.A >= self.B >= self.C:
            raise ValueError("thresholds must not rise from A to C (A >= B >= C)")
        return self


class GradeSpec(SpecModel):
    """The fit grade A–D from attribute points."""

    rules: tuple[GradeRule, ...]
    thresholds: Thresholds


class Mql(SpecModel):
    """When a lead becomes marketing-qualified."""

    score_at_least: int
    grade_at_least: Grade | None = None
    model: Name = "default"


class HandoffRule(SpecModel):
    """The handoff made on reaching MQL: which pool, which method, and a fallback."""

    pool: Name | None = None
    strategy: Method | None = None
    fallback: dict[Literal["user", "pool", "role"], str] = Field(default_factory=dict)


class Lifecycle(SpecModel):
    """The MQL rule and the handoff it makes (none when ``handoff`` is absent)."""

    mql: Mql
    handoff: HandoffRule | None = None


class Away(SpecModel):
    """A rep's out-of-office dates (inclusive, the rep's calendar days in UTC)."""

    start: date = Field(alias="from")
    until: date


class Territory(SpecModel):
    """Leads whose attributes pass every test go to ``member`` or to ``pool``."""

    when: dict[AttrPath, Match]
    member: str | None = None
    pool: Name | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_matches(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("when"), dict):
            data = {**data, "when": {k: _as_match(v) for k, v in data["when"].items()}}
        return data

    @model_validator(mode="after")
    def _one_target(self) -> Territory:
        if (self.member is None) == (self.pool is None):
            raise ValueError("give exactly one of member or pool")
        return self


class Pool(SpecModel):
    """A team of reps (user emails) who share leads, how, and who takes them when nobody can."""

    members: tuple[str, ...] = ()
    method: Method = "round_robin"
    territories: tuple[Territory, ...] = ()
    away: dict[str, Away] = Field(default_factory=dict)
    fallback: dict[Literal["user", "pool"], str] = Field(default_factory=dict)


class Sla(SpecModel):
    """How long a rep has to accept a lead, when to remind them, and whom to escalate to."""

    accept_within: Duration
    remind_after: Duration | None = None
    escalate_to: str | None = None

    @model_validator(mode="after")
    def _remind_first(self) -> Sla:
        if self.remind_after is not None and self.remind_after >= self.accept_within:
            raise ValueError("remind_after must be shorter than accept_within")
        return self


class ScoringSpec(SpecModel):
    """The whole scoring file: named models (``default`` is ``contacts.score``), grade, MQL."""

    models: dict[Annotated[str, StringConstraints(pattern=r"^[\w\-]{1,64}$")], Model]
    grade: GradeSpec | None = None
    lifecycle: Lifecycle | None = None
    pools: dict[Name, Pool] = Field(default_factory=dict)
    sla: Sla | None = None

    @model_validator(mode="after")
    def _models_named(self) -> ScoringSpec:
        for name, pool in self.pools.items():
            targets = [t.pool for t in pool.territories if t.pool] + [pool.fallback.get("pool")]
            for target in targets:
                if target is not None and target not in self.pools:
                    raise ValueError(f"pools.{name}: pool '{target}' is not defined")
        if self.lifecycle and self.lifecycle.mql.model not in self.models:
            raise ValueError(
                f"lifecycle.mql.model '{self.lifecycle.mql.model}' is not one of the models"
            )
        if self.lifecycle and self.lifecycle.mql.grade_at_least and self.grade is None:
            raise ValueError("lifecycle.mql.grade_at_least needs a grade section")
        return self


def load_scoring(text: str, filename: str = "scoring.yaml") -> Loaded[ScoringSpec]:
    """Parse a scoring file; every finding has its file, line and column."""
    return load_model(
        text, filename, ScoringSpec, "a scoring file is a YAML mapping (models, grade, lifecycle)"
    )
