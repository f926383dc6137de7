"""The runtime loads what a journey's conditions read, and every condition sees its data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from engine.journey import validate_journey
from engine.journey.needs import EVERYTHING, NOTHING, ViewNeeds, view_needs
from engine.store.models import Contact, ContactTag, Enrollment, SegmentMembership
from tests.engine.runtime.test_advance import enroll, lead, step
from tests.publishing import publish_source

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)

BRANCHING = """\
dsl: journey/v1
id: vip-care
name: VIP ケア
version: 1
triggers: [{event: signed_up}]
start: route
steps:
  route:
    type: branch
    cases:
      - {when: {segment: vip-customers}, next: vip}
      - {when: {tag: 優待}, next: perk}
    default: plain
  vip: {type: tag, add: [vip-route], next: done}
  perk: {type: tag, add: [perk-route], next: done}
  plain: {type: tag, add: [plain-route], next: done}
  done: {type: exit, reason: done}
"""


def spec_of(source: str):
    report = validate_journey(source, "inline.yaml")
    assert report.spec is not None, report.format()
    return report.spec


def test_needs_follow_the_conditions_a_journey_reads():
    assert view_needs(spec_of(BRANCHING)) == ViewNeeds(tags=True, segments=True)
    attribute_only = BRANCHING.replace("{segment: vip-customers}", "{attr: plan, eq: pro}")
    attribute_only = attribute_only.replace("{tag: 優待}", "{attr: plan, eq: team}")
    assert view_needs(spec_of(attribute_only)) == NOTHING
    waits = BRANCHING.replace(
        "start: route",
        "start: wait\nexit_when: [{email: unsubscribed}]",
    ).replace(
        "steps:\n",
        "steps:\n  wait: {type: wait_for, event: paid, timeout: 3d, on_event: route, "
        "on_timeout: route}\n",
    )
    needs = view_needs(spec_of(waits))
    assert needs.events and needs.emails and needs.segments and not needs.subscriptions
    assert NOTHING | EVERYTHING == EVERYTHING


@pytest.mark.parametrize(
    ("segment", "tag", "route"),
    [(True, False, "vip-route"), (False, True, "perk-route"), (False, False, "plain-route")],
)
def test_a_branch_on_a_segment_or_tag_sees_the_contact_membership(database, segment, tag, route):
    with database.unit_of_work() as session:
        publish_source(session, BRANCHING, now=NOW)
        contact = lead(session, "hanako@example.jp", "佐藤", "花子", at=NOW)
        if segment:
            session.add(
                SegmentMembership(segment_id="vip-customers", contact_id=contact.id, entered_at=NOW)
            )
        if tag:
            session.add(ContactTag(contact_id=contact.id, tag="優待", added_at=NOW))
        row = enroll(session, "vip-care", contact, {"name": "signed_up"})
        contact_id, enrollment_id = contact.id, row.id
    step(database, [enrollment_id], NOW + timedelta(seconds=1))
    with database.sessions() as session:
        tags = set(
            session.scalars(select(ContactTag.tag).where(ContactTag.contact_id == contact_id))
        )
        assert route in tags
        assert tags & {"vip-route", "perk-route", "plain-route"} == {route}
        assert session.get(Enrollment, enrollment_id).status == "exited"


def test_a_journey_on_a_static_list_loads_the_contacts_lists(database):
    from engine.journey.needs import ViewNeeds
    from engine.runtime.views import load_views
    from engine.store.models import ContactList, ListMember

    on_list = BRANCHING.replace("{segment: vip-customers}", "{list: 展示会}")
    assert view_needs(spec_of(on_list)).lists
    with database.unit_of_work() as session:
        contact = Contact(
            email="list@example.jp",
            attributes={},
            lifecycle_stage="lead",
            score=0,
            created_at=NOW,
            updated_at=NOW,
        )
        listed = ContactList(key="展示会", name="展示会来場者", created_at=NOW)
        session.add_all([contact, listed])
        session.flush()
        session.add(
            ListMember(list_id=listed.id, contact_id=contact.id, added_at=NOW, source="test")
        )
        contact_id = contact.id
    with database.sessions() as session:
        loaded = load_views(session, [contact_id], now=NOW, needs=ViewNeeds(lists=True))
        skipped = load_views(session, [contact_id], now=NOW, needs=ViewNeeds())
    assert loaded[contact_id].lists == frozenset({"展示会"})
    assert skipped[contact_id].lists == frozenset()


def test_a_loaded_view_reads_the_contact_as_segments_do(database):
    """The batch loader's document is ``contact_document``'s: stored attributes under fields."""
    from engine.runtime.views import contact_document, load_views

    with database.unit_of_work() as session:
        contact = lead(
            session,
            "taro@example.jp",
            "山田",
            "太郎",
            company="株式会社ナーチャー",
            zone="Asia/Tokyo",
        )
        contact.attributes = {"company": "株式会社ナーチャー", "email": "shadowed", "敬称": "様"}
        contact.grade = "A"
        session.flush()
        session.refresh(contact)
        view = load_views(session, [contact.id], now=NOW)[contact.id]
        expected = contact_document(contact)
    assert view.attributes == expected
    assert view.attributes["email"] == "taro@example.jp"  # the column wins over the attribute
    assert view.attributes["last_name"] == "山田" and view.attributes["敬称"] == "様"
    assert view.attributes["grade"] == "A" and view.attributes["timezone"] == "Asia/Tokyo"
