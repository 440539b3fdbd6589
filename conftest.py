"""Repository-wide pytest setup: real-infrastructure fixtures for every package's tests."""

pytest_plugins = ["tts_common.testing.fixtures"]
