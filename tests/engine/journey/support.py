"""Shared test data: a catalog that knows everything the examples and fixtures refer to."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from engine.journey import Catalog

ROOT = Path(__file__).resolve().parents[3]
JOURNEYS = ROOT / "journeys"
INVALID = ROOT / "tests" / "fixtures" / "invalid"
NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)

CATALOG = Catalog(
    templates=frozenset(
        {
            "welcome",
            "reminder",
            "nurture-welcome",
            "case-study-fintech",
            "nurture-welcome-reminder",
            "cart-reminder",
            "cart-discount-10",
            "cart-bestsellers",
            "renewal-30d",
            "renewal-7d",
            "renewal-1d",
            "internal-renewal-at-risk",
            "seminar-thanks-ja",
            "optin-confirm",
            "optin-reminder",
            "welcome-1",
            "welcome-2",
            "welcome-3",
            "winback-discount",
            "winback-whats-new",
            "winback-last-chance",
            "review-request",
            "review-reminder",
            "seminar-materials-ja",
            "seminar-consult-offer-ja",
        }
    ),
    segments=frozenset({"trial_users", "customers"}),
    topics=frozenset({"marketing_email", "newsletter", "seminar_followup"}),
    pools=frozenset({"ae-emea", "csm-team", "inside-sales-jp"}),
    webhook_hosts=frozenset({"hooks.acme.io", "*.crm.example"}),
    attributes={
        "email": "string",
        "first_name": "string",
        "last_name": "string",
        "company": "string",
        "title": "string",
        "role": "string",
        "lifecycle_stage": "string",
        "timezone": "string",
        "signup_date": "date",
        "interests": "list",
        "subscription.id": "string",
        "subscription.end_date": "date",
        "subscription.auto_renew": "boolean",
        "account": "object",
    },
)
