"""A click from an email into a site with the snippet tells the site who arrived."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import select

from admin.app import create_app
from engine.clock import utcnow
from engine.store.db import Database
from engine.store.models import AnonymousIdentity, Event
from engine.tracking.sites import create_site
from engine.tracking.tokens import read_visit_token, visit_token
from tests.tracking.test_mail_tracking import mail_settings, sent, smtp, tracked_paths
from workers.tracking import TrackingConsumer

__all__ = ["mail_settings", "sent", "smtp"]  # fixtures used here

SITE = "https://nurture.example.jp"  # where the seminar mail's button points
ANON = "f00dfacef00dface"


def post(client: TestClient, site_key: str, hits: list[dict]) -> int:
    body = json.dumps({"site_key": site_key, "anonymous_id": ANON, "hits": hits})
    return client.post("/t/collect", content=body, headers={"Origin": SITE}).status_code


def test_a_click_into_a_registered_site_merges_the_visitor_with_the_mail_recipient(
    database: Database, mail_settings, sent
):
    contact_id, _, html, _ = sent
    with database.unit_of_work() as session:
        key = create_site(
            session, name="製品サイト", origins=[SITE], respect_dnt=False, now=utcnow()
        ).site_key
    keys = mail_settings.signing_keys()
    app = create_app(mail_settings, database)
    consumer = TrackingConsumer(database, app.state.tracking_buffer)
    with TestClient(app) as client:
        answer = client.get(tracked_paths(html)[1], follow_redirects=False)
        location = answer.headers["location"]
        assert location.startswith(SITE)
        token = parse_qs(urlsplit(location).query)["nurture_c"][0]
        uid = read_visit_token(token, keys)
        assert uid is not None
        # The visitor browsed anonymously, then the snippet reports the token it arrived with.
        assert post(client, key, [{"kind": "page", "url": f"{SITE}/seminars/materials"}]) == 204
        consumer.step(wait=0)
        assert post(client, key, [{"kind": "identify", "token": token}]) == 204
        forged = visit_token(uid, [b"not-our-key" * 4])
        assert post(client, key, [{"kind": "identify", "token": forged}]) == 204
        consumer.step(wait=0)
    with database.sessions() as session:
        identity = session.get(AnonymousIdentity, ANON)
        assert identity is not None and identity.contact_id == contact_id
        events = session.scalars(select(Event).where(Event.anonymous_id == ANON)).all()
        assert {e.contact_id for e in events} == {contact_id}
        assert sorted(e.type for e in events) == ["identified", "page_view"]  # forged: dropped


def test_a_click_to_a_site_without_the_snippet_carries_no_token(database, mail_settings, sent):
    _, _, html, _ = sent
    app = create_app(mail_settings, database)
    with TestClient(app) as client:
        location = client.get(tracked_paths(html)[1], follow_redirects=False).headers["location"]
    assert "nurture_c" not in location
    assert re.match(r"https://nurture\.example\.jp/", location)
