"""Channel providers: compose a message from an action, then send it (raising
``TransientError`` or ``PermanentError`` from ``app.core.delivery.errors``)."""

from __future__ import annotations

from typing import Any, Protocol

from app.sinks.clock import Clock
from app.sinks.config import ProviderConfig
from app.sinks.templates import Renderer


class Provider(Protocol):
    def compose(self, action: dict[str, Any], profile: dict[str, Any] | None) -> Any:
        """The message to send; raises PermanentError for a bad action or template."""
        ...

    def send(self, message: Any) -> None: ...

    def close(self) -> None: ...


def make_provider(
    channel: str, config: ProviderConfig, renderer: Renderer, clock: Clock
) -> Provider:
    if config.kind == "smtp":
        from app.sinks.providers.smtp import SmtpProvider

        return SmtpProvider(config, renderer)
    if config.kind == "http":
        from app.sinks.providers.http import HttpProvider

        return HttpProvider(channel, config, renderer, clock)
    from app.sinks.providers.file import FileProvider

    return FileProvider(channel, config, renderer, clock)
