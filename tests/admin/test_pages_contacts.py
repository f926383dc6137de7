"""Contact search and the 360° timeline page through the ASGI app."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from admin.ui.contacts import details
from engine.store.db import Database
from tests.admin.conftest import csrf_of, sign_in
from tests.admin.pages_seed import fast_passwords, seed

__all__ = ["fast_passwords"]


def test_details_flatten_one_level_and_skip_empty_values() -> None:
    assert details({"a": None, "b": {"x": 1, "y": [1, "二"]}, "c": [], "d": "値"}) == [
        ("b.x", "1"),
        ("b.y", '[1, "二"]'),
        ("d", "値"),
    ]


def test_search_by_japanese_name_and_email(
    ui: TestClient, make_user: Callable[..., str], database: Database
) -> None:
    sign_in(ui, make_user())
    seed(
        database, rep=make_user("rep@example.jp", "sales"), other_rep=make_user("r2@x.jp", "sales")
    )
    by_name = ui.get("/admin/contacts", params={"q": "山田"})
    assert by_name.status_code == 200
    assert 'data-email="taro@example.jp"' in by_name.text
    assert "hanako@example.jp" not in by_name.text
    assert "山田 太郎" in by_name.text  # family name first
    by_email = ui.get("/admin/contacts", params={"q": "HANAKO@"})
    assert 'data-email="hanako@example.jp"' in by_email.text
    assert "taro@example.jp" not in by_email.text
    assert "該当するコンタクトはありません" in ui.get("/admin/contacts?q=nobody").text


def test_search_pages_by_keyset_cursor(
    ui: TestClient, make_user: Callable[..., str], database: Database, monkeypatch: object
) -> None:
    import admin.ui.contacts as page

    sign_in(ui, make_user())
    seed(
        database, rep=make_user("rep@example.jp", "sales"), other_rep=make_user("r2@x.jp", "sales")
    )
    monkeypatch.setattr(page, "PAGE_SIZE", 1)  # type: ignore[attr-defined]
    first = ui.get("/admin/contacts")
    assert first.text.count("data-email=") == 1 and "taro@example.jp" in first.text
    found = re.search(r'id="next-page" href="([^"]+)"', first.text)
    assert found is not None
    second = ui.get(found.group(1).replace("&amp;", "&"))
    assert "hanako@example.jp" in second.text and 'data-email="taro' not in second.text
    assert ui.get("/admin/contacts?cursor=garbage").status_code == 200  # back to page one


def test_profile_and_timeline_newest_first_in_the_viewers_zone(
    ui: TestClient, make_user: Callable[..., str], database: Database
) -> None:
    sign_in(ui, make_user())
    seed(
        database, rep=make_user("rep@example.jp", "sales"), other_rep=make_user("r2@x.jp", "sales")
    )
    page = ui.get("/admin/contacts/taro@example.jp")
    assert page.status_code == 200
    html = page.text
    assert '<h1 id="contact-name">山田 太郎</h1>' in html
    assert '<dd id="score">72</dd>' in html and '<dd id="grade">A</dd>' in html
    assert "株式会社ノースウィンド" in html and "seminar" in html
    assert "unsubscribed" in html and "newsletter" in html  # suppression shown
    kinds = re.findall(r'data-kind="(\w+)"', html)
    assert kinds == ["handoff", "stage", "score", "tracking", "event", "journey_entered"]
    assert "ジャーニー開始" in html  # the kind's label
    journeys = re.findall(r'<tr data-status="(\w+)" data-journey="([\w-]+)">', html)
    assert journeys == [("waiting", "seminar-ja")]
    assert "セミナー後フォロー" in html and "<code>wait_1d</code>" in html
    assert "料金ページを閲覧" in html
    assert "Asia/Tokyo" in html
    stamps = re.findall(r'<time datetime="([^"]+)">([^<]+)</time>', html)
    assert stamps and stamps[0][0].endswith("+00:00")
    assert "UTC" not in stamps[0][1]


def test_an_ended_journey_shows_its_reason_in_the_table_and_the_timeline_in_english(
    ui: TestClient, make_user: Callable[..., str], database: Database
) -> None:
    sign_in(ui, make_user())
    seed(
        database, rep=make_user("rep@example.jp", "sales"), other_rep=make_user("r2@x.jp", "sales")
    )
    page = ui.get("/admin/contacts/hanako@example.jp")
    ui.post("/admin/language", data={"language": "en", "csrf": csrf_of(page.text)})
    html = ui.get("/admin/contacts/hanako@example.jp").text
    assert 'lang="en"' in html
    journeys = re.findall(r'<tr data-status="(\w+)" data-journey="([\w-]+)">', html)
    assert journeys == [("exited", "seminar-ja")]
    assert "ended" in html and "reason: finished" in html
    kinds = re.findall(r'data-kind="(\w+)"', html)
    assert kinds == ["handoff", "journey_exited", "journey_entered"]
    assert "Journey left" in html and "left journey セミナー後フォロー : finished" in html


def test_timeline_pages_older_and_survives_a_bad_cursor(
    ui: TestClient, make_user: Callable[..., str], database: Database, monkeypatch: object
) -> None:
    import admin.ui.contacts as page

    sign_in(ui, make_user())
    seed(
        database, rep=make_user("rep@example.jp", "sales"), other_rep=make_user("r2@x.jp", "sales")
    )
    monkeypatch.setattr(page, "TIMELINE_PAGE", 2)  # type: ignore[attr-defined]
    first = ui.get("/admin/contacts/taro@example.jp")
    assert re.findall(r'data-kind="(\w+)"', first.text) == ["handoff", "stage"]
    older = re.search(r'id="older" href="([^"]+)"', first.text)
    assert older is not None
    second = ui.get(older.group(1))
    assert re.findall(r'data-kind="(\w+)"', second.text) == ["score", "tracking"]
    bad = ui.get("/admin/contacts/taro@example.jp?before=nonsense")
    assert bad.status_code == 200 and 'role="alert"' in bad.text


def test_sales_sees_only_their_contacts(
    ui: TestClient, make_user: Callable[..., str], database: Database
) -> None:
    rep = make_user("rep@example.jp", "sales")
    seed(database, rep=rep, other_rep=make_user("r2@x.jp", "sales"))
    sign_in(ui, rep)
    listing = ui.get("/admin/contacts")
    assert "taro@example.jp" in listing.text and "hanako@example.jp" not in listing.text
    assert ui.get("/admin/contacts/taro@example.jp").status_code == 200
    assert ui.get("/admin/contacts/hanako@example.jp").status_code == 404
    assert ui.get("/admin/contacts/nobody@example.jp").status_code == 404


def test_a_marketer_removes_the_contact_from_a_journey_and_sales_may_not(
    ui: TestClient, make_user: Callable[..., str], database: Database
) -> None:
    rep, marketer = make_user("rep@example.jp", "sales"), make_user()
    seed(database, rep=rep, other_rep=make_user("r2@x.jp", "sales"))
    sign_in(ui, marketer)
    page = ui.get("/admin/contacts/taro@example.jp").text
    found = re.search(r'action="(/admin/contacts/taro@example.jp/enrollments/\d+/exit)"', page)
    assert found is not None
    remove = found.group(1)

    ui.cookies.clear()
    sign_in(ui, rep)
    as_sales = ui.get("/admin/contacts/taro@example.jp").text
    assert "セミナー後フォロー" in as_sales and "ジャーニーから外す" not in as_sales
    assert ui.post(remove, data={"csrf": csrf_of(as_sales)}).status_code == 403

    ui.cookies.clear()
    sign_in(ui, marketer)
    page = ui.get("/admin/contacts/taro@example.jp").text
    assert 'data-status="waiting"' in page  # the rep's attempt changed nothing
    assert ui.post(remove, data={"csrf": "forged"}).status_code == 403
    done = ui.post(remove, data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/admin/contacts/taro@example.jp?notice=removed"
    after = ui.get(done.headers["location"]).text
    assert 'id="notice"' in after and "ジャーニーから外しました。" in after
    assert re.findall(r'<tr data-status="(\w+)" data-journey="([\w-]+)">', after) == [
        ("exited", "seminar-ja")
    ]
    assert "終了理由: removed" in after and "ジャーニーから外す" not in after
    assert re.findall(r'data-kind="(\w+)"', after)[:2] == ["journey_exited", "handoff"]
    again = ui.post(remove, data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert again.headers["location"].endswith("?notice=gone")
    # Taro's enrollment under Hanako's address is not found.
    elsewhere = remove.replace("taro@example.jp", "hanako@example.jp")
    assert ui.post(elsewhere, data={"csrf": csrf_of(page)}).status_code == 404
