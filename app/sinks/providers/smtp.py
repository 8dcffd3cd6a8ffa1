"""Email over SMTP (optionally STARTTLS), one kept-open connection per worker."""

from __future__ import annotations

import smtplib
import ssl
from email.header import Header
from email.mime.text import MIMEText
from email.utils import parseaddr
from typing import Any

from app.core.delivery.errors import PermanentError, TransientError
from app.sinks.config import ProviderConfig
from app.sinks.templates import Renderer, template_context


class SmtpProvider:
    def __init__(self, config: ProviderConfig, renderer: Renderer) -> None:
        self.config = config
        self.renderer = renderer
        self._smtp: smtplib.SMTP | None = None
        self._from = parseaddr(config.sender)[1] or config.sender  # the envelope sender

    def compose(self, action: dict[str, Any], profile: dict[str, Any] | None) -> tuple[str, bytes]:
        context = template_context(action, profile)
        to = context["attributes"].get("email") or (action.get("data") or {}).get("email")
        if not isinstance(to, str) or "@" not in to or "\n" in to or "\r" in to:
            raise PermanentError("no email address in the profile (attributes.email)")
        subject, body = self.renderer.message(action.get("template"), context)
        if not body:
            raise PermanentError("an email needs a template")
        # compat32 MIMEText: a tenth of the cost of EmailMessage's header registry per mail.
        msg = MIMEText(body, "plain", "us-ascii" if body.isascii() else "utf-8")
        msg["From"] = self.config.sender
        msg["To"] = to
        msg["Subject"] = Header(subject, "utf-8").encode() if not subject.isascii() else subject
        # A stable Message-ID lets a receiving system drop a copy resent after a crash.
        msg["Message-ID"] = f"<{action['action_id']}@segue>"
        msg["X-Segue-Action-Id"] = action["action_id"]
        return to, msg.as_bytes()

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout_s)
        if c.starttls:
            context = ssl.create_default_context(cafile=str(c.ssl_cafile) if c.ssl_cafile else None)
            smtp.starttls(context=context)
        if c.username and c.password:
            smtp.login(c.username, c.password.get_secret_value())
        return smtp

    def send(self, message: tuple[str, bytes]) -> None:
        to, raw = message
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            self._smtp.sendmail(self._from, [to], raw)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            self._fail(codes[0] if codes else 550, str(exc.recipients))
        except smtplib.SMTPResponseException as exc:
            error = exc.smtp_error
            text = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
            self._fail(exc.smtp_code, text)
        except (OSError, smtplib.SMTPException) as exc:  # refused, timeout, disconnected
            self.close()
            raise TransientError(f"SMTP: {type(exc).__name__}: {exc}") from None

    def _fail(self, code: int, text: str) -> None:
        # SMTP: 4yz is a transient negative reply, 5yz a permanent one (RFC 5321 4.2.1).
        if 400 <= code < 500:
            self.close()
            raise TransientError(f"SMTP {code}: {text[:200]}")
        raise PermanentError(f"SMTP {code}: {text[:200]}")

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None
