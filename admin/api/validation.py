"""Validate a parsed body against a model, reporting every bad field by its JSON path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from admin.api.errors import problems_from
from engine.errors import InvalidInput

T = TypeVar("T")


def validate_body(adapter: TypeAdapter[T], payload: Any, prefix: Sequence[str | int] = ()) -> T:
    """Return the validated value or raise InvalidInput listing each problem with its place."""
    try:
        return adapter.validate_python(payload)
    except ValidationError as error:
        raise InvalidInput(
            "the request is not valid", problems=problems_from(error, prefix)
        ) from None
