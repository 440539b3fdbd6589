"""Invalid settings stop the process with a message naming the setting."""

from __future__ import annotations

import pytest
from tts_common.settings import ServiceSettings, load_settings


def test_invalid_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TTS_HTTP_PORT", "not-a-port")
    monkeypatch.setenv("TTS_KAFKA_BOOTSTRAP", "nohostport")
    with pytest.raises(SystemExit) as exc:
        load_settings(ServiceSettings)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "TTS_HTTP_PORT" in err
    assert "TTS_KAFKA_BOOTSTRAP" in err


def test_plain_postgres_url_is_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTS_DATABASE_URL", "postgresql://u@h:5432/db")
    assert load_settings(ServiceSettings).database_url == "postgresql+asyncpg://u@h:5432/db"


def test_non_postgres_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTS_DATABASE_URL", "mysql://u@h/db")
    with pytest.raises(SystemExit):
        load_settings(ServiceSettings)
