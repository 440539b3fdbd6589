"""Pydantic v2 request/response models, one module per API area (extra fields kept)."""
