"""Segment pages through real HTTP: counts equal to SQL, a sample, the editor's findings, saving."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from engine.clock import utcnow
from engine.segments.definitions import get_segment, sync_segments
from engine.segments.membership import reconcile
from engine.store.db import Database
from engine.store.models import Contact, SegmentMembership
from tests.admin.conftest import csrf_of, sign_in

VIP = """\
id: vip
name: 優良顧客
condition: {score: {gte: 50}}
"""

PEOPLE = [
    ("taro.yamada@example.jp", "山田", "太郎", 80),
    ("hanako.sato@example.jp", "佐藤", "花子", 20),
    ("ichiro.suzuki@example.jp", "鈴木", "一郎", 50),
    ("misaki.takahashi@example.jp", "高橋", "美咲", 65),
]


def _seed(database: Database, tmp_path: Path) -> None:
    folder = tmp_path / "segments"
    folder.mkdir()
    (folder / "vip.yaml").write_text(VIP, encoding="utf-8")
    now = utcnow()
    with database.unit_of_work() as session:
        for email, last, first, score in PEOPLE:
            session.add(
                Contact(
                    email=email,
                    last_name=last,
                    first_name=first,
                    locale="ja",
                    score=score,
                    attributes={},
                    created_at=now,
                    updated_at=now,
                )
            )
        sync_segments(session, folder, now=now)
    reconcile(database, now=now)


def _number(html: str, element: str) -> int:
    found = re.search(rf'id="{element}">([^<]*)<', html)
    assert found is not None, element
    return int(found.group(1).replace(",", ""))


def test_list_and_detail_show_sql_counts_and_a_sample(
    ui: TestClient, make_user: Callable[..., str], database: Database, tmp_path: Path
) -> None:
    _seed(database, tmp_path)
    sign_in(ui, make_user())
    listing = ui.get("/admin/segments")
    detail = ui.get("/admin/segments/vip")
    missing = ui.get("/admin/segments/nope")

    with database.sessions() as session:
        members = session.scalar(select(func.count()).where(SegmentMembership.segment_id == "vip"))
        matching = session.scalar(select(func.count()).where(Contact.score >= 50))
    assert listing.status_code == 200 and "優良顧客" in listing.text
    assert re.search(r"data-members>3<", listing.text)
    assert (members, matching) == (3, 3)
    assert _number(detail.text, "members") == members
    assert _number(detail.text, "matching-now") == matching
    sample = detail.text[detail.text.index('id="segment-sample"') :]
    assert sample.index("山田 太郎") < sample.index("鈴木 一郎") < sample.index("高橋 美咲")
    assert "佐藤 花子" not in sample
    assert 'href="/admin/contacts/taro.yamada%40example.jp"' in sample
    assert missing.status_code == 404


def test_editor_previews_names_findings_and_saves(
    ui: TestClient, make_user: Callable[..., str], database: Database, tmp_path: Path
) -> None:
    _seed(database, tmp_path)
    sign_in(ui, make_user())
    page = ui.get("/admin/segments/vip")
    csrf = csrf_of(page.text)
    wider = VIP.replace("gte: 50", "gte: 20")

    preview = ui.post(
        "/admin/segments/vip", data={"csrf": csrf, "source": wider, "action": "preview"}
    )
    broken = ui.post(
        "/admin/segments/vip",
        data={
            "csrf": csrf,
            "source": VIP.replace("score: {gte: 50}", "score: {gte: many}"),
            "action": "save",
        },
    )
    renamed = ui.post(
        "/admin/segments/vip",
        data={"csrf": csrf, "source": wider.replace("id: vip", "id: other"), "action": "save"},
    )
    with database.sessions() as session:
        assert get_segment(session, "vip").source == VIP  # nothing stored by any of them
    saved = ui.post("/admin/segments/vip", data={"csrf": csrf, "source": wider, "action": "save"})
    created = ui.post(
        "/admin/segments",
        data={
            "csrf": csrf,
            "source": VIP.replace("id: vip", "id: top").replace("50", "70"),
            "action": "save",
        },
    )

    assert _number(preview.text, "segment-matching") == 4
    assert _number(preview.text, "members") == 3  # stored members unchanged by a preview
    assert 'id="segment-findings"' in broken.text
    finding = re.search(r'<li class="finding error" data-line="(\d+)">', broken.text)
    assert finding is not None and finding.group(1) == "3"
    assert 'class="marked error"' in broken.text
    assert "must match the file name" in renamed.text
    assert saved.status_code == 303 and saved.headers["location"] == "/admin/segments/vip?saved=1"
    assert (
        created.status_code == 303 and created.headers["location"] == "/admin/segments/top?saved=1"
    )
    with database.sessions() as session:
        assert get_segment(session, "vip").source == wider
        assert get_segment(session, "top").name == "優良顧客"
    shown = ui.get("/admin/segments/top?saved=1")
    assert 'id="segment-saved"' in shown.text
    assert _number(shown.text, "matching-now") == 1


def test_sales_may_not_open_segment_pages(ui: TestClient, make_user: Callable[..., str]) -> None:
    sign_in(ui, make_user("rep@example.jp", "sales"))
    assert ui.get("/admin/segments").status_code == 403
