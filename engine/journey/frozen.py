"""``evolve``: a changed copy of a frozen dataclass, at a fraction of ``replace``'s cost.

The planner copies an enrollment's state and a contact's view at every step, since the
core never mutates them. ``dataclasses.replace`` walks the fields' metadata on each call
and then runs ``__init__``; a worker stepping thousands of enrollments a second spent a
sixth of its time there. ``evolve`` is made once per class, as ``dataclasses`` makes
``__init__``. A class with an instance ``__dict__`` is copied by merging dicts, in C; the
planner's two hot classes keep one for that reason, as setting each slot through its
descriptor cost twice as much. A slotted class gets straight-line code that copies each
field or takes its new value.
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
        or hasattr(cls, "__post_init__")
        or any(not f.init for f in fields)
    ):
        raise TypeError(f"evolve copies frozen dataclasses without __post_init__: {cls}")
    names = frozenset(f.name for f in fields)
    slotted = "__slots__" in cls.__dict__
    if slotted:
        # Each field's slot is set through its own descriptor: cheaper than
        # object.__setattr__, which looks the name up on the class first.
        setters = {f.name: _slot(cls, f.name).__set__ for f in fields}
        body = [
            "    new = _new(_cls)",
            *(
                f"    _set_{f.name}(new, changes[{f.name!r}] "
                f"if {f.name!r} in changes else src.{f.name})"
                for f in fields
            ),
        ]
    else:
        setters = {}
        body = ["    new = _new(_cls)", "    _setattr(new, '__dict__', src.__dict__ | changes)"]
    source = "\n".join(
        [
            "def copy(src, changes):",
            "    if not changes.keys() <= _names:",
            "        unknown = sorted(changes.keys() - _names)",
            "        raise TypeError(f'{_cls.__name__} has no field {unknown[0]!r}')",
            *body,
            "    return new",
        ]
    )
    namespace: dict[str, Any] = {
        "_new": object.__new__,
        "_setattr": object.__setattr__,
        "_cls": cls,
        "_names": names,
    }
    namespace |= {f"_set_{name}": setter for name, setter in setters.items()}
    exec(source, namespace)  # noqa: S102 - code built from the class's own field names
    copier: Callable[[Any, dict[str, Any]], Any] = namespace["copy"]
    _COPIERS[cls] = copier
    return copier


def _slot(cls: type, name: str) -> Any:
    """The member descriptor of slot ``name``, on ``cls`` or the base class that declares it."""
    return next(klass.__dict__[name] for klass in cls.__mro__ if name in klass.__dict__)


def evolve(obj: T, /, **changes: Any) -> T:
    """Return a copy of ``obj`` with ``changes`` applied, as ``dataclasses.replace`` would."""
    copier = _COPIERS.get(type(obj)) or _copier(type(obj))
    result: T = copier(obj, changes)
    return result
