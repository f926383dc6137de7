"""The health page ``/admin/health``: the runtime report, sending rate and SMTP errors."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from admin.api.deps import SessionDep
from admin.ui.auth import Marketing
from admin.ui.pages import render
from engine.clock import utcnow
from engine.operations.health import RuntimeProbes, runtime_report
from engine.stats.live import sending_now
from engine.tracking.buffer import HitBuffer

router = APIRouter(prefix="/admin", include_in_schema=False)


@router.get("/health")
def health_page(request: Request, user: Marketing, session: SessionDep) -> HTMLResponse:
    """Backlog, queues, workers, leader, send rate and recent errors, with ok/degraded."""
    now = utcnow()
    probes: RuntimeProbes | None = getattr(request.app.state, "runtime_probes", None)
    report = runtime_report(session, now=now, probes=probes)
    return render(
        request,
        "admin_health.html",
        user=user,
        title_key="health",
        report=report.document(),
        checked_at=now,
        sending=sending_now(session, now=now),
        tracking_backlog=tracking_backlog(request),
        tracking_lag=tracking_lag(request),
    )


def tracking_backlog(request: Request) -> int | None:
    """Tracking hits received but not yet written (None when the buffer cannot say)."""
    buffer: HitBuffer | None = getattr(request.app.state, "tracking_buffer", None)
    if buffer is None:
        return None
    try:
        return buffer.depth()
    except Exception:  # a health page must answer, whatever Redis does
        return None


def tracking_lag(request: Request) -> float | None:
    """Seconds the oldest unwritten tracking hit has waited (None when it cannot be read)."""
    buffer: HitBuffer | None = getattr(request.app.state, "tracking_buffer", None)
    if buffer is None:
        return None
    try:
        return buffer.lag()
    except Exception:  # a health page must answer, whatever Redis does
        return None
