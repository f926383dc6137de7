"""Hypothesis strategies: random audiences and random conditions over them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from engine.journey.conditions import OPERATORS
from engine.store.models import LIFECYCLE_STAGES
from tests.engine.segments.audience import NOW, Mail, Person, Track

TEXTS = [
    "pro", "Pro", "", "a", "ab", "abc", "東京", "東京都", "山田太郎", "ｔｅｓｔ", "é", "10", "1e3",
    "true", "2025-06-15", "2025-06-14", "2025-06-12", "2025-06-18", "2024-02-29", "2023-02-29",
    "2025-06-15T12:00:00Z", "2025-06-15T12:00:00+09:00", "2025-06-15 21:00:00+0900",
    "2025-06-12T12:00:00.000001Z", "2025-06-12T12:00:00", "2025-06-15T11:59:59.9999999",
    "2025-06-15T12:00", "2025-06-15T25:00", "2025-06-15\n", "２０２５-06-15", "0000-01-01",
    "9999-12-31T23:59:59-05:00", "2025-06-15T12:00+05:75", "2025-06-15T12:00+24:00",
    "2025-06-15T12:00:00.Z", "2025-13-01", "2025-06-31",
]  # fmt: skip
KEYS = ["plan", "age", "signup", "名前", "flags", "nested", "a.b", "a"]
SCALAR_KEYS = ["plan", "age", "signup", "名前", "a.b"]
COLUMN_PATHS = ["email", "first_name", "lifecycle_stage", "score", "grade", "created_at"]
PATHS = [*KEYS, "nested.x", "nested.y.z", "a.b", "missing", "email.x", "flags.0", *COLUMN_PATHS]
REF_PATHS = [*SCALAR_KEYS, "first_name", "score", "created_at", "lifecycle_stage"]
DURATIONS = ["0s", "30m", "1h", "12h", "3d", "1w", "2w"]
TAGS = ["vip", "trial", "東京"]
LISTS = ["seminar-2026-03", "展示会"]
TOPICS = ["news", "offers"]
SEGMENTS = ["trial_users", "vips"]
EVENT_TYPES = ["order", "visit"]
STEPS = ["welcome", "nudge"]
TEMPLATES = ["t1", "t2"]
ZONES = [None, UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-5, minutes=-30))]

MOSTLY = st.sampled_from([True, True, True, False])
"""True three times in four (hypothesis favours small integers, so `integers(0, 3)` would not)."""

# Offsets from NOW that sit on the windows' edges, plus the future.
EDGES = [timedelta(0), -timedelta(minutes=30), -timedelta(hours=1), -timedelta(days=3)]
EDGES += [-timedelta(weeks=1), timedelta(hours=1), timedelta(days=3), -timedelta(days=40)]


@st.composite
def moments(draw: st.DrawFn) -> datetime:
    """Draw a time near NOW, often exactly on a window edge."""
    if draw(st.booleans()):
        offset = draw(st.sampled_from(EDGES))
    else:
        offset = timedelta(seconds=draw(st.integers(-20 * 86400, 5 * 86400)))
    offset += timedelta(microseconds=draw(st.sampled_from([0, 0, 1, -1, 500_000])))
    return NOW + offset


@st.composite
def iso_texts(draw: st.DrawFn) -> str:
    """Draw ISO text in the shapes the predicate accepts, in several offsets and precisions."""
    moment = draw(moments())
    zone = draw(st.sampled_from(ZONES))
    local = moment.astimezone(zone) if zone is not None else moment
    shape = draw(st.sampled_from(["date", "minute", "second", "fraction"]))
    text = local.strftime("%Y-%m-%d")
    if shape != "date":
        text += draw(st.sampled_from(["T", " "])) + local.strftime("%H:%M")
    if shape in ("second", "fraction"):
        text += local.strftime(":%S")
    if shape == "fraction":
        digits = draw(st.integers(1, 9))
        text += "." + f"{local.microsecond:06d}{draw(st.integers(0, 999)):03d}"[:digits]
    if shape != "date" and zone is not None:
        offset = local.strftime("%z")
        style = draw(st.sampled_from(["colon", "plain", "z"]))
        if style == "z" and offset == "+0000":
            text += "Z"
        else:
            text += offset[:3] + ":" + offset[3:] if style == "colon" else offset
    return text


COMMON = ["pro", "free", "Pro", "東京", "東京都", "", "a", "2025-06-15", "2025-06-12"]
COMMON += ["2025-06-15T12:00:00Z", "2025-06-15T21:00:00+09:00", "2025-06-12T12:00:00"]
texts = st.one_of(
    st.sampled_from(COMMON),
    st.sampled_from(TEXTS),
    iso_texts(),
    st.text(alphabet="ab東京0123456789-: TZ", max_size=6),
)
numbers = st.one_of(
    st.sampled_from([0, 1, 2, 5, 10, 2025, -1, 0.5, 1.0, 10.0, 1e16]),
    st.integers(-1000, 1000),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
)
scalars = st.one_of(texts, numbers, st.booleans(), st.none())
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["x", "y", "z"]), inner)
    ),
    max_leaves=6,
)
TYPED: dict[str, st.SearchStrategy[Any]] = {
    "plan": st.sampled_from(["pro", "free", "Pro", "東京プラン", "p"]),
    "age": st.one_of(st.integers(0, 12), st.sampled_from([0.5, 10.0])),
    "signup": st.one_of(iso_texts(), st.sampled_from(COMMON[-5:])),
    "名前": st.sampled_from(["山田太郎", "東京", "東京都", "ｔｅｓｔ"]),
    "flags": st.lists(st.sampled_from(["pro", "a", 1, 2, True, "2025-06-15"]), max_size=3),
    "a.b": st.sampled_from(["pro", 5, "2025-06-15"]),
    "a": st.fixed_dictionaries({"b": st.sampled_from(["free", 1, "2025-06-12"])}),
}


@st.composite
def attribute_value(draw: st.DrawFn, key: str) -> Any:
    """Draw a value for ``key``: usually its own kind, sometimes anything at all."""
    if not draw(MOSTLY):
        return draw(scalars if key in SCALAR_KEYS else values)
    return draw(TYPED[key])


@st.composite
def people(draw: st.DrawFn) -> Person:
    """Draw one contact with attributes, tags, subscriptions, events and mail."""
    person = Person()
    for key in KEYS:
        if key != "nested" and draw(MOSTLY):
            person.attributes[key] = draw(attribute_value(key))
    if draw(st.booleans()):
        person.attributes["nested"] = {
            "x": draw(scalars),
            "y": draw(st.one_of(st.fixed_dictionaries({"z": scalars}), scalars)),
        }
    person.columns = {
        "first_name": draw(st.one_of(st.none(), texts)),
        "lifecycle_stage": draw(st.sampled_from(LIFECYCLE_STAGES)),
        "score": draw(st.integers(-5, 100)),
        "grade": draw(st.sampled_from([None, "A", "B"])),
        "created_at": draw(moments()),
    }
    person.tags = set(draw(st.lists(st.sampled_from(TAGS), unique=True)))
    person.subscriptions = draw(st.dictionaries(st.sampled_from(TOPICS), st.booleans()))
    person.segments = set(draw(st.lists(st.sampled_from(SEGMENTS), unique=True)))
    person.rfm = draw(st.sampled_from([None, "champions", "at_risk", "lost"]))
    person.lists = set(draw(st.lists(st.sampled_from(LISTS), unique=True)))
    for _ in range(draw(st.integers(0, 4))):
        keys = st.sampled_from(["v", "sku", "total", "signup", "plan", "age"])
        properties = draw(st.dictionaries(keys, st.one_of(values, *TYPED.values())))
        person.events.append((draw(st.sampled_from(EVENT_TYPES)), properties, draw(moments())))
    for _ in range(draw(st.integers(0, 2))):
        model = draw(st.sampled_from(["default", "engagement"]))
        person.score_changes.append((model, draw(st.integers(-5, 60)), draw(moments())))
    for _ in range(draw(st.integers(0, 3))):
        mail = Mail(
            step=draw(st.sampled_from([*STEPS, None])),
            template=draw(st.sampled_from(TEMPLATES)),
            sent_at=draw(st.one_of(st.none(), moments())),
            bounced_at=draw(st.one_of(st.none(), st.none(), moments())),
        )
        for _ in range(draw(st.integers(0, 3))):
            mail.tracks.append(
                Track(
                    kind=draw(st.sampled_from(["open", "click", "unsubscribe"])),
                    classification=draw(st.sampled_from(["human", "machine", "scanner"])),
                    at=draw(moments()),
                )
            )
        person.mails.append(mail)
    return person


@st.composite
def operands(draw: st.DrawFn, *, refs: bool = True) -> Any:
    """Draw a comparison operand: a literal like the data, sometimes a list or a contact ref."""
    choice = draw(st.integers(0, 9))
    if refs and choice == 0:
        return {"ref": "contact." + draw(st.sampled_from(REF_PATHS))}
    if choice == 1:
        return draw(st.lists(st.one_of(scalars, st.sampled_from(["pro", "a", 1, 2])), max_size=3))
    if choice in (2, 3):
        return draw(st.one_of(*TYPED.values()).filter(lambda v: not isinstance(v, list | dict)))
    if choice == 4:
        return draw(iso_texts())
    if choice == 5:
        return draw(st.sampled_from(["p", "pr", "東", "東京", "京", "", "a", "2025", "2025-06"]))
    return draw(scalars)


SENSIBLE: dict[str, tuple[list[str], st.SearchStrategy[Any]]] = {
    "time": (
        ["signup", "created_at", "a.b", "nested.x"],
        st.one_of(iso_texts(), st.sampled_from(COMMON)),
    ),
    "text": (
        ["plan", "名前", "flags", "email", "first_name"],
        st.sampled_from(["p", "pr", "東", "東京", "京", "", "a", "c1", "2025"]),
    ),
    "order": (
        ["age", "score", "signup", "plan"],
        st.one_of(st.integers(-1, 12), iso_texts(), st.sampled_from(["pro", "q", "2025-06-14"])),
    ),
    "equal": (
        ["plan", "age", "signup", "flags", "a.b", "lifecycle_stage"],
        st.one_of(*TYPED.values(), st.sampled_from(LIFECYCLE_STAGES)).filter(
            lambda v: not isinstance(v, dict)
        ),
    ),
}
KIND = {"before": "time", "after": "time", "within_last": "time", "within_next": "time",
        "contains": "text", "starts_with": "text", "gt": "order", "gte": "order", "lt": "order",
        "lte": "order", "between": "order"}  # fmt: skip


@st.composite
def value_leaves(draw: st.DrawFn, paths: list[str]) -> dict[str, Any]:
    """Draw a value leaf; usually a path and operand that can match, sometimes anything."""
    op = draw(st.sampled_from(OPERATORS))
    sensible, operand = SENSIBLE[KIND.get(op, "equal")]
    random = not draw(MOSTLY)
    path = draw(st.sampled_from(paths if random else [p for p in sensible if p in paths] or paths))
    pick = operands() if random else operand
    if op == "exists":
        return {"path": path, op: draw(st.booleans())}
    if op in ("within_last", "within_next"):
        return {"path": path, op: draw(st.sampled_from(DURATIONS))}
    if op in ("in", "nin"):
        return {"path": path, op: draw(st.lists(st.one_of(pick, operands()), max_size=3))}
    if op == "between":
        return {"path": path, op: [draw(pick), draw(pick)]}
    return {"path": path, op: draw(pick)}


@st.composite
def count_tests(draw: st.DrawFn) -> dict[str, Any]:
    """Draw a count or score comparison."""
    op = draw(st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte", "between"]))
    small = st.one_of(st.integers(-1, 60), st.just(0.5))  # text and booleans are refused
    if op == "between":
        return {op: [draw(small), draw(small)]}
    return {op: draw(small)}


def _renamed(leaf: dict[str, Any], key: str) -> dict[str, Any]:
    return {key: leaf.pop("path"), **leaf}


def attr_leaves() -> st.SearchStrategy[dict[str, Any]]:
    """Draw ``{attr: path, <op>: value}``."""
    return value_leaves(PATHS).map(lambda leaf: _renamed(leaf, "attr"))


def prop_leaves() -> st.SearchStrategy[dict[str, Any]]:
    """Draw ``{prop: path, <op>: value}`` for an event's ``where``."""
    paths = ["v", "sku", "total", "v.x", "missing", "signup", "plan", "age"]
    return value_leaves(paths).map(lambda leaf: _renamed(leaf, "prop"))


@st.composite
def event_leaves(draw: st.DrawFn) -> dict[str, Any]:
    """Draw ``{event: type, within, count, where}``."""
    leaf: dict[str, Any] = {"event": draw(st.sampled_from(EVENT_TYPES))}
    if draw(st.booleans()):
        leaf["within"] = draw(st.sampled_from(DURATIONS))
    if draw(st.booleans()):
        leaf["count"] = draw(count_tests())
    if draw(st.booleans()):
        where = st.one_of(
            prop_leaves(), attr_leaves(), st.builds(lambda t: {"tag": t}, st.sampled_from(TAGS))
        )
        leaf["where"] = draw(
            st.one_of(where, st.builds(lambda a, b: {"any": [a, {"not": b}]}, where, where))
        )
    return leaf


@st.composite
def email_leaves(draw: st.DrawFn) -> dict[str, Any]:
    """Draw ``{email: activity, step|steps|template, within, human}``."""
    activity = draw(st.sampled_from(["sent", "opened", "clicked", "bounced", "unsubscribed"]))
    leaf: dict[str, Any] = {"email": activity}
    scope = draw(st.sampled_from(["none", "step", "steps", "template"]))
    if scope == "step":
        leaf["step"] = draw(st.sampled_from(STEPS))
    elif scope == "steps":
        leaf["steps"] = draw(st.lists(st.sampled_from(STEPS), min_size=1, unique=True))
    elif scope == "template":
        leaf["template"] = draw(st.sampled_from(TEMPLATES))
    if draw(st.booleans()):
        leaf["within"] = draw(st.sampled_from(DURATIONS))
    if draw(st.booleans()):
        leaf["human"] = draw(st.booleans())
    return leaf


leaves = st.one_of(
    attr_leaves(),
    attr_leaves(),
    event_leaves(),
    email_leaves(),
    st.builds(lambda s: {"segment": s}, st.sampled_from([*SEGMENTS, "nobody"])),
    st.builds(lambda t: {"tag": t}, st.sampled_from([*TAGS, "none"])),
    st.builds(lambda t: {"subscribed": t}, st.sampled_from([*TOPICS, "none"])),
    st.builds(lambda k: {"list": k}, st.sampled_from([*LISTS, "none"])),
    st.builds(
        lambda c: {"rfm": c},
        st.one_of(st.sampled_from(["champions", "new"]), st.just(["at_risk", "lost"])),
    ),
    st.builds(
        lambda c, m: {"score": c, **m},
        count_tests(),
        st.sampled_from([{}, {"model": "default"}, {"model": "engagement"}]),
    ),
)


def _nest(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    children = st.lists(inner, min_size=1, max_size=3)
    return st.one_of(
        st.builds(lambda c: {"all": c}, children),
        st.builds(lambda c: {"any": c}, children),
        st.builds(lambda c: {"not": c}, inner),
    )


conditions = _nest(_nest(_nest(leaves) | leaves) | leaves) | leaves
"""Conditions nested all/any/not up to depth 3, over every leaf kind and operator."""
