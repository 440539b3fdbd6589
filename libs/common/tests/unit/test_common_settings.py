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


def test_secret_settings_are_scrubbed_from_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import logging

    from pydantic import SecretStr
    from tts_common.logging import configure_logging
    from tts_common.settings import register_settings_secrets

    class WithSecret(ServiceSettings):
        webhook_key: SecretStr = SecretStr("unset")

    monkeypatch.setenv("TTS_DATABASE_URL", "postgresql://app:db-pass-5512@h:5432/db")
    monkeypatch.setenv("TTS_WEBHOOK_KEY", "hook-secret-9931")
    settings = load_settings(WithSecret)
    register_settings_secrets(settings)
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("t", stream=stream)
        logging.getLogger("t").warning(
            "connect to %s failed with %s", settings.database_url, "hook-secret-9931"
        )
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    out = stream.getvalue()
    assert "db-pass-5512" not in out
    assert "hook-secret-9931" not in out
    assert "h:5432/db" in out
