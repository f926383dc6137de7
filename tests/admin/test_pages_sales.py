"""The sales queue, the lead brief, and answering a handoff, through the ASGI app."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from engine.store.db import Database
from engine.store.models import Contact, Handoff
from tests.admin.conftest import csrf_of, sign_in
from tests.admin.pages_seed import Seeded, fast_passwords, seed

__all__ = ["fast_passwords"]


def _seeded(ui: TestClient, make_user: Callable[..., str], database: Database) -> Seeded:
    rep = make_user("rep@example.jp", "sales", family_name="鈴木", given_name="一郎")
    seeded = seed(database, rep=rep, other_rep=make_user("rep2@example.jp", "sales"))
    sign_in(ui, rep)
    return seeded


def test_a_rep_sees_only_their_own_leads(
    ui: TestClient, make_user: Callable[..., str], database: Database
) -> None:
    seeded = _seeded(ui, make_user, database)
    for url in ("/admin/sales", "/admin/sales?tab=team&status=all"):
        page = ui.get(url)
        assert page.status_code == 200
        assert re.findall(r'data-handoff="(\d+)"', page.text) == [str(seeded.mine)]
    assert 'id="tab-team"' not in page.text
    brief = ui.get(f"/admin/sales/{seeded.mine}")
    assert brief.status_code == 200
    assert '<h1 id="lead-name">山田 太郎</h1>' in brief.text
    assert "料金ページを閲覧" in brief.text and '<dd id="grade">A</dd>' in brief.text
    assert 'href="/admin/contacts/taro%40example.jp"' in brief.text
    assert ui.get(f"/admin/sales/{seeded.others}").status_code == 404
    token = csrf_of(brief.text)
    assert ui.post(f"/admin/sales/{seeded.others}/accept", data={"csrf": token}).status_code == 404
    with database.sessions() as session:
        other = session.get(Handoff, seeded.others)
        assert other is not None and other.status == "assigned"


def test_accept_moves_the_lead_to_sql(
    ui: TestClient, make_user: Callable[..., str], database: Database
) -> None:
    seeded = _seeded(ui, make_user, database)
    page = ui.get(f"/admin/sales/{seeded.mine}")
    assert ui.post(f"/admin/sales/{seeded.mine}/accept", data={"csrf": "x"}).status_code == 403
    done = ui.post(f"/admin/sales/{seeded.mine}/accept", data={"csrf": csrf_of(page.text)})
    assert done.status_code == 303
    with database.sessions() as session:
        handoff = session.get(Handoff, seeded.mine)
        assert handoff is not None and handoff.status == "accepted"
        assert handoff.responded_at is not None
        contact = session.get(Contact, handoff.contact_id)
        assert contact is not None and contact.lifecycle_stage == "sql"
    after = ui.get(f"/admin/sales/{seeded.mine}")
    assert 'id="accept"' not in after.text
    again = ui.post(f"/admin/sales/{seeded.mine}/accept", data={"csrf": csrf_of(page.text)})
    assert again.status_code == 409 and "すでに対応済み" in again.text


def test_reject_needs_a_reason_and_keeps_it(
    ui: TestClient, make_user: Callable[..., str], database: Database
) -> None:
    seeded = _seeded(ui, make_user, database)
    token = csrf_of(ui.get(f"/admin/sales/{seeded.mine}").text)
    empty = ui.post(f"/admin/sales/{seeded.mine}/reject", data={"csrf": token, "reason": " "})
    assert empty.status_code == 422 and 'id="error"' in empty.text
    done = ui.post(
        f"/admin/sales/{seeded.mine}/reject",
        data={"csrf": token, "reason": "予算が来期まで確保できない"},
    )
    assert done.status_code == 303
    page = ui.get(f"/admin/sales/{seeded.mine}")
    assert '<dd id="rejection">予算が来期まで確保できない</dd>' in page.text
    with database.sessions() as session:
        contact = session.get(Contact, seeded_contact_id(database, seeded.mine))
        assert contact is not None and contact.lifecycle_stage == "recycled"
    assert "data-handoff" not in ui.get("/admin/sales").text  # no longer open
    assert f'data-handoff="{seeded.mine}"' in ui.get("/admin/sales?status=rejected").text


def seeded_contact_id(database: Database, handoff_id: int) -> int:
    with database.sessions() as session:
        handoff = session.get(Handoff, handoff_id)
        assert handoff is not None
        return handoff.contact_id


def test_a_marketer_sees_the_team_queue(
    ui: TestClient, make_user: Callable[..., str], database: Database
) -> None:
    seeded = seed(
        database,
        rep=make_user("rep@example.jp", "sales"),
        other_rep=make_user("rep2@example.jp", "sales"),
    )
    sign_in(ui, make_user())
    assert "data-handoff" not in ui.get("/admin/sales").text  # none assigned to the marketer
    team = ui.get("/admin/sales?tab=team")
    assert sorted(re.findall(r'data-handoff="(\d+)"', team.text)) == sorted(
        [str(seeded.mine), str(seeded.others)]
    )
    assert ui.get(f"/admin/sales/{seeded.others}").status_code == 200
