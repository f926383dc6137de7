"""The base every spec type shares: frozen, strict about keys, and able to say which keys it knows."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationInfo, model_validator

KNOWN_KEYS = "known_keys"
"""Validation-context slot: ``id(mapping) -> keys its model accepts``, for "did you mean"."""

AttrPath = Annotated[str, StringConstraints(pattern=r"^[^\W\d][\w\-]*(\.[\w\-]+)*$")]
"""A dotted path into a document: ``subscription.end_date``, ``会員.ランク`` (any script)."""

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
"""A non-empty identifier of something outside the journey (template, segment, topic...)."""


class SpecModel(BaseModel):
    """Immutable spec node that refuses unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    tag: ClassVar[str | None] = None

    @classmethod
    def known_keys(cls) -> frozenset[str]:
        """Return the keys this node accepts, as written in YAML (aliases)."""
        return frozenset(f.alias or name for name, f in cls.model_fields.items())

    @model_validator(mode="before")
    @classmethod
    def _remember_known_keys(cls, data: Any, info: ValidationInfo) -> Any:
        # Pydantic reports an unknown key without naming the model; the loader
        # looks the mapping up here to suggest the closest known key.
        if isinstance(data, dict) and isinstance(info.context, dict):
            info.context.setdefault(KNOWN_KEYS, {})[id(data)] = cls.known_keys()
        return data
