"""What can go wrong setting up or using formats: light to import (no registry client), so the
hot path can name them."""

from __future__ import annotations


class SchemaSetupError(RuntimeError):
    """Formats that cannot be set up or used; the message says what to do (one line)."""


class IncompatibleSchema(SchemaSetupError):
    """A schema change the subject's compatibility level refuses."""


class RegistryUnavailable(SchemaSetupError):
    """The registry could not be asked (not running, refused, wrong URL, timed out). Never a
    reason to dead-letter a record: the record is fine, the registry is not; the worker and the
    sinks stop without committing it, and a restart reads it again."""


class FormatSetupError(SchemaSetupError):
    """A deployment whose formats cannot be set up; the message says what to do."""
