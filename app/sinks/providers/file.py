"""Development and demo provider: one JSON line per message, to a file or to stdout."""

from __future__ import annotations

import sys
from typing import IO, Any

import orjson

from app.sinks.clock import Clock
from app.sinks.config import ProviderConfig
from app.sinks.templates import Renderer, template_context


class FileProvider:
    def __init__(
        self, channel: str, config: ProviderConfig, renderer: Renderer, clock: Clock
    ) -> None:
        self.channel = channel
        self.renderer = renderer
        self.clock = clock
        self._own = config.kind == "file" and config.path is not None
        if self._own and config.path is not None:
            config.path.parent.mkdir(parents=True, exist_ok=True)
            self._out: IO[bytes] = config.path.open("ab")
        else:
            self._out = sys.stdout.buffer

    def compose(self, action: dict[str, Any], profile: dict[str, Any] | None) -> dict[str, Any]:
        subject, body = self.renderer.message(
            action.get("template"), template_context(action, profile)
        )
        return {"channel": self.channel, "subject": subject, "body": body, "action": action}

    def send(self, message: dict[str, Any]) -> None:
        self._out.write(orjson.dumps(message, option=orjson.OPT_APPEND_NEWLINE))
        self._out.flush()

    def close(self) -> None:
        if self._own:
            self._out.close()
