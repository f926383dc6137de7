"""``GET /api/health``: is this process able to serve (database reachable, schema current)?"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text

from admin.api.deps import get_database
from engine.store.db import Database
from engine.store.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


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
