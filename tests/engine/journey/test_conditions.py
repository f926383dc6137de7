"""The condition language: parsing, compiled predicates (fixed now), and algebraic laws."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from engine.journey import ContactView, EmailRecord, EventRecord, compile_any, compile_condition
from engine.journey.conditions import Condition
from tests.engine.journey.support import NOW

CONDITION: TypeAdapter[Any] = TypeAdapter(Condition)


def cond(data: dict[str, Any]) -> Any:
    return CONDITION.validate_python(data)


def holds(data: dict[str, Any], contact: ContactView, event: EventRecord | None = None) -> bool:
    return compile_condition(cond(data))(contact, NOW, event)


CONTACT = ContactView(
    attributes={
        "email": "hanako@example.jp",
        "first_name": "Hanako",
        "名前": "山田 花子",
        "lifecycle_stage": "lead",
        "age": 30,
        "vip": True,
        "signup_date": "2025-06-10",
        "last_seen": "2025-06-15T09:00:00Z",
        "interests": ["crm", "email"],
        "subscription": {"id": "sub-1", "end_date": "2025-07-01", "auto_renew": False},
        "birthday": date(1990, 6, 20),
        "nickname": None,
    },
    tags=frozenset({"vip"}),
    segments=frozenset({"trial_users"}),
    subscriptions=frozenset({"marketing_email"}),
    scores={"default": 55, "product": 10},
    events=(
        EventRecord("form_submitted", NOW - timedelta(days=1), {"form_id": "demo-request"}),
        EventRecord("order_completed", NOW - timedelta(hours=2), {"cart_id": "c1"}),
        EventRecord("order_completed", NOW - timedelta(days=5), {"cart_id": "c2"}),
        EventRecord("order_completed", NOW + timedelta(days=1), {"cart_id": "future"}),
    ),
    emails=(
        EmailRecord("sent", NOW - timedelta(days=3), step="welcome", template="welcome"),
        EmailRecord("opened", NOW - timedelta(days=2), step="welcome", template="welcome"),
        EmailRecord("opened", NOW - timedelta(days=1), step="case_study", human=False),
        EmailRecord("clicked", NOW - timedelta(hours=1), step="reminder"),
    ),
    entry={"name": "checkout_started", "properties": {"cart_id": "c1", "plan": "pro"}},
    entered_at=NOW - timedelta(days=3),
)

CASES: list[tuple[dict[str, Any], bool]] = [
    ({"attr": "email", "exists": True}, True),
    ({"attr": "phone", "exists": False}, True),
    ({"attr": "phone", "exists": True}, False),
    ({"attr": "nickname", "exists": True}, False),
    ({"attr": "lifecycle_stage", "eq": "lead"}, True),
    ({"attr": "lifecycle_stage", "ne": "lead"}, False),
    ({"attr": "lifecycle_stage", "in": ["customer", "sql"]}, False),
    ({"attr": "lifecycle_stage", "nin": ["customer", "sql"]}, True),
    ({"attr": "age", "gt": 29}, True),
    ({"attr": "age", "gte": 30}, True),
    ({"attr": "age", "lt": 30}, False),
    ({"attr": "age", "lte": 30.0}, True),
    ({"attr": "age", "between": [18, 30]}, True),
    ({"attr": "age", "between": [31, 40]}, False),
    ({"attr": "age", "eq": "30"}, False),
    ({"attr": "age", "gt": "29"}, False),
    ({"attr": "vip", "eq": 1}, False),
    ({"attr": "vip", "eq": True}, True),
    ({"attr": "interests", "contains": "crm"}, True),
    ({"attr": "interests", "in": ["email", "sms"]}, True),
    ({"attr": "interests", "nin": ["sms"]}, True),
    ({"attr": "first_name", "starts_with": "Han"}, True),
    ({"attr": "first_name", "contains": "nak"}, True),
    ({"attr": "名前", "starts_with": "山田"}, True),
    ({"attr": "signup_date", "after": "2025-06-01"}, True),
    ({"attr": "signup_date", "before": "2025-06-10"}, False),
    ({"attr": "signup_date", "eq": "2025-06-10T15:00:00+00:00"}, True),
    ({"attr": "signup_date", "within_last": "7d"}, True),
    ({"attr": "signup_date", "within_last": "2d"}, False),
    ({"attr": "subscription.end_date", "within_next": "30d"}, True),
    ({"attr": "subscription.end_date", "within_next": "7d"}, False),
    ({"attr": "subscription.auto_renew", "eq": False}, True),
    ({"attr": "last_seen", "within_last": "4h"}, True),
    ({"attr": "last_seen", "within_last": "2h"}, False),
    ({"attr": "last_seen", "after": "2025-06-15T08:00:00Z"}, True),
    ({"attr": "birthday", "before": "2000-01-01"}, True),
    ({"attr": "first_name", "before": "2000-01-01"}, False),
    ({"attr": "first_name", "eq": {"ref": "contact.first_name"}}, True),
    ({"attr": "subscription.end_date", "after": {"ref": "entry.subscription.end_date"}}, False),
    ({"entry": "properties.cart_id", "eq": "c1"}, True),
    ({"entry": "properties.plan", "in": ["pro", "team"]}, True),
    ({"event": "order_completed"}, True),
    ({"event": "order_completed", "within": "1d"}, True),
    ({"event": "order_completed", "count": {"gte": 2}}, True),
    ({"event": "order_completed", "count": {"gte": 3}}, False),
    ({"event": "order_completed", "within": "1d", "count": {"gte": 2}}, False),
    ({"event": "order_completed", "since": "entry", "count": {"eq": 1}}, True),
    (
        {
            "event": "order_completed",
            "where": {"prop": "cart_id", "eq": {"ref": "entry.properties.cart_id"}},
        },
        True,
    ),
    ({"event": "order_completed", "within": "1d", "where": {"prop": "cart_id", "eq": "c2"}}, False),
    ({"event": "webinar_attended", "count": {"eq": 0}}, True),
    ({"event": "form_submitted", "count": {"eq": 0}}, False),
    ({"email": "opened", "step": "welcome"}, True),
    ({"email": "opened", "step": "case_study"}, False),
    ({"email": "opened", "step": "case_study", "human": False}, True),
    ({"email": "clicked", "steps": ["case_study", "reminder"], "within": "3d"}, True),
    ({"email": "clicked", "within": "30m"}, False),
    ({"email": "sent", "template": "welcome"}, True),
    ({"email": "bounced"}, False),
    ({"segment": "trial_users"}, True),
    ({"tag": "vip"}, True),
    ({"tag": "VIP"}, False),
    ({"subscribed": "newsletter"}, False),
    ({"score": {"gte": 50}}, True),
    ({"score": {"gte": 50}, "model": "product"}, False),
    ({"score": {"lt": 1}, "model": "never-scored"}, True),
    ({"all": [{"tag": "vip"}, {"attr": "age", "gte": 18}]}, True),
    ({"all": [{"tag": "vip"}, {"attr": "age", "gte": 31}]}, False),
    ({"any": [{"tag": "nope"}, {"segment": "trial_users"}]}, True),
    ({"not": {"attr": "lifecycle_stage", "in": ["customer", "sql"]}}, True),
    ({"prop": "cart_id", "eq": "c1"}, False),  # no event in scope
]


@pytest.mark.parametrize(("data", "expected"), CASES, ids=[str(c[0]) for c in CASES])
def test_condition_on_fixed_contact(data: dict[str, Any], expected: bool) -> None:
    assert holds(data, CONTACT) is expected


def test_prop_reads_the_event_being_matched() -> None:
    event = EventRecord("checkout_started", NOW, {"cart_value": 42, "品名": "抹茶"})

    assert holds({"prop": "cart_value", "gte": 20}, CONTACT, event)
    assert holds({"prop": "品名", "eq": "抹茶"}, CONTACT, event)
    assert not holds({"prop": "cart_value", "gte": 50}, CONTACT, event)


def test_naive_now_is_read_as_utc() -> None:
    predicate = compile_condition(cond({"attr": "last_seen", "within_last": "4h"}))

    assert predicate(CONTACT, datetime(2025, 6, 15, 12, 0)) is True


def test_compile_any_is_exit_when() -> None:
    exit_when = compile_any([cond({"tag": "customer"}), cond({"email": "unsubscribed"})])
    unsubscribed = ContactView(emails=(EmailRecord("unsubscribed", NOW - timedelta(hours=1)),))

    assert exit_when(unsubscribed, NOW) is True
    assert exit_when(CONTACT, NOW) is False
    assert compile_any([])(CONTACT, NOW) is False


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"all": []}, "'all' needs at least one condition"),
        ({"any": []}, "'any' needs at least one condition"),
        ({"attr": "x"}, "exactly one operator, found none"),
        ({"attr": "x", "eq": 1, "ne": 2}, "found eq, ne"),
        ({"score": {"gte": 1, "lte": 5}}, "found gte, lte"),
        ({"attr": "x", "eq": {"ref": "account.id"}}, "a value is a literal or {ref: entry.<path>}"),
        ({"attr": "x", "eq": {"nested": 1}}, "a value is a literal"),
        ({"email": "opened", "step": "a", "template": "b"}, "not step and template"),
        ({"email": "read"}, "Input should be"),
        ({"attr": "x", "within_last": "1mo"}, "months or years"),
        ({"atr": "x", "eq": 1}, "expected a condition"),
        ({"score": {"gte": "many"}}, "gte compares a count or score with a number, found 'many'"),
        ({"score": {"eq": True}}, "found True"),
        ({"score": {"between": [1, "50"]}}, "found '50'"),
        ({"event": "page_view", "count": {"gte": "三"}}, "found '三'"),
    ],
)
def test_malformed_conditions_are_rejected(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        cond(data)

    assert message in str(caught.value)


def test_in_is_read_through_its_alias() -> None:
    leaf = cond({"attr": "stage", "in": ["a", "b"]})

    assert leaf.operator == ("in", ("a", "b"))


# --- laws, with hypothesis -------------------------------------------------------------

NAMES = ["a", "b", "c"]
SCALARS = st.one_of(
    st.integers(-3, 3),
    st.sampled_from(["x", "xy", "y", "2025-06-14", "2025-06-16", "2025-06-15T10:00:00Z"]),
    st.booleans(),
    st.floats(-3, 3, allow_nan=False),
    st.dates(date(2025, 6, 1), date(2025, 6, 30)),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3))
OPERAND = st.one_of(SCALARS, st.sampled_from(["2025-06-15", "x"]))


@st.composite
def leaves(draw: st.DrawFn) -> dict[str, Any]:
    attr = draw(st.sampled_from(NAMES))
    op = draw(
        st.sampled_from(
            ["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "between", "exists",
             "contains", "starts_with", "before", "after", "within_last", "within_next"]
        )
    )  # fmt: skip
    if op in ("in", "nin"):
        operand: Any = draw(st.lists(OPERAND, min_size=1, max_size=3))
    elif op == "between":
        operand = [draw(OPERAND), draw(OPERAND)]
    elif op == "exists":
        operand = draw(st.booleans())
    elif op in ("within_last", "within_next"):
        operand = draw(st.sampled_from(["1h", "1d", "7d"]))
    else:
        operand = draw(OPERAND)
    if isinstance(operand, date):
        operand = operand.isoformat()
    return {"attr": attr, op: operand}


CONDITIONS = st.recursive(
    st.one_of(leaves(), st.builds(lambda t: {"tag": t}, st.sampled_from(["t1", "t2"]))),
    lambda inner: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
    ),
    max_leaves=6,
)
CONTACTS = st.builds(
    lambda attrs, tags: ContactView(attributes=attrs, tags=frozenset(tags)),
    st.dictionaries(st.sampled_from(NAMES), st.one_of(st.none(), VALUES), max_size=3),
    st.sets(st.sampled_from(["t1", "t2"])),
)
MOMENTS = st.datetimes(datetime(2025, 6, 14), datetime(2025, 6, 16), timezones=st.just(UTC))


@settings(max_examples=300)
@given(CONDITIONS, CONTACTS, MOMENTS)
def test_not_inverts(data: dict[str, Any], contact: ContactView, now: datetime) -> None:
    plain = compile_condition(cond(data))(contact, now)
    negated = compile_condition(cond({"not": data}))(contact, now)

    assert negated is (not plain)


@settings(max_examples=300)
@given(CONDITIONS, CONDITIONS, CONTACTS, MOMENTS)
def test_all_and_any_laws(
    a: dict[str, Any], b: dict[str, Any], contact: ContactView, now: datetime
) -> None:
    def ev(data: dict[str, Any]) -> bool:
        return compile_condition(cond(data))(contact, now)

    assert ev({"all": [a]}) is ev(a)
    assert ev({"any": [a]}) is ev(a)
    assert ev({"all": [a, b]}) is (ev(a) and ev(b))
    assert ev({"any": [a, b]}) is (ev(a) or ev(b))
    assert ev({"all": [a, b]}) is ev({"all": [b, a]})
    assert ev({"not": {"all": [a, b]}}) is ev({"any": [{"not": a}, {"not": b}]})
    assert ev({"not": {"not": a}}) is ev(a)


@settings(max_examples=300)
@given(leaves(), CONTACTS, MOMENTS, st.booleans())
def test_missing_attributes_never_match_a_comparison(
    leaf: dict[str, Any], contact: ContactView, now: datetime, as_null: bool
) -> None:
    attributes = dict(contact.attributes)
    if as_null:
        attributes[leaf["attr"]] = None
    else:
        attributes.pop(leaf["attr"], None)
    without = ContactView(attributes=attributes)
    result = compile_condition(cond(leaf))(without, now)

    if "exists" in leaf:
        assert result is (leaf["exists"] is False)
    else:
        assert result is False


@settings(max_examples=200)
@given(st.sampled_from(NAMES), VALUES, CONTACTS, MOMENTS)
def test_eq_and_ne_disagree_on_present_values(
    name: str, value: Any, contact: ContactView, now: datetime
) -> None:
    operand = value.isoformat() if isinstance(value, date) else value
    if isinstance(operand, list):
        operand = [v.isoformat() if isinstance(v, date) else v for v in operand]
    present = ContactView(attributes={**contact.attributes, name: value})

    eq = compile_condition(cond({"attr": name, "eq": operand}))(present, now)
    ne = compile_condition(cond({"attr": name, "ne": operand}))(present, now)

    assert eq is not ne
    assert eq is True
