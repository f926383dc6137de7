"""Mount the admin UI on the app: its pages and the handlers that redirect or refuse."""

from __future__ import annotations

from fastapi import FastAPI

from admin.ui import (
    analytics,
    broadcasts,
    contacts,
    dashboard,
    health,
    journey_people,
    journeys,
    login,
    mail_templates,
    pages,
    sales,
    segments,
)


def mount_ui(app: FastAPI) -> None:
    """Add sign-in, the dashboard and the health page (the stylesheet is mounted with them)."""
    pages.install(app)
    for router in (login.router, dashboard.router, health.router):
        app.include_router(router)
    for router in (journeys.router, journey_people.router, contacts.router, sales.router):
        app.include_router(router)
    for router in (segments.router, mail_templates.router, broadcasts.router, analytics.router):
        app.include_router(router)
