"""A Confluent-compatible schema registry (Apicurio Registry) that Segue starts on 127.0.0.1."""

from app.registry.process import (
    CCOMPAT_PATH,
    RegistryProcess,
    SchemaRegistryError,
    start_registry,
)

__all__ = ["CCOMPAT_PATH", "RegistryProcess", "SchemaRegistryError", "start_registry"]
