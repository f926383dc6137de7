"""Template pages: the list, a preview rendered for a chosen contact, and a test send."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/admin/templates", include_in_schema=False)
