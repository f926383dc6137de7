"""The HTTP application: API, admin pages and tracking, assembled on one ASGI app."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from admin.api import analytics as analytics_api
from admin.api import bounces as bounces_api
from admin.api import broadcasts as broadcasts_api
from admin.api import contacts, errors, events, health, journeys, segments
from admin.api import handoffs as handoffs_api
from admin.api import notifications as notifications_api
from admin.api import sites as sites_api
from admin.api import stats as stats_api
from admin.api import templates as templates_api
from admin.api import webhooks as webhooks_api
from admin.metrics import router as metrics_router
from admin.ui.routes import mount_ui
from engine.runtime.journeys import CompiledJourneys
from engine.settings import Settings
from engine.store.db import Database
from engine.tracking.buffer import buffer_for
from engine.tracking.limits import shared_limits_url
from tracking import preferences, unsubscribe
from tracking.app import LinkTargets, create_tracking_app
from tracking.collect import SiteDirectory


def create_app(settings: Settings, database: Database) -> FastAPI:
    """Build the app around an open database; the caller owns both lifetimes."""
    app = FastAPI(
        title="Nurture",
        version=version("nurture"),
        summary="Marketing automation: contacts, events, journeys, mail, tracking, scoring.",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.journeys = CompiledJourneys()
    errors.install(app)
    for router in (contacts.router, events.router, health.router, journeys.router, segments.router):
        app.include_router(router)
    app.include_router(webhooks_api.router)
    app.include_router(notifications_api.router)
    app.include_router(handoffs_api.router)
    app.include_router(sites_api.router)
    app.include_router(stats_api.router)
    app.include_router(analytics_api.router)
    app.include_router(broadcasts_api.router)
    app.include_router(bounces_api.router)
    app.include_router(templates_api.router)
    app.include_router(metrics_router)  # loopback, or an admin/marketer key
    mount_ui(app)  # the admin UI: /admin/login, /admin/, /admin/health
    app.include_router(unsubscribe.router)  # public: one-click unsubscribe (RFC 8058)
    app.include_router(preferences.router)  # public: the preference center
    # Public: the open pixel and click redirects, plain Starlette in front of every open.
    app.state.tracking_buffer = buffer_for(settings.resolved_redis_url, embedded=settings.embedded)
    app.mount(
        "/t",
        create_tracking_app(
            keys=settings.signing_keys(),
            buffer=app.state.tracking_buffer,
            links=LinkTargets(database),
            sites=SiteDirectory(database),
            ip_mode=settings.tracking_ip,
            enabled=settings.tracking_enabled,
            limits_url=shared_limits_url(settings.resolved_redis_url, embedded=settings.embedded),
        ),
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                events.event_schema_components()
            )
            schema["components"]["securitySchemes"] = {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "nk_... API key"}
            }
            schema["security"] = [{"apiKey": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
