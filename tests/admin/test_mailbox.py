"""The landing page and captured-mail pages, through the real ASGI app."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from admin.app import create_app
from admin.mailbox import mount_embedded
from admin.ui.i18n import pick_language
from engine.auth.apikeys import create_api_key
from engine.clock import utcnow
from engine.email.capture import CapturedSummary, store_message
from engine.settings import Settings
from engine.store.db import Database
from engine.store.migrate import upgrade
from tests.conftest import TEST_SECRET

SUBJECT = "【ご案内】山田 太郎 様、セミナーのお知らせ <script>alert('subject')</script>"
HTML_PART = '<p onclick="steal()">山田 様</p><script>alert("html")</script><img src="https://t.example/open.gif">'


def make_settings(tmp_path: Path, **values: str) -> Settings:
    base: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'nurture.db'}",
        "broker_url": "",
        "smtp_url": "",
        "secret_key": TEST_SECRET,
    }
    return Settings(var_dir=tmp_path / "var", _env_file=None, **{**base, **values})


@pytest.fixture(scope="module")
def schema_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied per test (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("schema") / "nurture.db"
    engine = create_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def embedded(tmp_path: Path, schema_path: Path) -> Iterator[tuple[Settings, Database]]:
    (tmp_path / "nurture.db").write_bytes(schema_path.read_bytes())
    settings = make_settings(tmp_path)
    database = Database(settings.resolved_database_url)
    yield settings, database
    database.dispose()


@pytest.fixture
def client(embedded: tuple[Settings, Database]) -> Iterator[TestClient]:
    settings, database = embedded
    app = create_app(settings, database)
    mount_embedded(app, settings)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def captured(embedded: tuple[Settings, Database]) -> CapturedSummary:
    message = EmailMessage()
    message["Subject"] = SUBJECT
    message["From"] = "ナーチャー <info@example.jp>"
    message["To"] = "山田 太郎 <taro@example.jp>"
    message.set_content("山田 太郎 様\n<b>テキスト</b>")
    message.add_alternative(HTML_PART, subtype="html")
    return store_message(
        embedded[0].var_dir,
        message.as_bytes(),
        envelope_from="info@example.jp",
        envelope_to=["taro@example.jp"],
    )


class Tags(HTMLParser):
    """Collect every start tag with its attributes."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def test_the_list_shows_japanese_and_escapes_the_subject(
    client: TestClient, captured: CapturedSummary
) -> None:
    response = client.get("/admin/mailbox")
    page = response.text

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "【ご案内】山田 太郎 様、セミナーのお知らせ" in page
    assert "ナーチャー &lt;info@example.jp&gt;" in page
    assert "&lt;script&gt;alert(&#39;subject&#39;)&lt;/script&gt;" in page
    assert "<script" not in page
    assert f'href="/admin/mailbox/{captured.id}"' in page
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_a_message_page_sandboxes_the_html_part(
    client: TestClient, captured: CapturedSummary
) -> None:
    response = client.get(f"/admin/mailbox/{captured.id}")
    page = response.text
    (frame,) = Tags(page).all("iframe")
    csp = response.headers["content-security-policy"]

    assert response.status_code == 200
    assert "<script" not in page  # neither the subject's nor the HTML part's, unescaped
    assert frame["sandbox"] is not None
    assert "allow-scripts" not in (frame["sandbox"] or "")
    assert "allow-same-origin" not in (frame["sandbox"] or "")
    assert frame["srcdoc"] is not None and HTML_PART in frame["srcdoc"]  # intact once unescaped
    assert frame["srcdoc"].startswith('<base target="_blank">')
    assert "&lt;b&gt;テキスト&lt;/b&gt;" in page  # the text part, escaped
    assert "default-src 'none'" in csp
    assert "script-src" not in csp  # so scripts fall back to 'none'
    assert "img-src data:" in csp  # no remote images: viewing must not fire the open pixel
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_raw_message_downloads_as_received(
    client: TestClient, captured: CapturedSummary, embedded: tuple[Settings, Database]
) -> None:
    response = client.get(f"/admin/mailbox/{captured.id}.eml")
    stored = (embedded[0].var_dir / "mailbox" / f"{captured.id}.eml").read_bytes()

    assert response.status_code == 200
    assert response.content == stored
    assert response.headers["content-type"] == "message/rfc822"
    assert "attachment" in response.headers["content-disposition"]


@pytest.mark.parametrize("message_id", ["nope", "20261123T100000000000-00000000"])
def test_unknown_messages_are_404_pages(client: TestClient, message_id: str) -> None:
    page = client.get(f"/admin/mailbox/{message_id}")
    raw = client.get(f"/admin/mailbox/{message_id}.eml")

    assert page.status_code == raw.status_code == 404
    assert "<h1>" in page.text


@pytest.mark.parametrize(
    "path", ["/admin/mailbox/..%2Fsecret_key", "/admin/mailbox/..%2F..%2Fnurture.db"]
)
def test_paths_outside_the_mailbox_are_not_served(
    client: TestClient, embedded: tuple[Settings, Database], path: str
) -> None:
    (embedded[0].var_dir / "secret_key.eml").parent.mkdir(parents=True, exist_ok=True)
    (embedded[0].var_dir / "secret_key.eml").write_text("TOP-SECRET")

    for suffix in ("", ".eml"):
        response = client.get(path + suffix)
        assert response.status_code == 404
        assert "TOP-SECRET" not in response.text


def test_the_json_list_needs_an_api_key(
    client: TestClient, captured: CapturedSummary, embedded: tuple[Settings, Database]
) -> None:
    with embedded[1].unit_of_work() as session:
        key = create_api_key(session, name="script", scopes=["marketer"], now=utcnow())

    anonymous = client.get("/api/mailbox")
    listed = client.get("/api/mailbox", headers={"Authorization": f"Bearer {key}"})

    assert anonymous.status_code == 401
    assert listed.status_code == 200
    (item,) = listed.json()
    assert item["subject"] == SUBJECT
    assert item["from"] == "ナーチャー <info@example.jp>"
    assert item["envelope_to"] == ["taro@example.jp"]
    assert item["html_url"] == f"/admin/mailbox/{captured.id}"
    assert "/api/mailbox" in client.get("/openapi.json").json()["paths"]


def test_the_landing_page_is_japanese_first(client: TestClient) -> None:
    default = client.get("/")
    english = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9,ja;q=0.5"})
    links = {a["href"] for a in Tags(default.text).all("a")}

    assert '<html lang="ja">' in default.text
    assert "Nurture へようこそ" in default.text
    assert default.headers["content-language"] == "ja"
    assert '<html lang="en">' in english.text
    assert "Welcome to Nurture" in english.text
    assert {"/docs", "/api/health", "/admin/mailbox"} <= links
    assert "http" not in " ".join(str(link) for link in links)  # no external CDN or site
    assert client.get("/admin/static/nurture.css").status_code == 200


def test_production_has_the_landing_page_but_no_mailbox(tmp_path: Path, schema_path: Path) -> None:
    (tmp_path / "nurture.db").write_bytes(schema_path.read_bytes())
    settings = make_settings(tmp_path, broker_url="redis://127.0.0.1:6379/0")
    database = Database(settings.resolved_database_url)
    app = create_app(settings, database)
    mount_embedded(app, settings)
    with TestClient(app) as client:
        landing = client.get("/")
        mailbox = client.get("/admin/mailbox")
        api = client.get("/api/mailbox")
    database.dispose()

    assert not settings.embedded
    assert landing.status_code == 200
    assert "/admin/mailbox" not in landing.text
    assert mailbox.status_code == 404
    assert api.status_code == 404


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "ja"),
        ("", "ja"),
        ("ja", "ja"),
        ("en", "en"),
        ("en-GB", "en"),
        ("ja,en;q=0.8", "ja"),
        ("en;q=0.8,ja;q=0.8", "ja"),
        ("en;q=0.9,ja;q=0.5", "en"),
        ("fr,de;q=0.9", "ja"),
        ("en;q=0", "ja"),
        ("en;q=abc", "ja"),
    ],
)
def test_pick_language(header: str | None, language: str) -> None:
    assert pick_language(header) == language
