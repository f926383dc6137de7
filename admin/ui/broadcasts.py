"""Broadcast pages: the list with status and progress, one broadcast with its A/B variants."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/admin/broadcasts", include_in_schema=False)
