"""The fingerprints that let a run skip products in sync (catalog_sync.pipeline)."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

from catalog_sync.pipeline import FeedView, config_fingerprint, fingerprint


def _view(**feed: object) -> FeedView:
    base = {"optimization": {}, "dataflow": {}, "lists": []}
    return FeedView(SimpleNamespace(**{**base, **feed}), {})  # type: ignore[arg-type]


def test_the_rows_fingerprint_is_postgres_md5_of_the_hex_hashes_in_order() -> None:
    hashes = [bytes.fromhex("ab01"), bytes.fromhex("ff")]
    # the SQL side: md5(string_agg(encode(hash, 'hex'), ',' ORDER BY seq, product_id))
    assert fingerprint(hashes) == hashlib.md5(b"ab01,ff").hexdigest()
    assert fingerprint(hashes) != fingerprint(hashes[::-1])  # order matters (main row first)


def test_the_configuration_fingerprint_changes_with_what_shapes_the_payload() -> None:
    view = _view()
    same = config_fingerprint(view, "UK", "", 1, 0)
    assert same == config_fingerprint(_view(), "UK", "", 1, 0)
    assert same != config_fingerprint(view, "US", "", 1, 0)  # market
    assert same != config_fingerprint(view, "UK", "w1", 1, 0)  # warehouse
    assert same != config_fingerprint(view, "UK", "", 2, 0)  # payload builder version
    assert same != config_fingerprint(view, "UK", "", 1, 1)  # the weekly full evaluation
    mapped = FeedView(view.feed, {"categories": {"Mugs": "600042"}})
    assert config_fingerprint(mapped, "UK", "", 1, 0) != same  # a mapping list's rows
