"""Template pages through real HTTP: the list, a preview for a contact, a test send over SMTP."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from admin.app import create_app
from engine.clock import utcnow
from engine.contacts.service import ContactRow, upsert_contacts
from engine.settings import Settings
from engine.store.db import Database
from tests.admin.conftest import csrf_of, sign_in
from tests.engine.email.smtp_server import Script, SmtpServer

POSTAL = "〒150-0002 東京都渋谷区渋谷2-1-1"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    # The first test send is refused, the others accepted.
    with SmtpServer(Script(rcpt=["550 5.1.1 <gone@example.jp>: no such user"])) as server:
        yield server


@pytest.fixture
def ui(settings: Settings, database: Database, smtp: SmtpServer) -> Iterator[TestClient]:
    mailing = settings.model_copy(update={"smtp_url": smtp.url, "postal_address": POSTAL})
    with TestClient(create_app(mailing, database), follow_redirects=False) as client:
        yield client


def _seed(database: Database) -> None:
    with database.unit_of_work() as session:
        upsert_contacts(
            session,
            [
                ContactRow(
                    email="taro.yamada@example.jp",
                    first_name="太郎",
                    last_name="山田<b>",
                    locale="ja",
                )
            ],
            now=utcnow(),
            reason="test",
        )


def test_list_shows_every_template_with_its_subject(
    ui: TestClient, make_user: Callable[..., str]
) -> None:
    sign_in(ui, make_user())
    page = ui.get("/admin/templates")
    assert page.status_code == 200
    assert page.text.count('<tr data-name="') == 23
    assert 'data-name="seminar-thanks-ja"' in page.text
    assert (
        "{{ contact.last_name }} 様、本日はセミナーへのご参加ありがとうございました"
        in html.unescape(page.text)
    )


def test_preview_renders_for_the_contact_and_frames_the_html_apart(
    ui: TestClient, make_user: Callable[..., str], database: Database
) -> None:
    _seed(database)
    sign_in(ui, make_user())
    empty = ui.get("/admin/templates/seminar-thanks-ja")
    page = ui.get(
        "/admin/templates/seminar-thanks-ja", params={"contact": "Taro.Yamada@example.jp"}
    )
    frame = ui.get(
        "/admin/templates/seminar-thanks-ja/frame", params={"contact": "taro.yamada@example.jp"}
    )
    unknown = ui.get("/admin/templates/seminar-thanks-ja", params={"contact": "nobody@example.jp"})
    missing = ui.get("/admin/templates/no-such-template")

    assert 'id="preview-hint"' in empty.text and 'id="preview-frame"' not in empty.text
    assert page.status_code == 200
    subject = re.search(r'id="preview-subject">([^<]*)<', page.text)
    assert subject is not None
    assert (
        html.unescape(subject.group(1))
        == "山田<b> 様、本日はセミナーへのご参加ありがとうございました"
    )
    assert "山田&lt;b&gt; 太郎 様" in page.text  # the text part, escaped
    assert POSTAL in page.text
    assert "frame-src 'self'" in page.headers["content-security-policy"]
    assert frame.status_code == 200
    policy = frame.headers["content-security-policy"]
    assert policy.startswith("sandbox ") and "script-src" not in policy
    assert "frame-ancestors 'self'" in policy and frame.headers["x-frame-options"] == "SAMEORIGIN"
    assert "山田&lt;b&gt; 太郎 様" in frame.text  # the template escaped the name
    assert "/t/c/" not in frame.text and "/t/o/" not in frame.text
    assert "no contact &#39;nobody@example.jp&#39;" in unknown.text
    assert missing.status_code == 404


def test_test_send_reports_refusals_and_mails_the_tester(
    ui: TestClient, make_user: Callable[..., str], database: Database, smtp: SmtpServer
) -> None:
    _seed(database)
    sign_in(ui, make_user())
    page = ui.get(
        "/admin/templates/seminar-thanks-ja", params={"contact": "taro.yamada@example.jp"}
    )
    assert 'value="hanako@example.jp"' in page.text  # the tester's own address by default
    form = {"csrf": csrf_of(page.text), "contact": "taro.yamada@example.jp"}

    refused = ui.post(
        "/admin/templates/seminar-thanks-ja/test-send", data=form | {"to": "gone@example.jp"}
    )
    sent = ui.post(
        "/admin/templates/seminar-thanks-ja/test-send", data=form | {"to": "hanako@example.jp"}
    )
    forged = ui.post(
        "/admin/templates/seminar-thanks-ja/test-send",
        data=form | {"to": "hanako@example.jp", "csrf": "forged"},
    )

    assert 'id="test-failed"' in refused.text and "550 5.1.1" in refused.text
    assert 'id="test-sent"' in sent.text and "hanako@example.jp" in sent.text
    assert forged.status_code == 403
    (mail,) = smtp.received
    assert mail.rcpt_tos == ["hanako@example.jp"]
    assert (
        mail.message["Subject"]
        == "[TEST] 山田<b> 様、本日はセミナーへのご参加ありがとうございました"
    )


def test_sales_may_not_open_template_pages(ui: TestClient, make_user: Callable[..., str]) -> None:
    sign_in(ui, make_user("rep@example.jp", "sales"))
    assert ui.get("/admin/templates").status_code == 403
    assert (
        ui.get("/admin/templates/seminar-thanks-ja/frame?contact=x@example.jp").status_code == 403
    )
