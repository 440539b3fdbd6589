"""Migration scripts split into single statements; a `;` in a comment splits nothing."""

from __future__ import annotations

from tts_common.migrate import split_sql


def test_comments_with_semicolons_do_not_split_statements() -> None:
    script = """
    -- The feedback file; one row per product.
    CREATE TABLE a (x int, note text DEFAULT 'n/a'); -- trailing; comment
    CREATE INDEX a_x ON a (x)
    """
    assert split_sql(script) == [
        "CREATE TABLE a (x int, note text DEFAULT 'n/a')",
        "CREATE INDEX a_x ON a (x)",
    ]
