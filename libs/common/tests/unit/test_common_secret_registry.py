"""The scrubber's registry of secret values: found anywhere, cheap at any size, never evicted
by a flood.

Work is measured with the registry's own counters (index lookups and candidate comparisons),
never with a clock, so these tests say the same thing on a loaded machine.
"""

from __future__ import annotations

import random
import string

import pytest
from tts_common.logging import (
    MAX_SECRET_LENGTH,
    MIN_SECRET_LENGTH,
    REDACTED,
    _SecretRegistry,
    redact_text,
    register_secret,
    secret_registry_stats,
)

TOKEN = "ROW_Zk9x1aB2cD3eF4gH5iJ6kL7mN8oP"


def _scrub_work(reg: _SecretRegistry, text: str) -> tuple[str, int, int]:
    """(scrubbed text, lookups, comparisons) of one scrub."""
    probes, checks = reg.probes, reg.checks
    out = reg.scrub(text)
    return out, reg.probes - probes, reg.checks - checks


@pytest.mark.parametrize(
    "template",
    [
        "{s}",
        "GET /v1/x?access_token={s}&shop_cipher=C",
        "GET /v1/x?a=1&x={s}",
        '{{"data": {{"token": "{s}"}}}}',
        "Authorization: Bearer {s}",
        "prefix{s}suffix",
        "{s}{s}",
        "a{s}",
        "ab{s}c",
        "abc{s}de",
        "'{s}'",
        "x = {s!r}",
    ],
)
def test_a_registered_value_is_cut_wherever_it_appears(template: str) -> None:
    reg = _SecretRegistry()
    reg.add(TOKEN)
    out = reg.scrub(template.format(s=TOKEN))
    assert TOKEN not in out
    assert REDACTED in out


def test_every_length_at_every_offset() -> None:
    # The index samples one slice every few characters: prove no alignment is missed.
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + "_-.=/+"
    for length in range(MIN_SECRET_LENGTH, 40):
        secret = "".join(rng.choice(alphabet) for _ in range(length))
        reg = _SecretRegistry()
        reg.add(secret)
        for offset in range(12):
            filler = "".join(rng.choice(" &?:,{}") for _ in range(offset))
            tail = "".join(rng.choice(" &?:,{}") for _ in range(rng.randint(0, 7)))
            out = reg.scrub(filler + secret + tail)
            assert out == filler + REDACTED + tail, (length, offset)


def test_overlapping_and_nested_values_leave_no_fragment() -> None:
    reg = _SecretRegistry()
    for value in ("abcdef123456", "123456ghijkl", "cdef12", "zzzzzzzz"):
        reg.add(value)
    out = reg.scrub("<abcdef123456ghijkl> <zzzzzzzzzz> <cdef12>")
    assert out == f"<{REDACTED}> <{REDACTED}> <{REDACTED}>"


def test_short_values_are_not_registered_and_plain_text_is_untouched() -> None:
    reg = _SecretRegistry()
    assert not reg.add("abc12")
    assert not reg.add("")
    assert not reg.add(None)
    assert len(reg) == 0
    assert reg.scrub("abc12 stays") == "abc12 stays"
    reg.add(TOKEN)
    assert reg.scrub("nothing secret in this line") == "nothing secret in this line"


def test_runtime_values_above_the_cap_are_not_registered_but_pinned_ones_are() -> None:
    reg = _SecretRegistry()
    huge = "h" * (MAX_SECRET_LENGTH + 1)
    assert not reg.add(huge)
    assert len(reg) == 0
    assert reg.add("p" * (MAX_SECRET_LENGTH + 1), pinned=True)
    assert reg.stats().pinned == 1
    assert reg.add("r" * MAX_SECRET_LENGTH)
    assert reg.stats().runtime == 1


def test_eviction_takes_the_least_recently_registered_runtime_value_never_a_pinned_one() -> None:
    reg = _SecretRegistry(capacity=3)
    reg.add("pinned-setting-1", pinned=True)
    for value in ("runtime-aaaaaa", "runtime-bbbbbb", "runtime-cccccc"):
        reg.add(value)
    reg.add("runtime-aaaaaa")  # leased again: most recent now
    reg.add("runtime-dddddd")
    assert "runtime-bbbbbb" not in reg
    for kept in ("pinned-setting-1", "runtime-aaaaaa", "runtime-cccccc", "runtime-dddddd"):
        assert kept in reg, kept
    assert reg.stats().pinned == 1 and reg.stats().runtime == 3
    # An evicted value is no longer indexed; the others still are.
    assert reg.scrub("runtime-bbbbbb runtime-cccccc") == f"runtime-bbbbbb {REDACTED}"
    # Pinning a runtime value moves it out of the bounded tier.
    reg.add("runtime-cccccc", pinned=True)
    assert reg.stats().pinned == 2 and reg.stats().runtime == 2
    for i in range(10):
        reg.add(f"later-value-{i:04d}")
    assert "runtime-cccccc" in reg and "pinned-setting-1" in reg
    assert reg.stats().runtime == 3


def test_a_flood_of_registrations_neither_slows_scrubbing_nor_evicts_a_secret() -> None:
    reg = _SecretRegistry(capacity=2048)
    reg.add("pinned-app-secret-77aa88bb", pinned=True)
    reg.add(TOKEN)  # runtime, registered before the flood and leased again during it
    line = (
        "lease shop=7495540735365777507 url=/api/products?access_token=x&page=2 "
        f'body={{"token": "{TOKEN}"}} app secret pinned-app-secret-77aa88bb done'
    )
    expected = (
        "lease shop=7495540735365777507 url=/api/products?access_token=x&page=2 "
        f'body={{"token": "{REDACTED}"}} app secret {REDACTED} done'
    )
    out, probes_before, checks_before = _scrub_work(reg, line)
    assert out == expected

    # Junk from an alphabet the line cannot match (upper case, digits): any extra comparison
    # below would be work that grew with the registry.
    rng = random.Random(3)
    junk_alphabet = string.ascii_uppercase + string.digits
    for n in range(10_000):
        reg.add("".join(rng.choice(junk_alphabet) for _ in range(rng.randint(8, 64))))
        if n % 100 == 0:
            reg.add(TOKEN)  # a live token is leased now and then
    reg.add("J" * 60_000)  # a 60 KB "code" is no credential

    out, probes_after, checks_after = _scrub_work(reg, line)
    assert out == expected
    assert (probes_after, checks_after) == (probes_before, checks_before)
    stats = reg.stats()
    assert stats.pinned == 1 and stats.runtime == 2048  # bounded
    assert TOKEN in reg
    # Each value sits under a fixed number of index entries, whatever the registry holds.
    assert max(len(bucket) for bucket in reg._index.values()) <= 3


def test_work_per_scrub_is_bounded_by_the_text_not_the_registry() -> None:
    # Hex junk shares the alphabet of hex text, so comparisons happen; they stay bounded by
    # the number of lookups (a constant per character), never by the number of values.
    reg = _SecretRegistry(capacity=20_000)
    rng = random.Random(5)
    text = " ".join(f"{rng.getrandbits(128):032x}" for _ in range(40))
    reg.add(TOKEN)
    _, probes_small, _ = _scrub_work(reg, text)
    for _ in range(20_000):
        reg.add(f"{rng.getrandbits(128):032x}")
    _, probes_big, checks_big = _scrub_work(reg, text)
    assert probes_big == probes_small == (len(text) - 4) // (MIN_SECRET_LENGTH - 4 + 1) + 1
    assert checks_big <= 3 * probes_big


def test_the_process_registry_through_the_public_api() -> None:
    register_secret("flood-test-pinned-secret-1", pinned=True)
    register_secret("flood-test-runtime-token-1")
    before = secret_registry_stats()
    for i in range(200):
        register_secret(f"{i:06d}" + "x" * 60_000)  # callers' junk above the cap: ignored
    after = secret_registry_stats()
    assert (after.pinned, after.runtime) == (before.pinned, before.runtime)
    text = "a flood-test-pinned-secret-1 b flood-test-runtime-token-1 c"
    assert redact_text(text) == f"a {REDACTED} b {REDACTED} c"
