"""Analytics pages: RFM classes, score deciles and conversions, charted."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/admin/analytics", include_in_schema=False)
