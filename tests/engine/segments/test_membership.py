"""Segment files, kept memberships and their events, and segment triggers (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from engine.contacts.service import add_tags, remove_tags
from engine.runtime.journeys import CompiledJourneys
from engine.runtime.service import process_contact_changes, process_events
from engine.segments import count_matching
from engine.segments.definitions import CONDITIONS, read_segments, sync_segments
from engine.segments.membership import reconcile, refresh_contacts
from engine.store.models import (
    Contact,
    ContactTag,
    Enrollment,
    Event,
    OutboxMessage,
    SegmentMembership,
)
from tests.publishing import publish_source

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)

VIP = """\
id: vip
name: 優良顧客
description: タグ vip、またはスコア50以上
condition:
  any:
    - {tag: vip}
    - {score: {gte: 50}}
"""

WELCOME_VIP = """\
dsl: journey/v1
id: welcome-vip
name: 優良顧客へのご挨拶
version: 1
triggers:
  - segment: vip
    when: enters
entry: {reentry: never}
start: mark
steps:
  mark:
    type: tag
    add: [vip-welcomed]
    next: done
  done:
    type: exit
"""


def folder(tmp_path: Path, **files: str) -> Path:
    target = tmp_path / "segments"
    target.mkdir(exist_ok=True)
    for name, text in files.items():
        (target / f"{name}.yaml").write_text(text, encoding="utf-8")
    return target


def contact(session, email: str, **fields) -> int:
    row = Contact(email=email, attributes={}, created_at=NOW, updated_at=NOW, **fields)
    session.add(row)
    session.flush()
    return row.id


def members(database, segment: str = "vip") -> set[int]:
    with database.unit_of_work() as session:
        return set(
            session.scalars(
                select(SegmentMembership.contact_id).where(SegmentMembership.segment_id == segment)
            )
        )


def membership_events(database) -> list[tuple[int, str, dict]]:
    with database.unit_of_work() as session:
        rows = session.execute(
            select(Event.contact_id, Event.type, Event.properties)
            .where(Event.source == "segment")
            .order_by(Event.id)
        )
        return [(c, t, p) for c, t, p in rows]


def test_a_bad_segment_file_names_file_line_and_field(tmp_path: Path) -> None:
    target = folder(
        tmp_path,
        vip=VIP,
        typo="id: typo\nname: 誤り\ncondition:\n  all:\n    - {tagg: vip}\n",
        entry="id: entry\nname: x\ncondition: {entry: plan, eq: pro}\n",
    )

    files, diagnostics = read_segments(target)

    assert [f.spec.id for f in files] == ["vip"]
    found = [d.format() for d in diagnostics]
    assert found[0].startswith(f"{target / 'entry.yaml'}:3:12: error[S102] condition:")
    assert found[1].startswith(f"{target / 'typo.yaml'}:5:7: error[E112] condition.all[0]:")


def test_sync_stores_nothing_when_a_file_is_bad(database, tmp_path: Path) -> None:
    target = folder(tmp_path, vip=VIP, bad="id: other\nname: x\ncondition: {tag: a}\n")

    with database.unit_of_work() as session:
        report = sync_segments(session, target, now=NOW)
    with database.unit_of_work() as session:
        stored = CONDITIONS.all(session)

    assert not report.ok
    assert "S101" in report.diagnostics[0].format()
    assert stored == {}


def test_memberships_follow_contacts_and_announce_each_change_once(
    database, tmp_path: Path
) -> None:
    with database.unit_of_work() as session:
        sync_segments(session, folder(tmp_path, vip=VIP), now=NOW)
        yamada = contact(session, "taro.yamada@example.jp", last_name="山田", first_name="太郎")
        sato = contact(session, "hanako.sato@example.jp", last_name="佐藤", score=10)
        add_tags(session, {(yamada, "vip")}, now=NOW)

    changed = reconcile(database, now=NOW, segment_ids=["vip"], batch=1)
    after_reconcile = members(database)
    with database.unit_of_work() as session:
        session.get(Contact, sato).score = 75
        remove_tags(session, yamada, {"vip"}, now=NOW)
    with database.unit_of_work() as session:
        refresh_contacts(session, [yamada, sato], now=NOW + timedelta(minutes=1))
    with database.unit_of_work() as session:  # a second look changes nothing
        repeat = refresh_contacts(session, [yamada, sato], now=NOW + timedelta(minutes=2))
    with database.unit_of_work() as session:
        matching = count_matching(session, CONDITIONS.all(session)["vip"], NOW)
        routed = session.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.topic == "events.route")
        ).all()

    assert changed == 1
    assert after_reconcile == {yamada}
    assert members(database) == {sato}
    assert matching == 1
    assert repeat.count == 0
    assert sorted((c, t) for c, t, _ in membership_events(database)) == sorted(
        [(yamada, "segment.entered"), (yamada, "segment.exited"), (sato, "segment.entered")]
    )
    assert all(p == {"segment": "vip"} for _, _, p in membership_events(database))
    event_ids = {i for payload in routed for i in payload["event_ids"]}
    with database.unit_of_work() as session:
        stored_ids = set(session.scalars(select(Event.id).where(Event.source == "segment")))
    assert stored_ids <= event_ids  # every membership event is routed


def test_entering_a_segment_enrolls_through_a_segment_trigger(database, tmp_path: Path) -> None:
    journeys = CompiledJourneys()
    with database.unit_of_work() as session:
        sync_segments(session, folder(tmp_path, vip=VIP), now=NOW)
        publish_source(session, WELCOME_VIP, now=NOW)
        suzuki = contact(session, "ichiro.suzuki@example.jp", last_name="鈴木", score=0)
    with database.unit_of_work() as session:
        session.get(Contact, suzuki).score = 55
    # What the contacts.changed consumer does: segments first, then live enrollments.
    with database.unit_of_work() as session:
        process_contact_changes(
            session, [suzuki], now=NOW, journeys=journeys, message_domain="example.jp"
        )
    # What the events.route consumer then does with the membership event.
    with database.unit_of_work() as session:
        entered = [t for c, t, _ in membership_events(database) if c == suzuki]
        event_ids = list(session.scalars(select(Event.id).where(Event.source == "segment")))
        result = process_events(
            session, event_ids, now=NOW, journeys=journeys, message_domain="example.jp"
        )
    with database.unit_of_work() as session:
        rows = session.execute(
            select(Enrollment.contact_id, Enrollment.status, Enrollment.entry)
        ).all()
        tags = set(session.scalars(select(ContactTag.tag).where(ContactTag.contact_id == suzuki)))

    assert entered == ["segment.entered"]
    assert len(result.enrolled) == 1
    assert [(c, s) for c, s, _ in rows] == [(suzuki, "exited")]
    assert rows[0][2]["properties"] == {"segment": "vip"}
    assert tags == {"vip-welcomed"}
