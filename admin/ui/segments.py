"""Segment pages: the list, one segment's definition, its live count and a sample of members."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/admin/segments", include_in_schema=False)
