"""``evolve``: a changed copy of a frozen, slotted dataclass, at half of ``replace``'s cost.

The planner copies an enrollment's state and a contact's view at every step, since the
core never mutates them. ``dataclasses.replace`` walks the fields' metadata on each call
and then runs ``__init__``; a worker stepping thousands of enrollments a second spent a
sixth of its time there. ``evolve`` is made once per class, as ``dataclasses`` makes
``__init__``: straight-line code that copies each field or takes its new value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_COPIERS: dict[type, Callable[[Any, dict[str, Any]], Any]] = {}


def _copier(cls: type) -> Callable[[Any, dict[str, Any]], Any]:
    fields = dataclasses.fields(cls)
    if (
        not getattr(cls, "__dataclass_params__").frozen  # noqa: B009 - private attribute
        or "__slots__" not in cls.__dict__
        or hasattr(cls, "__post_init__")
        or any(not f.init for f in fields)
    ):
        raise TypeError(f"evolve copies frozen slotted dataclasses without __post_init__: {cls}")
    lines = [
        f"    _set(new, {f.name!r}, changes.pop({f.name!r}) if {f.name!r} in changes else src.{f.name})"
        for f in fields
    ]
    source = "\n".join(
        [
            "def copy(src, changes):",
            "    new = _new(_cls)",
            *lines,
            "    if changes:",
            "        raise TypeError(f'{_cls.__name__} has no field(s) {sorted(changes)}')",
            "    return new",
        ]
    )
    namespace: dict[str, Any] = {"_new": object.__new__, "_set": object.__setattr__, "_cls": cls}
    exec(source, namespace)  # noqa: S102 - code built from the class's own field names
    copier: Callable[[Any, dict[str, Any]], Any] = namespace["copy"]
    _COPIERS[cls] = copier
    return copier


def evolve(obj: T, /, **changes: Any) -> T:
    """Return a copy of ``obj`` with ``changes`` applied, as ``dataclasses.replace`` would."""
    copier = _COPIERS.get(type(obj)) or _copier(type(obj))
    result: T = copier(obj, changes)
    return result
