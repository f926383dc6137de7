"""The snippet's collection endpoint: site keys, origins, CORS, limits, privacy, storage."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select

from admin.app import create_app
from engine.clock import utcnow
from engine.store.db import Database
from engine.store.models import AnonymousIdentity, Contact, Event
from engine.tracking.buffer import MemoryBuffer
from engine.tracking.limits import RedisLimiter
from engine.tracking.sites import create_site
from tracking.app import LinkTargets, create_tracking_app
from tracking.collect import SiteDirectory
from workers.tracking import TrackingConsumer

ORIGIN = "https://www.example.jp"
ANON = "a1b2c3d4e5f6a7b8"


@pytest.fixture
def site_key(database: Database) -> str:
    with database.unit_of_work() as session:
        return create_site(
            session,
            name="コーポレートサイト",
            origins=["https://www.example.jp/", "https://shop.example.jp:443"],
            respect_dnt=True,
            now=utcnow(),
        ).site_key


@pytest.fixture
def app(settings, database):
    return create_app(settings, database)


def post(client: TestClient, body: object, origin: str | None = ORIGIN, **headers: str):
    if origin is not None:
        headers["Origin"] = origin
    return client.post(
        "/t/collect",
        content=json.dumps(body, ensure_ascii=False),
        headers={"Content-Type": "text/plain", **headers},
    )


def drain(app, database: Database) -> None:
    TrackingConsumer(database, app.state.tracking_buffer).step(wait=0)


def test_page_views_then_a_form_identify_merge_onto_the_contact(app, database, site_key):
    with TestClient(app) as client:
        pages = [
            {
                "kind": "page",
                "url": f"{ORIGIN}/pricing?utm_source=google&utm_medium=cpc",
                "title": "料金プラン",
                "referrer": "https://www.google.com/",
            },
            {"kind": "event", "name": "video_played", "properties": {"video": "製品紹介"}},
        ]
        answer = post(client, {"site_key": site_key, "anonymous_id": ANON, "hits": pages})
        assert answer.status_code == 204
        assert answer.headers["access-control-allow-origin"] == ORIGIN
        drain(app, database)
        form = {
            "kind": "form",
            "form": "資料請求",
            "email": "Hanako.Sato@Example.JP",
            "fields": {
                "氏名": "佐藤 花子",
                "email": "Hanako.Sato@Example.JP",
                "card_number": "4111",
            },
            "url": f"{ORIGIN}/contact",
        }
        assert (
            post(client, {"site_key": site_key, "anonymous_id": ANON, "hits": [form]}).status_code
            == 204
        )
        drain(app, database)
    with database.sessions() as session:
        contact = session.scalars(select(Contact)).one()
        assert contact.email == "hanako.sato@example.jp"
        events = session.scalars(select(Event).order_by(Event.occurred_at)).all()
        assert [e.type for e in events] == ["page_view", "video_played", "form_submitted"]
        assert {e.contact_id for e in events} == {contact.id}  # the anonymous history merged
        assert events[0].properties["path"] == "/pricing"
        assert events[0].properties["utm_source"] == "google"
        assert events[2].properties["fields"] == {
            "氏名": "佐藤 花子",
            "email": "Hanako.Sato@Example.JP",
        }
        identity = session.get(AnonymousIdentity, ANON)
        assert identity.contact_id == contact.id and identity.identified_at is not None


def test_an_identify_never_changes_a_stored_contact(app, database, site_key):
    with database.unit_of_work() as session:
        session.add(
            Contact(
                email="taro@example.jp",
                first_name="太郎",
                last_name="山田",
                attributes={},
                lifecycle_stage="lead",
                score=0,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
    hit = {"kind": "identify", "email": "taro@example.jp", "traits": {"first_name": "<script>"}}
    with TestClient(app) as client:
        assert (
            post(client, {"site_key": site_key, "anonymous_id": ANON, "hits": [hit]}).status_code
            == 204
        )
        drain(app, database)
    with database.sessions() as session:
        contact = session.scalars(select(Contact)).one()
        assert (contact.last_name, contact.first_name) == ("山田", "太郎")
        event = session.scalars(select(Event)).one()
        assert event.type == "identified" and event.properties["traits"] == {
            "first_name": "<script>"
        }


def test_unknown_keys_foreign_origins_and_bad_bodies_are_refused(app, site_key):
    page = [{"kind": "page", "url": f"{ORIGIN}/"}]
    with TestClient(app) as client:
        unknown = post(client, {"site_key": "sk_nope", "anonymous_id": ANON, "hits": page})
        foreign = post(
            client,
            {"site_key": site_key, "anonymous_id": ANON, "hits": page},
            origin="https://evil.example",
        )
        missing = post(
            client, {"site_key": site_key, "anonymous_id": ANON, "hits": page}, origin=None
        )
        bad = post(
            client, {"site_key": site_key, "anonymous_id": "x", "hits": [{"kind": "page"}] * 21}
        )
        garbage = client.post("/t/collect", content=b"{not json", headers={"Origin": ORIGIN})
        huge = client.post("/t/collect", content=b"x" * 40_000, headers={"Origin": ORIGIN})
        preflight_ok = client.options("/t/collect", headers={"Origin": "https://shop.example.jp"})
        preflight_no = client.options("/t/collect", headers={"Origin": "https://evil.example"})
        assert app.state.tracking_buffer.depth() == 0
    assert (unknown.status_code, foreign.status_code, missing.status_code) == (403, 403, 403)
    assert "access-control-allow-origin" not in foreign.headers
    assert bad.status_code == 400
    fields = {p["field"] for p in bad.json()["problems"]}
    assert {"anonymous_id", "hits"} <= fields
    assert garbage.status_code == 400 and huge.status_code == 413
    assert preflight_ok.status_code == 204
    assert preflight_ok.headers["access-control-allow-origin"] == "https://shop.example.jp"
    assert preflight_no.status_code == 403


def test_do_not_track_is_honoured_and_identify_is_rate_limited(app, site_key):
    page = {"site_key": site_key, "anonymous_id": ANON, "hits": [{"kind": "page", "url": ORIGIN}]}
    with TestClient(app) as client:
        assert post(client, page, DNT="1").status_code == 204
        assert post(client, page, **{"Sec-GPC": "1"}).status_code == 204
        assert app.state.tracking_buffer.depth() == 0
        statuses = []
        for n in range(12):
            hit = {"kind": "identify", "email": f"user{n}@example.jp"}
            statuses.append(
                post(
                    client, {"site_key": site_key, "anonymous_id": ANON, "hits": [hit]}
                ).status_code
            )
    assert statuses[:10] == [204] * 10 and statuses[10:] == [429, 429]


def test_the_snippet_is_served_small_cacheable_and_revalidated(app):
    with TestClient(app) as client:
        first = client.get("/t/nurture.js")
        again = client.get("/t/nurture.js", headers={"If-None-Match": first.headers["etag"]})
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/javascript")
    assert len(first.content) < 6_000 and b"sendBeacon" in first.content
    assert again.status_code == 304


def test_tracking_switched_off_accepts_and_drops(settings, database, site_key):
    app = create_app(settings.model_copy(update={"tracking_enabled": False}), database)
    page = {"site_key": site_key, "anonymous_id": ANON, "hits": [{"kind": "page", "url": ORIGIN}]}
    with TestClient(app) as client:
        assert post(client, page).status_code == 204
        assert app.state.tracking_buffer.depth() == 0


def test_limits_are_shared_by_every_process_serving_collect(database, site_key):
    """Two tracking apps (two processes' worth) count one identify limit in Redis."""
    redis_url = "redis://127.0.0.1:6379/0"
    client = redis.Redis.from_url(redis_url)
    try:
        client.ping()
    except redis.RedisError:
        pytest.fail("Redis is not reachable at 127.0.0.1:6379")
    finally:
        client.close()
    while time.time() % 60 > 55:  # all of it inside one minute's window
        time.sleep(0.5)
    apps = [
        create_tracking_app(
            keys=[b"k" * 32],
            buffer=MemoryBuffer(),
            links=LinkTargets(database),
            sites=SiteDirectory(database),
            limits_url=redis_url,
        )
        for _ in range(2)
    ]
    statuses = []
    with TestClient(apps[0]) as first, TestClient(apps[1]) as second:
        for n in range(12):
            hit = {"kind": "identify", "email": f"鈴木{n}@example.jp"}
            body = {"site_key": site_key, "anonymous_id": ANON, "hits": [hit]}
            answer = (first if n % 2 else second).post(
                "/collect",
                content=json.dumps(body, ensure_ascii=False),
                headers={"Content-Type": "text/plain", "Origin": ORIGIN},
            )
            statuses.append(answer.status_code)
    # Each process alone would allow 10; together they still allow 10.
    assert statuses[:10] == [204] * 10 and statuses[10:] == [429, 429]


def test_a_limiter_without_redis_counts_in_its_own_process():
    limiter = RedisLimiter("redis://127.0.0.1:1/0", "identify", limit=2)

    async def three() -> list[bool]:
        return [await limiter.allow("203.0.113.0|site") for _ in range(3)]

    assert asyncio.run(three()) == [True, True, False]
