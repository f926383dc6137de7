""" "Why didn't this contact get the email?" on the contact page, through real HTTP."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from engine.clock import utcnow
from engine.deploy import service
from engine.store.db import Database
from engine.store.models import Contact, Enrollment, Message, Subscription, Suppression
from tests.admin.conftest import sign_in

JOURNEY = """\
dsl: journey/v1
id: seminar-thanks
name: セミナー御礼
version: 1
triggers:
  - event: seminar_attended
start: wait_1d
steps:
  wait_1d: {type: wait, duration: 1d, next: thanks}
  thanks:
    type: send_email
    template: seminar-thanks
    subject: ご参加ありがとうございました
    from: {email: seminar@example.jp, name: セミナー事務局}
    topic: seminar
    next: done
  done: {type: exit, reason: finished}
"""

#: email, family name, given name, the case it sets up, expected code, words in the reason.
CASES = (
    ("yamada@example.jp", "山田", "太郎", "sent", "sent", "sent at"),
    ("sato@example.jp", "佐藤", "花子", "suppressed", "suppressed", "hard_bounce"),
    ("suzuki@example.jp", "鈴木", "一郎", "unsubscribed", "unsubscribed", "seminar"),
    ("takahashi@example.jp", "高橋", "美咲", "waiting", "waiting", "wait_1d"),
    ("tanaka@example.jp", "田中", "健", "never", "never_enrolled", "seminar-thanks"),
    ("ito@example.jp", "伊藤", "直子", "goal", "exited", "goal:registered"),
)


def _seed(database: Database) -> None:
    now = utcnow().replace(microsecond=0)
    with database.unit_of_work() as session:
        plan = service.plan_deploy(session, [("seminar-thanks.yaml", JOURNEY)])
        assert plan.ok, plan.errors
        service.apply_deploy(session, plan, now=now, published_by="test")
        for email, family, given, case, _, _ in CASES:
            contact = Contact(
                email=email,
                first_name=given,
                last_name=family,
                attributes={},
                created_at=now,
                updated_at=now,
            )
            session.add(contact)
            session.flush()
            session.add(
                Subscription(
                    contact_id=contact.id,
                    topic="seminar",
                    subscribed=case != "unsubscribed",
                    changed_at=now,
                    source="form",
                )
            )
            if case == "never":
                continue
            exited = case in ("sent", "goal", "suppressed", "unsubscribed")
            session.add(
                Enrollment(
                    journey_id="seminar-thanks",
                    version=1,
                    contact_id=contact.id,
                    status="exited" if exited else "waiting",
                    step="wait_1d" if case in ("waiting", "goal") else "done",
                    wake_at=None if exited else now + timedelta(hours=5),
                    entry={},
                    state={},
                    entered_at=now,
                    updated_at=now,
                    exited_at=now if exited else None,
                    exit_reason="goal:registered" if case == "goal" else None,
                )
            )
            if case == "sent":
                session.add(
                    Message(
                        uid="u1",
                        message_id="<u1@example.jp>",
                        idempotency_key="seminar-sent",
                        contact_id=contact.id,
                        journey_id="seminar-thanks",
                        step_id="thanks",
                        template="seminar-thanks",
                        status="sent",
                        attempts=1,
                        queued_at=now,
                        sent_at=now,
                    )
                )
            if case == "suppressed":
                session.add(
                    Suppression(
                        email=email,
                        scope="*",
                        reason="hard_bounce",
                        source="bounce",
                        created_at=now,
                    )
                )


@pytest.mark.parametrize(("email", "family", "given", "case", "code", "words"), CASES)
def test_explanation_names_the_first_reason(
    ui: TestClient,
    make_user: Callable[..., str],
    database: Database,
    email: str,
    family: str,
    given: str,
    case: str,
    code: str,
    words: str,
) -> None:
    _seed(database)
    sign_in(ui, make_user())
    page = ui.get(f"/admin/contacts/{email}", params={"template": "seminar-thanks"})
    assert page.status_code == 200
    assert family in page.text
    found = re.search(r'id="why" data-code="([^"]+)">(.*?)</p>', page.text)
    assert found is not None, case
    assert found.group(1) == code
    assert words in found.group(2)


def test_no_question_no_answer(
    ui: TestClient, make_user: Callable[..., str], database: Database
) -> None:
    _seed(database)
    sign_in(ui, make_user())
    page = ui.get("/admin/contacts/yamada@example.jp")
    assert page.status_code == 200
    assert 'id="why"' not in page.text


def test_the_api_gives_the_same_answers(
    ui: TestClient, key_for: Callable[..., dict[str, str]], database: Database
) -> None:
    _seed(database)
    headers = key_for("marketer")
    for email, _, _, case, code, words in CASES:
        answer = ui.get(
            f"/api/contacts/{email}/why", params={"template": "seminar-thanks"}, headers=headers
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["template"], body["code"]) == ("seminar-thanks", code), case
        assert words in body["reason"], case
    sent = ui.get(
        "/api/contacts/yamada@example.jp/why",
        params={"template": "seminar-thanks"},
        headers=headers,
    ).json()
    assert len(sent["evidence"]) == 1 and "sent" in sent["evidence"][0]
    unknown = ui.get(
        "/api/contacts/nobody@example.jp/why", params={"template": "x"}, headers=headers
    )
    no_template = ui.get("/api/contacts/yamada@example.jp/why", headers=headers)
    assert unknown.status_code == 404
    assert no_template.status_code == 422
