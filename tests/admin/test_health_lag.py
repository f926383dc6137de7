"""The health page and /metrics show how far tracking ingestion lags behind."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient

from admin.app import create_app
from engine.clock import utcnow
from engine.settings import Settings
from engine.store.db import Database
from tests.admin.conftest import sign_in


def test_ingest_lag_is_shown_and_scraped(
    settings: Settings,
    database: Database,
    make_user: Callable[..., str],
    key_for: Callable[..., dict[str, str]],
) -> None:
    app = create_app(settings, database)
    waiting = {
        "id": "lag-1",
        "kind": "open",
        "uid": "u1",
        "at": (utcnow() - timedelta(seconds=90)).isoformat(),
    }
    asyncio.run(app.state.tracking_buffer.push(waiting))  # nobody consumes in this test
    with TestClient(app, follow_redirects=False) as ui:
        sign_in(ui, make_user(locale="ja"))
        page = ui.get("/admin/health")
        assert page.status_code == 200
        assert "トラッキング取り込みの遅れ" in page.text
        shown = page.text.split('id="tracking-lag">', 1)[1].split("</dd>", 1)[0]
        assert shown.endswith("秒") and 90 <= float(shown.split()[0]) < 120
        scraped = ui.get("/metrics", headers=key_for("marketer"))
        line = next(
            row
            for row in scraped.text.splitlines()
            if row.startswith("nurture_tracking_ingest_lag_seconds ")
        )
        assert 90 <= float(line.split()[1]) < 120
