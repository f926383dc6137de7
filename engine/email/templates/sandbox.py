"""The Jinja2 sandbox templates render in: no internals, no mutation, and a budget.

``ImmutableSandboxedEnvironment`` refuses ``__class__`` and friends and any method that
changes a value; on top of that each render has a budget of time, steps (every tag run,
every call) and output size, so a template bomb fails its one message quickly instead of
holding a worker. Undefined values raise (StrictUndefined): a typo in a field name fails
the message with the template's file and line rather than mailing a blank.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.filters import do_replace
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.email.templates.errors import TemplateError, TemplateLimitExceeded
from engine.email.templates.filters import format_date, format_money
from engine.email.templates.source import Origin

#: The longest string or list an operator may build, and the largest power.
MAX_SEQUENCE = 100_000
MAX_POWER_BITS = 100_000
_WIDE = re.compile(r"\d{5,}")
_PADDING = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_SAFE_FILTERS = (
    "abs",
    "attr",
    "batch",
    "capitalize",
    "count",
    "d",
    "default",
    "dictsort",
    "e",
    "escape",
    "first",
    "float",
    "forceescape",
    "groupby",
    "int",
    "items",
    "join",
    "last",
    "length",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "reject",
    "rejectattr",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "string",
    "striptags",
    "sum",
    "title",
    "tojson",
    "trim",
    "truncate",
    "unique",
    "upper",
    "urlencode",
    "wordcount",
    "xmlattr",
)


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """How much one render may take: wall time (s), steps, and output characters."""

    seconds: float = 2.0
    steps: int = 200_000
    output_chars: int = 2_000_000


class _Exhausted(Exception):
    """A render ran out of budget."""


class _Budget:
    """One render's budget, and the tag it is at (for error locations)."""

    __slots__ = ("at_index", "deadline", "limits", "steps")

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.seconds
        self.steps = limits.steps
        self.at_index: int | None = None

    def at(self, index: int) -> str:
        """The marker before every tag: remember where we are and spend a step."""
        self.at_index = index
        self.tick()
        return ""

    def tick(self) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise _Exhausted(f"stopped after {self.limits.steps:,} steps (a loop too large?)")
        if time.monotonic() > self.deadline:
            raise _Exhausted(f"stopped after {self.limits.seconds:g} s (a loop too large?)")


_budget: ContextVar[_Budget | None] = ContextVar("nurture_template_budget", default=None)


def _spend() -> None:
    budget = _budget.get()
    if budget is not None:
        budget.tick()


class EmailSandbox(ImmutableSandboxedEnvironment):
    """The sandbox with sizes checked on the operators and calls that can blow up."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        """Refuse ``'x' * 10**9``, ``9 ** 9 ** 9`` and ``'%99999999s' % x`` before computing."""
        _spend()
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if (
                    isinstance(sequence, str | list | tuple)
                    and isinstance(times, int)
                    and len(sequence) * times > MAX_SEQUENCE
                ):
                    raise ValueError(f"a repeated value over {MAX_SEQUENCE:,} items")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 0 and max(left.bit_length(), 1) * right > MAX_POWER_BITS:
                raise ValueError("a power too large")
        elif operator == "%" and isinstance(left, str) and _WIDE.search(left):
            raise ValueError("a format width too large")
        elif (
            operator == "+"
            and isinstance(left, str | list | tuple)
            and isinstance(right, str | list | tuple)
            and len(left) + len(right) > 10 * MAX_SEQUENCE
        ):
            raise ValueError("a value too large")
        return super().call_binop(context, operator, left, right)

    def call(self, context: jinja2.runtime.Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Spend a step per call, and refuse padding and format widths too wide."""
        if getattr(obj, "__func__", None) is _Budget.at:  # the tag marker, ours: spends itself
            return obj(*args)
        _spend()
        name = getattr(obj, "__name__", "")
        if isinstance(getattr(obj, "__self__", None), str):
            if name in _PADDING and any(isinstance(a, int) and a > MAX_SEQUENCE for a in args):
                raise ValueError(f"str.{name} wider than {MAX_SEQUENCE:,}")
            if name == "replace" and args and args[0] == "":
                raise ValueError("replace of the empty string")
            if name in {"format", "format_map"} and _WIDE.search(obj.__self__):
                raise ValueError("a format width too large")
        return super().call(context, obj, *args, **kwargs)


def _date(context: jinja2.runtime.Context, value: Any, style: str = "long") -> str:
    contact = context.get("contact")
    zone = contact.get("timezone") if isinstance(contact, Mapping) else None
    return format_date(value, style, locale=context.get("locale"), timezone=zone)


def _money(context: jinja2.runtime.Context, value: Any, currency: str | None = None) -> str:
    return format_money(value, currency, locale=context.get("locale"))


@jinja2.pass_eval_context
def _replace(
    eval_ctx: jinja2.nodes.EvalContext, value: str, old: str, new: str, count: int | None = None
) -> str:
    if old == "":  # "ab" | replace("", "x" * 1000) grows with every character
        raise ValueError("replace of the empty string")
    return do_replace(eval_ctx, value, old, new, count)


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_SEQUENCE:
        raise ValueError(f"range over {MAX_SEQUENCE:,} numbers")
    return numbers


def make_environment(*, html: bool) -> EmailSandbox:
    """Build the sandbox; ``html`` escapes output (bodies), plain text does not (subjects)."""
    environment = EmailSandbox(
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    builtin = environment.filters
    environment.filters = {name: builtin[name] for name in _SAFE_FILTERS}
    environment.filters["replace"] = _replace
    environment.filters["date"] = jinja2.pass_context(_date)
    environment.filters["money"] = jinja2.pass_context(_money)
    # No namespace() (state across loop iterations), lipsum or cycler: only what mail needs.
    environment.globals = {"range": _bounded_range, "dict": dict}
    return environment


HTML = make_environment(html=True)
TEXT = make_environment(html=False)


@dataclass(frozen=True, slots=True)
class Renderable:
    """A compiled Jinja2 template whose markers map back to the files its tags came from."""

    template: jinja2.Template
    origins: tuple[Origin, ...]
    where: str
    line: int | None = None


def compile_renderable(
    environment: EmailSandbox, source: str, origins: list[Origin], where: str, line: int | None
) -> Renderable:
    """Compile instrumented source; raise TemplateError at the tag nearest a syntax error."""
    try:
        template = environment.from_string(source)
    except jinja2.TemplateSyntaxError as error:
        origin = _origin_before(source, error.lineno, origins)
        if origin is None:
            raise TemplateError(where, line, error.message or "syntax error") from None
        raise TemplateError(origin.where, origin.line, error.message or "syntax error") from None
    return Renderable(template, tuple(origins), where, line)


def _origin_before(source: str, lineno: int, origins: list[Origin]) -> Origin | None:
    upto = "\n".join(source.splitlines()[:lineno])
    found = re.findall(r"\{\{ _at\((\d+)\) \}\}", upto)
    return origins[int(found[-1])] if found else None


def render(renderable: Renderable, context: Mapping[str, Any], limits: RenderLimits) -> str:
    """Render within ``limits``; raise TemplateError naming the file and line of the bad tag."""
    budget = _Budget(limits)
    token = _budget.set(budget)
    try:
        pieces: list[str] = []
        size = 0
        for piece in renderable.template.generate({**context, "_at": budget.at}):
            size += len(piece)
            if size > limits.output_chars:
                raise _Exhausted(f"output over {limits.output_chars:,} characters")
            pieces.append(piece)
        return "".join(pieces)
    except _Exhausted as error:
        where, line, tag = _place(renderable, budget)
        raise TemplateLimitExceeded(where, line, f"{tag}{error}") from None
    except jinja2.UndefinedError as error:
        where, line, tag = _place(renderable, budget)
        hint = " (write | default('…') for a value that may be missing)"
        raise TemplateError(where, line, f"{tag}{error.message}{hint}") from None
    except SecurityError as error:
        where, line, tag = _place(renderable, budget)
        raise TemplateError(where, line, f"{tag}not allowed: {error}") from None
    except (
        jinja2.TemplateError,
        ArithmeticError,
        LookupError,
        RecursionError,
        TypeError,
        ValueError,
    ) as error:
        where, line, tag = _place(renderable, budget)
        raise TemplateError(where, line, f"{tag}{error}") from None
    finally:
        _budget.reset(token)


def _place(renderable: Renderable, budget: _Budget) -> tuple[str, int | None, str]:
    if budget.at_index is None:
        return renderable.where, renderable.line, ""
    origin = renderable.origins[budget.at_index]
    tag = " ".join(origin.tag.split())
    return origin.where, origin.line, f"{tag[:80]}: "
