"""Shared helpers for the journey-definition tests: a valid base journey, file writers."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

BASE: dict[str, Any] = {
    "id": "base",
    "version": 1,
    "trigger": {"event": "CartAbandoned"},
    "steps": [
        {"id": "first", "send": {"channel": "email", "template": "t1"}},
        {"id": "second", "wait": "1h"},
        {"id": "third", "send": {"channel": "sms", "template": "t2"}},
    ],
}


def base() -> dict[str, Any]:
    return copy.deepcopy(BASE)


def write_doc(folder: Path, doc: Any, name: str = "journey.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def write_text(folder: Path, text: str, name: str = "journey.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path
