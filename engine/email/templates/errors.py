"""Template errors, each naming its place as ``templates/NAME.mjml:LINE``."""

from __future__ import annotations

from engine.errors import InvalidInput


class TemplateError(InvalidInput):
    """Raised when a template cannot be read, compiled or rendered; says where and why."""

    code = "template_error"

    def __init__(self, where: str, line: int | None, message: str) -> None:
        self.where = where
        self.line = line
        self.detail = message
        super().__init__(f"{self.location}: {message}")

    @property
    def location(self) -> str:
        """``file:line``, or the file (or journey step) alone when no line is known."""
        return f"{self.where}:{self.line}" if self.line else self.where


class TemplateLimitExceeded(TemplateError):
    """Raised when a render runs past its time, step or size budget (a template bomb)."""

    code = "template_limit"
