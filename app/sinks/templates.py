"""Message content from ``templates/`` through a sandboxed Jinja2 environment.

``templates/<name>.j2`` is the body and ``templates/<name>.subject.j2`` the optional subject
(email, push, helpdesk). The context is ``action``, ``profile`` (the snapshot), ``data``,
``scores``, ``customer_id`` and ``attributes`` (the profile's). StrictUndefined: a missing
variable raises, and the sink turns it into a permanent failure of that one action.

So does anything else a template raises while rendering: Jinja's own errors, and the plain
Python ones the sandbox lets through (``range()`` beyond the sandbox's MAX_RANGE raises
OverflowError, ``{{ 1 / 0 }}`` ZeroDivisionError). Rendering reads nothing but templates, so
such an error is the template's or its data's and would recur on every retry: a permanent
failure of that action (dead-lettered with the reason), never a crash of the sink worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateNotFound, Undefined
from jinja2.sandbox import SandboxedEnvironment

from app.core.delivery.errors import PermanentError
from app.paths import ROOT

TEMPLATES_DIR = ROOT / "templates"


def template_context(action: dict[str, Any], profile: dict[str, Any] | None) -> dict[str, Any]:
    snapshot = profile or {}
    return {
        "action": action,
        "profile": snapshot,
        "attributes": snapshot.get("attributes") or {},
        "data": action.get("data") or {},
        "scores": action.get("scores") or {},
        "customer_id": action.get("customer_id"),
    }


class Renderer:
    """Renders templates (cached after the first load) and compiled shape expressions."""

    def __init__(self, directory: Path | None = None) -> None:
        from jinja2 import FileSystemLoader

        self.env = SandboxedEnvironment(
            loader=FileSystemLoader(str(directory or TEMPLATES_DIR)),
            undefined=StrictUndefined,
            autoescape=False,  # plain-text messages; HTML templates escape explicitly
            keep_trailing_newline=False,
        )
        self._expressions: dict[str, Any] = {}

    def render(self, name: str, context: dict[str, Any], optional: bool = False) -> str | None:
        try:
            template = self.env.get_template(name)
        except TemplateNotFound:
            if optional:
                return None
            raise PermanentError(f"missing template: {name}") from None
        except TemplateError as exc:
            raise PermanentError(f"bad template {name}: {exc}") from None
        try:
            return template.render(context).strip()
        except Exception as exc:  # UndefinedError, SecurityError, OverflowError, ... (module doc)
            raise PermanentError(f"template {name}: {_reason(exc)}") from None

    def message(self, template: str | None, context: dict[str, Any]) -> tuple[str, str]:
        """(subject, body) of a template; a null template gives empty content."""
        if not template:
            return "", ""
        body = self.render(f"{template}.j2", context) or ""
        subject = self.render(f"{template}.subject.j2", context, optional=True)
        return subject if subject is not None else template.replace("_", " "), body

    def evaluate(self, expression: str, context: dict[str, Any]) -> Any:
        """One shape expression (compiled once). A missing variable is a PermanentError."""
        compiled = self._expressions.get(expression)
        if compiled is None:
            try:
                compiled = self.env.compile_expression(expression, undefined_to_none=False)
            except TemplateError as exc:
                raise PermanentError(f"bad shape expression {expression!r}: {exc}") from None
            self._expressions[expression] = compiled
        try:
            value = compiled(**context)
        except Exception as exc:  # as in render
            raise PermanentError(f"shape {expression!r}: {_reason(exc)}") from None
        if isinstance(value, Undefined):
            raise PermanentError(f"shape {expression!r}: undefined")
        return value


def _reason(exc: Exception) -> str:
    """Jinja's message as it is; a plain Python error with its type (``OverflowError: ...``)."""
    return str(exc) if isinstance(exc, TemplateError) else f"{type(exc).__name__}: {exc}"
