"""The broadcast walk on both databases: resumable batches, consent, states, cancel, A/B."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import insert, update

from engine.broadcasts.ab import bucket_of
from engine.broadcasts.service import advance, cancel_broadcast, send_broadcast, show_broadcast
from engine.broadcasts.walk import finish_sent, start_due, walk_batch
from engine.errors import InvalidInput
from engine.store.db import Database
from engine.store.models import ContactList, ListMember, Message, TrackingEvent
from tests.engine.broadcasts.people import (
    AB,
    DOMAIN,
    NOW,
    PLAIN,
    add_people,
    add_person,
    create,
    messages,
    queued_ids,
)


class Crash(Exception):
    pass


def start(database: Database, broadcast_id: str) -> None:
    with database.unit_of_work() as session:
        send_broadcast(session, broadcast_id, at=None, now=NOW)
        assert start_due(session, now=NOW) == [broadcast_id]


def crash_after_batch(database: Database, broadcast: str) -> None:
    with database.unit_of_work() as session:
        walk_batch(session, broadcast, now=NOW, message_domain=DOMAIN, batch=3)
        raise Crash


def test_a_crash_mid_walk_neither_skips_nor_repeats_anyone(database: Database) -> None:
    people = add_people(database, 8)
    broadcast = create(database, PLAIN)
    start(database, broadcast)
    for _ in range(2):  # batches 1 and 2 commit
        with database.unit_of_work() as session:
            walk_batch(session, broadcast, now=NOW, message_domain=DOMAIN, batch=3)
    with pytest.raises(Crash):  # batch 3 dies before its commit
        crash_after_batch(database, broadcast)

    assert [m.contact_id for m in messages(database, broadcast)] == people[:6]
    progress = advance(database, now=NOW, message_domain=DOMAIN, batch=3)

    sent = messages(database, broadcast)
    assert [m.contact_id for m in sent] == people
    assert sorted(queued_ids(database)) == sorted(m.id for m in sent)  # each queued once
    assert progress.queued == 2
    view = show_broadcast_dict(database, broadcast)
    assert (view["status"], view["messages"]) == ("sent", {"queued": 8})


def show_broadcast_dict(database: Database, broadcast_id: str) -> dict:
    with database.sessions() as session:
        return show_broadcast(session, broadcast_id).to_dict()


def test_only_consenting_members_get_a_message(database: Database) -> None:
    yes = add_person(database, "hai@example.jp")
    add_person(database, "iie@example.jp", granted=False)
    add_person(database, "tagless@example.jp", tag=None)
    broadcast = create(database, PLAIN)
    start(database, broadcast)

    advance(database, now=NOW, message_domain=DOMAIN)

    found = messages(database, broadcast)
    assert [(m.contact_id, m.topic, m.template) for m in found] == [
        (yes, "seminar_followup", "seminar-thanks-ja")
    ]
    assert found[0].subject == "{{ contact.last_name }} 様、秋の新機能のお知らせ"


def test_finished_only_once_every_message_is_final(database: Database) -> None:
    add_people(database, 3)
    broadcast = create(database, PLAIN)
    start(database, broadcast)
    advance(database, now=NOW, message_domain=DOMAIN)
    ids = [m.id for m in messages(database, broadcast)]

    for settle, expected in [(ids[:2], "sent"), (ids[2:], "finished")]:
        with database.unit_of_work() as session:
            session.execute(update(Message).where(Message.id.in_(settle)).values(status="sent"))
            finish_sent(session, now=NOW)
        assert show_broadcast_dict(database, broadcast)["status"] == expected


def test_cancel_skips_the_unsent_and_stops_the_walk(database: Database) -> None:
    add_people(database, 5)
    broadcast = create(database, PLAIN)
    start(database, broadcast)
    with database.unit_of_work() as session:
        walk_batch(session, broadcast, now=NOW, message_domain=DOMAIN, batch=2)
        cancel_broadcast(session, broadcast, now=NOW)

    advance(database, now=NOW, message_domain=DOMAIN)

    view = show_broadcast_dict(database, broadcast)
    assert (view["status"], view["messages"]) == ("cancelled", {"skipped": 2})


def test_a_scheduled_broadcast_waits_for_its_time(database: Database) -> None:
    add_people(database, 2)
    broadcast = create(database, PLAIN)
    with database.unit_of_work() as session:
        send_broadcast(session, broadcast, at=NOW + timedelta(hours=1), now=NOW)

    early = advance(database, now=NOW, message_domain=DOMAIN)
    due = advance(database, now=NOW + timedelta(hours=1), message_domain=DOMAIN)

    assert (early.started, early.queued) == ([], 0)
    assert (due.started, due.queued) == ([broadcast], 2)


def test_ab_sample_is_split_evenly_and_the_rest_gets_the_winner(database: Database) -> None:
    people = add_people(database, 40)
    broadcast = create(database, AB)
    start(database, broadcast)

    advance(database, now=NOW, message_domain=DOMAIN)
    sample = messages(database, broadcast)
    expected = {i for i in people if bucket_of(i) < 20}
    assert {m.contact_id for m in sample} == expected
    assert {m.contact_id: m.variant for m in sample} == {
        i: "AB"[bucket_of(i) % 2] for i in expected
    }
    assert show_broadcast_dict(database, broadcast)["phase"] == "waiting"

    with database.unit_of_work() as session:  # the sample went out; B's readers opened it
        session.execute(
            update(Message).where(Message.broadcast_id == broadcast).values(status="sent")
        )
        opened = [m for m in sample if m.variant == "B"][:2] + [
            m for m in sample if m.variant == "A"
        ][:1]
        rows = [
            {
                "kind": "open",
                "message_id": m.id,
                "contact_id": m.contact_id,
                "classification": "human",
                "occurred_at": NOW,
            }
            for m in opened
        ]
        rows.append(
            {
                "kind": "open",
                "message_id": sample[0].id,
                "contact_id": None,
                "classification": "machine",
                "occurred_at": NOW,
            }
        )
        session.execute(insert(TrackingEvent), rows)

    before = advance(database, now=NOW + timedelta(hours=3), message_domain=DOMAIN)
    after = advance(database, now=NOW + timedelta(hours=4), message_domain=DOMAIN)

    assert (before.decided, after.decided) == ({}, {broadcast: "B"})
    everyone = messages(database, broadcast)
    assert [m.contact_id for m in everyone] == people
    rest = Counter(m.variant for m in everyone if m.contact_id not in expected)
    assert rest == {"B": len(people) - len(expected)}
    view = show_broadcast_dict(database, broadcast)
    split = Counter(m.variant for m in sample)
    assert view["ab_result"]["variants"] == {
        "A": {"sent": split["A"], "opens": 1},
        "B": {"sent": split["B"], "opens": 2},
    }
    assert view["status"] == "sent"


def test_a_static_list_is_an_audience_and_an_unknown_one_is_refused(database: Database) -> None:
    listed, _ = add_people(database, 2, tag="other")
    with database.unit_of_work() as session:
        list_id = session.scalars(
            insert(ContactList)
            .values(key="seminar-2026", name="秋セミナー参加者", created_at=NOW)
            .returning(ContactList.id)
        ).one()
        session.execute(
            insert(ListMember),
            [{"list_id": list_id, "contact_id": listed, "added_at": NOW, "source": "csv"}],
        )
    broadcast = create(database, PLAIN.replace("{tag: vip}", "{list: seminar-2026}"))
    start(database, broadcast)

    advance(database, now=NOW, message_domain=DOMAIN)

    assert [m.contact_id for m in messages(database, broadcast)] == [listed]
    with pytest.raises(InvalidInput) as refused:
        create(database, PLAIN.replace("{tag: vip}", "{list: nothing}").replace("autumn_news", "x"))
    assert refused.value.problems[0].field == "audience.list"


def test_a_sparse_audience_is_walked_window_by_window(database: Database) -> None:
    # 3 members among 75 contacts: a batch of 2 looks at 20 contacts (its window) at a time.
    members = []
    for n in range(75):
        tag = "vip" if n in (3, 41, 74) else "other"
        contact = add_person(database, f"kokyaku{n:03d}@example.jp", tag=tag)
        if tag == "vip":
            members.append(contact)
    broadcast = create(database, PLAIN)
    start(database, broadcast)

    walked = []
    for _ in range(6):
        with database.unit_of_work() as session:
            result = walk_batch(session, broadcast, now=NOW, message_domain=DOMAIN, batch=2)
        walked.append((result.contacts, result.queued, result.phase_done))
        if result.phase_done:
            break

    # Windows of 20, 20, 20 and 15 contacts; then nobody is left and the walk ends.
    assert walked == [(20, 1, False), (20, 0, False), (20, 1, False), (15, 1, False), (0, 0, True)]
    assert [m.contact_id for m in messages(database, broadcast)] == members
    assert show_broadcast_dict(database, broadcast)["status"] == "sent"
