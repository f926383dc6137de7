"""``webhook``: call an allowlisted HTTP endpoint (the worker makes the call)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from engine.journey.actions import CallWebhook, Decision
from engine.journey.base import Name
from engine.journey.diagnostics import Finding, Path
from engine.journey.durations import Duration
from engine.journey.steps.base import ActionStep, Exit, PlanContext, StepContext


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError(
            "E102", "expected an http(s) URL with a host, got '{url}'", {"url": value}
        )
    return value


HttpUrl = Annotated[
    str, AfterValidator(_http_url), WithJsonSchema({"type": "string", "format": "uri"})
]
Body = Annotated[Any, WithJsonSchema({"type": ["string", "object"]})]


class WebhookStep(ActionStep):
    """Call ``url``; ``on_failure`` is taken once ``on_error`` retries are spent."""

    type: Literal["webhook"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: HttpUrl
    headers: Mapping[str, str] | None = None
    body: Body = None
    timeout: Duration = timedelta(seconds=10)
    idempotency_key: str | None = None
    on_failure: Name | None = None

    @property
    def host(self) -> str:
        """Return the URL's host name."""
        return urlsplit(self.url).hostname or ""

    def exits(self) -> Iterator[Exit]:
        """Yield ``next``, ``on_error.then`` and ``on_failure``."""
        yield from super().exits()
        if self.on_failure is not None:
            yield Exit(("on_failure",), self.on_failure)

    def check(self, ctx: StepContext, path: Path) -> Iterator[Finding]:
        """Require the host to be on the allowlist."""
        if not ctx.catalog.host_allowed(self.host):
            yield Finding(
                "E206", (*path, "url"), f"webhook host '{self.host}' is not on the allowlist"
            )

    def plan(self, ctx: PlanContext) -> Decision:
        """Ask for the call; the worker retries per ``on_error`` and routes ``on_failure``."""
        action = CallWebhook(
            step=ctx.step_id,
            method=self.method,
            url=self.url,
            headers=dict(self.headers or {}),
            body=self.body,
            timeout=self.timeout,
            idempotency_key=ctx.idempotency_key,
            key_template=self.idempotency_key,
            on_failure=self.on_failure,
        )
        return self.advance(action, why=f"call {self.method} {self.host}", what="webhook")
