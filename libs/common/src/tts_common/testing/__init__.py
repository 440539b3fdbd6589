"""Test support: real Kafka/PostgreSQL endpoints and pytest fixtures (see ``fixtures``)."""

from tts_common.testing.infra import (
    InfraResolver,
    InfraUnavailableError,
    database_url,
    new_database_name,
    new_topic_name,
)

__all__ = [
    "InfraResolver",
    "InfraUnavailableError",
    "database_url",
    "new_database_name",
    "new_topic_name",
]
