"""A validation error never quotes the value it refused (it may be a mis-pasted secret)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from tts_common.settings import ServiceSettings


def test_a_refused_value_is_not_quoted_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    pasted = "sk-live-9f8e7d6c5b4a39281706"
    monkeypatch.setenv("TTS_DATABASE_URL", f"mysql://user:{pasted}@db/x")
    monkeypatch.setenv("TTS_HTTP_PORT", pasted)
    with pytest.raises(ValidationError) as info:
        ServiceSettings()
    text = str(info.value)  # what a log line or a traceback would show
    assert "database_url" in text and "http_port" in text
    assert pasted not in text
