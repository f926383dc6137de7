"""Health: ``GET /api/health`` for load balancers, ``GET /api/health/runtime`` for operators.

The first is cheap and needs no key (database reachable, schema current). The second reads
the runtime's figures (backlog, outbox, queues, workers, leader, recent failures) and says
``ok`` or ``degraded`` with reasons; the same report as ``nurture status --json``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from admin.api.deps import SessionDep, get_database, require
from engine.auth.apikeys import Principal
from engine.clock import utcnow
from engine.operations.health import RuntimeProbes, runtime_report
from engine.store.db import Database
from engine.store.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])

#: Operators' figures: keys with ``admin`` or ``marketer`` (not ``sales`` or ``ingest``).
Operator = Annotated[Principal, Depends(require("marketer"))]


@router.get("/api/health")
def health(database: Annotated[Database, Depends(get_database)]) -> JSONResponse:
    """200 with the schema revision when healthy, 503 naming what is wrong otherwise."""
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current, head = current_revision(database.engine), head_revision(database.engine)
    except Exception as error:  # health must answer, whatever broke
        return JSONResponse({"status": "error", "database": str(error)[:200]}, status_code=503)
    ok = current == head
    return JSONResponse(
        {
            "status": "ok" if ok else "error",
            "database": database.dialect,
            "migration": current,
            "expected_migration": head,
        },
        status_code=200 if ok else 503,
    )


@router.get("/api/health/runtime")
def runtime_health(request: Request, session: SessionDep, _: Operator) -> dict[str, Any]:
    """The runtime's figures and ``ok`` or ``degraded`` with reasons (200 either way).

    The process's broker and outbox consumers come from ``app.state.runtime_probes``, set by
    the command that built the app; without them queues are not reported.
    """
    probes: RuntimeProbes | None = getattr(request.app.state, "runtime_probes", None)
    return runtime_report(session, now=utcnow(), probes=probes).document()
