"""The dramatiq broker of this process, and actors that bind to whichever broker is current.

dramatiq binds an actor to a broker when the actor is declared, at import. Nurture's
actors are declared with ``workers.broker.actor`` instead: the declaration is remembered,
bound to the broker that ``build_broker`` made, and bound again if ``build_broker`` is
called again (tests build a stub broker, then a Redis one, in the same process). So
``workers.actors`` may be imported before or after ``build_broker``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar
from urllib.parse import urlsplit

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Middleware,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from engine.errors import ConfigurationError
from engine.settings import Settings

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

#: Redis keys of the broker start with this (``nurture:operations``, ...).
DEFAULT_NAMESPACE = "nurture"
#: An actor running longer than this is interrupted (ms); actors may set ``time_limit``.
TIME_LIMIT_MS = 5 * 60 * 1000
#: Retries back off exponentially from MIN to MAX (ms), at most MAX_RETRIES times.
MIN_BACKOFF_MS = 5_000
MAX_BACKOFF_MS = 60 * 60 * 1000
MAX_RETRIES = 8

_lock = threading.Lock()
_current: dramatiq.Broker | None = None
_declared: dict[str, LazyActor[Any, Any]] = {}


class RequeuePrefetched(Middleware):
    """Hands back, as a consumer stops, the messages it fetched but never passed on.

    dramatiq's Redis consumer fetches up to its prefetch count at a time, which moves them
    to this worker's acknowledgement set. Those still in its cache when the worker stops are
    neither run nor requeued: they wait for the broker to declare the worker dead, and the
    enrollments for their leases to expire. Requeued here, the next worker takes them at once.
    """

    def before_consumer_thread_shutdown(self, broker: dramatiq.Broker, thread: Any) -> None:
        consumer = getattr(thread, "consumer", None)
        cache = getattr(consumer, "message_cache", None)
        if consumer is None or not cache:
            return  # not a Redis consumer, or nothing fetched and left
        consumer.message_cache = []
        try:
            consumer.requeue([dramatiq.Message.decode(data) for data in cache if data])
        except Exception:  # the broker's own recovery and the sweep still find them
            log.warning(
                "prefetched messages not handed back on %s", thread.queue_name, exc_info=True
            )


def standard_middleware() -> list[Middleware]:
    """Return the middleware every Nurture broker runs (no Prometheus: no extra port)."""
    return [
        RequeuePrefetched(),
        AgeLimit(),
        TimeLimit(time_limit=TIME_LIMIT_MS),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(max_retries=MAX_RETRIES, min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS),
        CurrentMessage(),
    ]


def build_broker(settings: Settings, *, namespace: str = DEFAULT_NAMESPACE) -> dramatiq.Broker:
    """Make the broker the settings name, set it as dramatiq's global one, and bind actors.

    ``NURTURE_BROKER_URL`` set: a RedisBroker (keys under ``namespace``); empty: the
    in-process StubBroker of embedded mode, which needs a ``dramatiq.Worker`` in this process.
    """
    global _current
    broker: dramatiq.Broker
    if settings.broker_url:
        broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=settings.broker_url, namespace=namespace, middleware=standard_middleware()
        )
    else:
        broker = StubBroker(middleware=standard_middleware())
    with _lock:
        dramatiq.set_broker(broker)
        _current = broker
        for lazy in _declared.values():
            lazy.bind(broker)
    return broker


def current_broker() -> dramatiq.Broker:
    """Return the broker ``build_broker`` made; raise ConfigurationError before that."""
    broker = _current
    if broker is None:
        raise ConfigurationError("no broker yet: call workers.broker.build_broker(settings) first")
    return broker


def describe_broker(settings: Settings) -> str:
    """Name the broker for logs and heartbeats, without its password."""
    if not settings.broker_url:
        return "in-process"
    parts = urlsplit(settings.broker_url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class LazyActor(Generic[P, R]):
    """An actor declaration that binds to the current broker, and rebinds when it changes."""

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        actor_name: str,
        queue_name: str,
        priority: int,
        options: dict[str, Any],
    ) -> None:
        self.fn = fn
        self.actor_name = actor_name
        self.queue_name = queue_name
        self.priority = priority
        self.options = options
        self._bound: dramatiq.Actor[P, R] | None = None

    def bind(self, broker: dramatiq.Broker) -> dramatiq.Actor[P, R]:
        """Declare this actor on ``broker`` (once per broker) and return it."""
        bound = self._bound
        if bound is not None and bound.broker is broker:
            return bound
        unknown = set(self.options) - broker.actor_options
        if unknown:
            raise ConfigurationError(
                f"actor {self.actor_name}: unknown options {', '.join(sorted(unknown))}"
            )
        self._bound = dramatiq.Actor(
            self.fn,
            broker=broker,
            actor_name=self.actor_name,
            queue_name=self.queue_name,
            priority=self.priority,
            options=self.options,
        )
        return self._bound

    @property
    def actor(self) -> dramatiq.Actor[P, R]:
        """The dramatiq actor on the current broker."""
        return self.bind(current_broker())

    def send(self, *args: P.args, **kwargs: P.kwargs) -> dramatiq.Message[R]:
        """Enqueue a message for this actor on the current broker."""
        return self.actor.send(*args, **kwargs)

    def send_with_options(
        self,
        *,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        delay: int | None = None,
        **options: Any,
    ) -> dramatiq.Message[R]:
        """Enqueue with processing options (``delay`` in ms, ``max_retries``, ...)."""
        return self.actor.send_with_options(args=args, kwargs=kwargs, delay=delay, **options)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the actor's function here and now (as dramatiq's actors do)."""
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"LazyActor({self.actor_name!r}, queue_name={self.queue_name!r})"


def actor(
    *, queue_name: str, actor_name: str | None = None, priority: int = 0, **options: Any
) -> Callable[[Callable[P, R]], LazyActor[P, R]]:
    """Declare an actor (like ``dramatiq.actor``) that follows the broker ``build_broker`` made."""

    def declare(fn: Callable[P, R]) -> LazyActor[P, R]:
        name = actor_name or fn.__name__
        lazy = LazyActor(
            fn, actor_name=name, queue_name=queue_name, priority=priority, options=options
        )
        with _lock:
            if name in _declared:
                raise ConfigurationError(f"an actor named {name!r} is already declared")
            _declared[name] = lazy
            if _current is not None:
                lazy.bind(_current)
        return lazy

    return declare


def declared_actors() -> dict[str, LazyActor[Any, Any]]:
    """Return every declared actor by name."""
    return dict(_declared)
