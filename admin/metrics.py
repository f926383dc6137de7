"""``GET /metrics`` in Prometheus text format: the runtime report and delivery counters.

Each scrape reads the same report as ``/api/health/runtime`` and the delivery rollups; no
state is kept between scrapes, so every ``nurture api`` process answers the same. Clients on
loopback need nothing; anyone else sends an ``admin`` or ``marketer`` API key as a bearer
token (Prometheus ``authorization: {credentials: nk_...}``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from admin.api.deps import get_database, get_principal
from admin.ui.health import tracking_backlog, tracking_lag
from engine.clock import utcnow
from engine.errors import PermissionDenied
from engine.operations.health import RuntimeProbes, runtime_report
from engine.stats.live import SendingNow, sending_now
from engine.stats.report import bring_up_to_date
from engine.store.db import Database
from engine.store.models import DeliveryRollup

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one scrape reports."""

    runtime: dict[str, Any]
    sending: SendingNow
    delivery: dict[str, int]
    tracking_backlog: int | None = None
    tracking_lag: float | None = None


class SnapshotCollector(Collector):
    """Turn a snapshot into Prometheus metric families."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """Yield every family (gauges for levels, counters for totals)."""
        report = self.snapshot.runtime
        yield _gauge(
            "nurture_up", "1 when the runtime is ok, 0 when degraded", report["status"] == "ok"
        )
        yield _gauge(
            "nurture_enrollments_live", "Enrollments in progress", report["enrollments"]["live"]
        )
        yield _gauge("nurture_enrollments_due", "Enrollments due now", report["enrollments"]["due"])
        yield _gauge(
            "nurture_enrollments_oldest_due_seconds",
            "How late the oldest due enrollment is",
            report["enrollments"]["oldest_due_age_s"] or 0,
        )
        yield _gauge(
            "nurture_outbox_pending", "Outbox rows not yet relayed", report["outbox"]["pending"]
        )
        yield _gauge(
            "nurture_outbox_oldest_pending_seconds",
            "Age of the oldest pending outbox row of a consumed topic",
            report["outbox"]["oldest_pending_age_s"] or 0,
        )
        queues = GaugeMetricFamily(
            "nurture_queue_depth", "Messages waiting per broker queue", labels=["queue"]
        )
        for name, depth in (report["broker"]["queues"] or {}).items():
            queues.add_metric([name], depth)
        yield queues
        yield _gauge(
            "nurture_broker_reachable", "1 when the broker answers", report["broker"]["reachable"]
        )
        yield _gauge(
            "nurture_workers_alive", "Workers with a recent heartbeat", report["workers"]["alive"]
        )
        yield _gauge(
            "nurture_scheduler_leader",
            "1 when a scheduler leads",
            report["scheduler"]["leader"] is not None,
        )
        errors = report["errors"]
        yield _gauge(
            "nurture_messages_failed_60m",
            "Messages that failed in the last hour",
            errors["messages_failed_60m"],
        )
        yield _gauge(
            "nurture_webhooks_dead", "Webhook deliveries given up", errors["webhooks_dead"]
        )
        sending = self.snapshot.sending
        yield _gauge("nurture_sent_5m", "Messages sent in the last 5 minutes", sending.sent_5m)
        yield _gauge("nurture_sent_60m", "Messages sent in the last 60 minutes", sending.sent_60m)
        codes = GaugeMetricFamily(
            "nurture_smtp_errors_60m",
            "Non-2xx SMTP replies to messages queued in the last hour, by code",
            labels=["code"],
        )
        for code, count in sorted(sending.smtp_errors_60m.items()):
            codes.add_metric([code], count)
        yield codes
        if self.snapshot.tracking_backlog is not None:
            yield _gauge(
                "nurture_tracking_backlog",
                "Tracking hits received but not yet written",
                self.snapshot.tracking_backlog,
            )
        if self.snapshot.tracking_lag is not None:
            yield _gauge(
                "nurture_tracking_ingest_lag_seconds",
                "Age of the oldest tracking hit not yet written",
                self.snapshot.tracking_lag,
            )
        delivery = CounterMetricFamily(
            "nurture_delivery",
            "Delivery events counted by the rollups, by metric",
            labels=["metric"],
        )
        for metric, count in sorted(self.snapshot.delivery.items()):
            delivery.add_metric([metric], count)
        yield delivery


def _gauge(name: str, documentation: str, value: float | bool) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


def _loopback(request: Request) -> bool:
    try:
        return request.client is not None and ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:  # a name, not an address: not provably loopback
        return False


def _allowed(request: Request, database: Annotated[Database, Depends(get_database)]) -> None:
    if _loopback(request):
        return
    principal = get_principal(request, database)
    if not principal.allows("marketer"):
        raise PermissionDenied(
            "this API key lacks the scope for /metrics (needs admin or marketer)"
        )


def snapshot(
    database: Database,
    probes: RuntimeProbes | None,
    tracking_backlog: int | None = None,
    tracking_lag: float | None = None,
) -> Snapshot:
    """Read the runtime report, the send rate and the delivery totals."""
    now = utcnow()
    with database.unit_of_work() as session:
        bring_up_to_date(session, now=now)
    with database.sessions() as session:
        runtime = runtime_report(session, now=now, probes=probes).document()
        delivery = {
            metric: int(count or 0)
            for metric, count in session.execute(
                select(DeliveryRollup.metric, func.sum(DeliveryRollup.count))
                .where(DeliveryRollup.dimension == "total")
                .group_by(DeliveryRollup.metric)
            )
        }
        return Snapshot(
            runtime=runtime,
            sending=sending_now(session, now=now),
            delivery=delivery,
            tracking_backlog=tracking_backlog,
            tracking_lag=tracking_lag,
        )


@router.get("/metrics", dependencies=[Depends(_allowed)])
def metrics(request: Request, database: Annotated[Database, Depends(get_database)]) -> Response:
    """Prometheus exposition of the runtime and delivery figures."""
    registry = CollectorRegistry(auto_describe=False)
    probes: RuntimeProbes | None = getattr(request.app.state, "runtime_probes", None)
    backlog = tracking_backlog(request)
    lag = tracking_lag(request)
    registry.register(SnapshotCollector(snapshot(database, probes, backlog, lag)))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
