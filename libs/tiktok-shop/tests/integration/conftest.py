"""Registers the contract-test fixtures (kept in a uniquely named module, importable by tests)."""

from tts_client_contract import sandbox, uk, us

__all__ = ["sandbox", "uk", "us"]
