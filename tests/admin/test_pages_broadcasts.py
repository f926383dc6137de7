"""Broadcast pages through real HTTP: figures equal to SQL counts, cancel, roles."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from engine.clock import utcnow
from engine.store.db import Database
from engine.store.models import Broadcast, Contact, Message
from tests.admin.conftest import csrf_of, sign_in

#: (family name, given name, variant, status) of each seeded message.
RECIPIENTS = (
    ("山田", "太郎", "A", "sent"),
    ("佐藤", "花子", "B", "sent"),
    ("鈴木", "一郎", "A", "bounced"),
    ("高橋", "美咲", "B", "suppressed"),
    ("田中", "健", "A", "queued"),
)


def _seed(database: Database) -> None:
    now = utcnow().replace(microsecond=0)
    with database.unit_of_work() as session:
        session.add(
            Broadcast(
                id="spring-sale",
                name="春のセール案内",
                template="spring",
                subject="春のセールのお知らせ",
                topic="news",
                tag="顧客",
                ab={"sample": 20, "metric": "opens", "variants": [{"name": "A"}, {"name": "B"}]},
                status="sending",
                send_at=now - timedelta(hours=2),
                phase="rest",
                cursor=4242,
                winner="B",
                ab_result={
                    "winner": "B",
                    "metric": "opens",
                    "decided_at": "2026-04-01T10:00:00+00:00",
                    "variants": {"A": {"sent": 1, "opens": 0}, "B": {"sent": 1, "opens": 1}},
                },
                created_at=now,
                updated_at=now,
            )
        )
        for i, (family, given, variant, status) in enumerate(RECIPIENTS):
            contact = Contact(
                email=f"user{i}@example.jp",
                first_name=given,
                last_name=family,
                attributes={},
                created_at=now,
                updated_at=now,
            )
            session.add(contact)
            session.flush()
            session.add(
                Message(
                    uid=f"uid{i}",
                    message_id=f"<uid{i}@example.jp>",
                    idempotency_key=f"broadcast:spring-sale:{contact.id}",
                    contact_id=contact.id,
                    to_address=contact.email,
                    broadcast_id="spring-sale",
                    template="spring",
                    variant=variant,
                    topic="news",
                    status=status,
                    attempts=0,
                    queued_at=now,
                )
            )


def _count(database: Database, **where: str) -> int:
    with database.sessions() as session:
        query = select(func.count()).select_from(Message)
        for column, value in where.items():
            query = query.where(getattr(Message, column) == value)
        return int(session.scalar(query) or 0)


def _cell(html: str, status: str, within: str = "") -> str:
    start = html.index(within) if within else 0
    found = re.search(rf'data-status="{status}">([^<]*)<', html[start:])
    assert found is not None, status
    return found.group(1).replace(",", "")


def test_list_and_detail_show_the_sql_counts(
    ui: TestClient, make_user: Callable[..., str], database: Database
) -> None:
    _seed(database)
    sign_in(ui, make_user())
    listing = ui.get("/admin/broadcasts")
    assert listing.status_code == 200
    assert "春のセール案内" in listing.text
    assert _cell(listing.text, "total") == str(_count(database, broadcast_id="spring-sale"))
    for status in ("sent", "bounced", "suppressed", "queued"):
        assert _cell(listing.text, status) == str(_count(database, status=status)), status

    detail = ui.get("/admin/broadcasts/spring-sale")
    assert detail.status_code == 200
    assert 'id="checkpoint">4242<' in detail.text
    assert 'id="winner">B<' in detail.text
    assert "2026-04-01T10:00:00+00:00" in detail.text
    for variant in ("A", "B"):
        row = f'data-variant="{variant}"'
        assert _cell(detail.text, "sent", row) == str(
            _count(database, variant=variant, status="sent")
        )


def test_cancel_skips_queued_messages(
    ui: TestClient, make_user: Callable[..., str], database: Database
) -> None:
    _seed(database)
    sign_in(ui, make_user())
    page = ui.get("/admin/broadcasts/spring-sale")
    refused = ui.post("/admin/broadcasts/spring-sale/cancel", data={"csrf": "forged-token"})
    assert refused.status_code in (400, 403)
    assert _count(database, status="queued") == 1

    done = ui.post("/admin/broadcasts/spring-sale/cancel", data={"csrf": csrf_of(page.text)})
    assert done.status_code == 303
    assert _count(database, status="queued") == 0
    assert _count(database, status="skipped") == 1
    with database.sessions() as session:
        assert session.get(Broadcast, "spring-sale").status == "cancelled"  # type: ignore[union-attr]
    after = ui.get(done.headers["location"])
    assert 'id="cancelled"' in after.text
    assert 'id="cancel"' not in after.text


def test_sales_is_refused(
    ui: TestClient, make_user: Callable[..., str], database: Database
) -> None:
    _seed(database)
    sign_in(ui, make_user("ichiro@example.jp", role="sales", family_name="鈴木", given_name="一郎"))
    for path in ("/admin/broadcasts", "/admin/broadcasts/spring-sale"):
        response = ui.get(path)
        assert response.status_code == 403, path
        assert "春のセール案内" not in response.text
    page = ui.post("/admin/broadcasts/spring-sale/cancel", data={"csrf": "x"})
    assert page.status_code == 403
    assert _count(database, status="queued") == 1


def test_unknown_broadcast_is_404(ui: TestClient, make_user: Callable[..., str]) -> None:
    sign_in(ui, make_user())
    assert ui.get("/admin/broadcasts/存在しない").status_code == 404
