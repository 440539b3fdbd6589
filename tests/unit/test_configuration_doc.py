"""docs/configuration.md is what scripts/gen_config_doc.py makes of the settings classes now:
a setting added, removed, renamed or given a new default without regenerating the file fails
here, and so does a setting nobody described."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_config_doc", ROOT / "scripts/gen_config_doc.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_committed_file_matches_the_settings_classes() -> None:
    gen = generator()
    committed = (ROOT / "docs/configuration.md").read_text()
    assert committed == gen.render(), (
        "docs/configuration.md is stale: run `uv run --no-sync python scripts/gen_config_doc.py`"
    )


def test_every_setting_of_every_service_has_a_row_with_a_description() -> None:
    gen = generator()
    text = gen.render()
    for service, ref, prefix in gen.SERVICES:
        for row in gen.rows(service, gen.load(ref), prefix):
            assert row.description, f"{service}: {row.variable} has no description"
            assert f"`{row.variable}`" in text, row.variable


def test_secrets_show_no_default() -> None:
    gen = generator()
    rows = [r for _, ref, p in gen.SERVICES for r in gen.rows("*", gen.load(ref), p)]
    secrets = [r for r in rows if r.type == "secret"]
    assert secrets and all(r.default == gen.HIDDEN for r in secrets)
    text = gen.render()
    for _, ref, _ in gen.SERVICES:
        cls = gen.load(ref)
        for name, field in getattr(cls, "model_fields", {}).items():
            value = getattr(field.default, "get_secret_value", lambda: "")()
            if len(value) >= 20:  # the dev credentials and keys, never the short published ones
                assert value not in text, f"{ref} {name}: its default is in the file"
