"""The preference center over real HTTP: a GET shows topics and changes nothing; a POST saves."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser
from sqlalchemy import select

from admin.app import create_app
from engine.contacts.service import ContactRow
from engine.email.unsubscribe import sign_token
from engine.settings import Settings
from engine.store.db import Database
from engine.store.models import ConsentRecord, Subscription, Suppression
from tests.api.test_unsubscribe import YAMADA, mailed
from tests.browser import browser
from tests.servers import free_port, serve_app

__all__ = ["browser"]  # fixtures used here

TOPICS = """\
seminar_followup: {ja: セミナーのご案内, en: Seminar follow-ups}
newsletter: {ja: ニュースレター, en: Newsletter}
marketing_email: {ja: キャンペーン情報, en: Offers}
"""
ANON = ContactRow(email="dareka@example.jp", last_name="誰か")


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    journeys = tmp_path / "journeys"
    journeys.mkdir()
    (journeys / "topics.yaml").write_text(TOPICS, encoding="utf-8")
    return settings.model_copy(update={"journeys_dir": journeys})


def state(database: Database) -> tuple[dict[str, bool], list[tuple[str, bool, str]], list[str]]:
    with database.sessions() as session:
        subscribed = dict(
            session.execute(select(Subscription.topic, Subscription.subscribed)).all()
        )
        history = session.execute(
            select(ConsentRecord.topic, ConsentRecord.granted, ConsentRecord.source).order_by(
                ConsentRecord.id
            )
        ).all()
        scopes = sorted(session.scalars(select(Suppression.scope)))
    return subscribed, [tuple(h) for h in history], scopes


def test_a_get_lists_topics_in_japanese_and_changes_nothing(
    client: TestClient, database: Database, settings: Settings
) -> None:
    token = sign_token(mailed(database, YAMADA, topic="seminar_followup"), settings.signing_keys())
    before = state(database)

    page = client.get(f"/u/{token}").text

    assert state(database) == before
    assert '<input type="checkbox" name="topic" value="newsletter" checked> ニュースレター' in page
    assert 'value="marketing_email"> キャンペーン情報' in page  # offered, not subscribed
    assert "すべてのメール配信を停止する" in page
    assert f'action="/u/{token}/preferences"' in page


def test_a_post_saves_each_choice_with_its_history(
    client: TestClient, database: Database, settings: Settings
) -> None:
    token = sign_token(mailed(database, YAMADA, topic="seminar_followup"), settings.signing_keys())
    url = f"/u/{token}/preferences"

    only_news = client.post(url, data={"topic": ["newsletter", "marketing_email"]})
    after_first = state(database)
    back = client.post(url, data={"topic": ["newsletter", "seminar_followup"]})
    after_second = state(database)
    stop = client.post(url, data={"topic": ["newsletter"], "stop_all": "1"})

    assert only_news.status_code == 200 and "配信設定を保存しました。" in only_news.text
    assert after_first[0] == {
        "seminar_followup": False,
        "newsletter": True,
        "marketing_email": True,
    }
    assert after_first[1][2:] == [
        ("marketing_email", True, "preference-center"),
        ("seminar_followup", False, "preference-center"),
    ]
    assert after_first[2] == ["seminar_followup"]
    assert back.status_code == 200
    assert after_second[0]["seminar_followup"] is True and after_second[2] == ["marketing_email"]
    assert "すべてのメール配信を停止しました。" in stop.text
    subscribed, _, scopes = state(database)
    assert not any(subscribed.values())
    assert "*" in scopes


def test_english_by_accept_language_and_bad_links(
    client: TestClient, database: Database, settings: Settings
) -> None:
    token = sign_token(mailed(database, ANON, topic=None), settings.signing_keys())

    page = client.get(f"/u/{token}", headers={"Accept-Language": "en-US,en;q=0.9"})
    forged = client.post(f"/u/{token[:-2]}xx/preferences", data={"topic": "newsletter"})

    assert "Seminar follow-ups" in page.text and "Stop all emails" in page.text
    assert forged.status_code == 404


def test_a_person_saves_their_topics_in_chromium(
    browser: Browser, database: Database, settings: Settings
) -> None:
    token = sign_token(mailed(database, YAMADA, topic="seminar_followup"), settings.signing_keys())
    with serve_app(create_app(settings, database), free_port()) as base:
        context = browser.new_context(locale="ja-JP")
        page = context.new_page()
        page.goto(f"{base}/u/{token}")
        page.get_by_label("セミナーのご案内").uncheck()
        page.get_by_label("キャンペーン情報").check()
        page.get_by_role("button", name="設定を保存").click()
        page.get_by_text("配信設定を保存しました。").wait_for()
        assert page.get_by_label("キャンペーン情報").is_checked()
        context.close()

    subscribed, _, scopes = state(database)
    assert subscribed == {"seminar_followup": False, "newsletter": True, "marketing_email": True}
    assert scopes == ["seminar_followup"]
