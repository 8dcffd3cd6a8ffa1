"""Sink settings: one provider per channel, read from the environment (prefix ``SEGUE_SINK_``,
nested fields with ``__``), e.g. ``SEGUE_SINK_EMAIL__KIND=smtp SEGUE_SINK_EMAIL__PORT=2525`` or
``SEGUE_SINK_WEBHOOK='{"kind": "http", "url": "https://...", "secret": "..."}'``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from app.core.delivery.backoff import Backoff
from app.topics.specs import CHANNELS

EXPECTED = 'must be a JSON object of provider settings, e.g. {"kind": "http", "url": "https://..."}'


class ProviderConfig(BaseModel):
    """How one channel delivers. Unused fields of other kinds are ignored."""

    # A provider's settings hold secrets (password, secret, headers): an error never shows the
    # input, only where it is and what was expected.
    model_config = {"frozen": True, "hide_input_in_errors": True}

    kind: Literal["smtp", "http", "file", "stdout"] = Field(
        default="file",
        description="smtp (email), http (JSON POST, signed), file (JSON lines), stdout.",
    )
    # smtp
    host: str = "127.0.0.1"
    port: int = 25
    starttls: bool = Field(default=False, description="Upgrade the SMTP session with STARTTLS.")
    ssl_cafile: Path | None = Field(default=None, description="CA file to verify STARTTLS with.")
    username: str | None = None
    password: SecretStr | None = None
    sender: str = "Segue <segue@localhost>"
    # http
    url: str | None = None
    secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key; requests are unsigned without one."
    )
    shape: dict[str, str] | None = Field(
        default=None,
        description=(
            "The JSON body: field name -> Jinja expression over action, profile, subject, "
            "body, data, scores. Default: the channel's shape (docs/sinks.md)."
        ),
    )
    headers: dict[str, str] = Field(default_factory=dict)
    # file
    path: Path | None = Field(default=None, description="JSON lines file (file kind).")
    # every kind
    timeout_s: float = Field(default=5.0, gt=0)
    rate_per_s: float = Field(default=200.0, gt=0, description="Token bucket: sends per second.")
    burst: int = Field(default=50, ge=1, description="Token bucket size.")
    max_attempts: int = Field(default=5, ge=1, description="Attempts in all, then the DLQ.")
    backoff_base_ms: int = Field(default=200, ge=0)
    backoff_cap_ms: int = Field(default=10_000, ge=0)
    breaker_threshold: int = Field(default=5, ge=1, description="Failures that open it.")
    breaker_cooldown_ms: int = Field(default=5_000, ge=0)

    def backoff(self) -> Backoff:
        return Backoff(self.backoff_base_ms, self.backoff_cap_ms, self.max_attempts)


class SinkSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SEGUE_SINK_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,  # see ProviderConfig
    )

    email: ProviderConfig = ProviderConfig()
    sms: ProviderConfig = ProviderConfig()
    push: ProviderConfig = ProviderConfig()
    webhook: ProviderConfig = ProviderConfig()
    in_app: ProviderConfig = ProviderConfig()
    agent: ProviderConfig = ProviderConfig()

    templates_dir: Path | None = Field(default=None, description="Default: templates/.")
    dedupe_retention: str = Field(
        default="8d",
        description=(
            "How long an action id is remembered. Longer than the action topics' retention "
            "(7d), so no record that can still be redelivered is forgotten."
        ),
    )
    commit_every: int = Field(default=500, ge=1, description="Commit after this many actions…")
    commit_interval_ms: int = Field(default=1000, ge=1, description="…or this long.")
    handover_check: int = Field(
        default=2000,
        ge=0,
        description="After a partition is assigned, its first N actions that the local store "
        "does not know are looked up among the receipts (another worker may have delivered "
        "them without committing). At least the previous owner's commit_every.",
    )
    profiles: bool = Field(
        default=False,
        description="Also follow the profiles changelog, for actions that carry no `profile` "
        "snapshot (from producers other than Segue, whose actions all carry one).",
    )
    snapshot_wait_ms: int = Field(
        default=5000,
        ge=0,
        description="How long to read the profiles changelog on for an action decided on a "
        "profile the view does not have yet (the journey agent writes its table after the "
        "actions); then the action goes on with the snapshot there is.",
    )
    callback_secret: SecretStr | None = Field(
        default=None, description="HMAC key providers sign their callbacks with."
    )
    callback_max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1,
        description="Larger callback bodies are refused with 413 before any byte of them is "
        "read (a callback is a few hundred bytes of JSON).",
    )
    callback_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="A callback client has this long for a request's headers (from connecting "
        "or from its previous answer; an idle kept-alive connection is closed after it too), "
        "then as long again for the body (408 and closed after).",
    )
    callback_max_connections: int = Field(
        default=512,
        ge=1,
        description="Open connections to the callbacks endpoint; one more is answered 503 "
        "and closed (file descriptors and memory stay bounded).",
    )
    callback_dedupe_retention: str = Field(
        default="8d",
        description="How long the callbacks endpoint remembers each receipt it produced, so a "
        "replayed or repeated callback produces no second one. At least 10m: a signed "
        "request stays acceptable over a 10-minute span (timestamp +-5 min).",
    )
    crash_after: int = Field(
        default=0,
        description="Fault injection for tests: SIGKILL itself at the N-th delivery, at the "
        "point `crash_at`. 0 disables.",
    )
    crash_at: Literal["recorded", "sent"] = Field(
        default="recorded",
        description="recorded: after the outcome is recorded, before the commit; sent: after "
        "the provider accepted it, before the outcome is recorded.",
    )

    @field_validator(*CHANNELS, mode="before")
    @classmethod
    def _provider_shape(cls, value: Any) -> Any:
        # Said here rather than by pydantic, whose message for a wrong shape quotes the input.
        if isinstance(value, dict | ProviderConfig):
            return value
        raise ValueError(f"{EXPECTED}, not {_shape(value)}")

    def provider(self, channel: str) -> ProviderConfig:
        config: ProviderConfig = getattr(self, channel)
        return config


def provider_problem(channel: str, config: ProviderConfig) -> str | None:
    """What keeps the channel's provider from starting, in one line naming the variable (never
    its value: a URL may carry a token); None when nothing does. Checked by ``segue sink``
    before anything else, so the mistake is not found behind a broker or a traceback."""
    variable = f"SEGUE_SINK_{channel.upper()}__URL"
    if config.kind == "http":
        if not config.url:
            return f"{variable}: the {channel} provider (kind http) needs a url"
        parts = urlsplit(config.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return f"{variable}: must be an http:// or https:// address with a host"
    return None


class SinkConfigError(ValueError):
    """The sink settings are invalid: one line per problem, naming the variable, never its value."""


def load_sink_settings() -> SinkSettings:
    """``SinkSettings()`` from the environment; raises :class:`SinkConfigError` when invalid."""
    try:
        return SinkSettings()
    except ValidationError as exc:
        lines = [f"{_variable(e['loc'])}: {_message(e)}" for e in exc.errors(include_input=False)]
        raise SinkConfigError("\n".join(lines)) from None
    except SettingsError as exc:  # a value that is not JSON; its message names the field only
        raise SinkConfigError(f"{exc}: {EXPECTED}") from None


def _variable(loc: tuple[int | str, ...]) -> str:
    """The environment variable of an error's location: ("webhook", "port") ->
    SEGUE_SINK_WEBHOOK__PORT."""
    return "SEGUE_SINK_" + "__".join(str(part).upper() for part in loc)


def _message(error: Any) -> str:
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _shape(value: Any) -> str:
    """What a value is, without what it holds."""
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return type(value).__name__
