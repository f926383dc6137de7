"""Email templates: MJML + Jinja2 files with front matter, compiled once, rendered per contact."""

from engine.email.templates.errors import TemplateError, TemplateLimitExceeded
from engine.email.templates.sandbox import RenderLimits
from engine.email.templates.source import FrontMatter, Sender
from engine.email.templates.store import (
    EmailTemplate,
    RenderedEmail,
    SubjectSource,
    TemplateStore,
    contact_fields,
    template_context,
)

__all__ = [
    "EmailTemplate",
    "FrontMatter",
    "RenderLimits",
    "RenderedEmail",
    "Sender",
    "SubjectSource",
    "TemplateError",
    "TemplateLimitExceeded",
    "TemplateStore",
    "contact_fields",
    "template_context",
]
