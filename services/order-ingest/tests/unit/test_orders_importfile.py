"""The imports file and the import fields: whole days, known statuses, every problem listed."""

from __future__ import annotations

import pytest
from order_ingest.importfile import FileProblems, parse
from order_ingest.imports import ImportIn
from pydantic import ValidationError

GOOD = """
imports:
  - name: us-shop
    connection_id: c-1
    statuses: [awaiting_shipment, ON_HOLD]
    created_within_days: 7
    updated_within_days: "3"
    push:
      url: https://oms.example.com/tiktok
      secret_env: OMS_SECRET
  - name: uk-shop
    connection_id: c-2
"""


def test_a_good_file_parses_with_the_secret_from_the_environment() -> None:
    found = parse(GOOD, env={"OMS_SECRET": "s" * 32})
    assert [i.name for i in found] == ["us-shop", "uk-shop"]
    assert found[0].statuses == ["AWAITING_SHIPMENT", "ON_HOLD"]
    assert found[0].updated_within_days == 3
    assert found[0].push is not None and found[0].push.secret == "s" * 32
    assert found[1].statuses == [] and found[1].created_within_days is None


def test_every_problem_is_listed_with_where_it_is() -> None:
    bad = """
imports:
  - name: a
    connection_id: c
    created_within_days: 1.5
    statuses: [SHIPPED]
  - name: a
    connection_id: c
    updated_within_days: -2
    push: {url: "https://x.example", secret_env: MISSING}
"""
    with pytest.raises(FileProblems) as caught:
        parse(bad, env={})
    text = "\n".join(caught.value.problems)
    assert "imports.0.statuses" in text and "SHIPPED" in text
    assert "imports.0.created_within_days" in text and "whole non-negative" in text
    assert "imports.1.updated_within_days" in text


def test_yaml_that_does_not_parse_names_its_line() -> None:
    with pytest.raises(FileProblems) as caught:
        parse("imports:\n  - name: [unclosed\n")
    assert "line" in caught.value.problems[0]


@pytest.mark.parametrize("days", [1.5, -1, "7d", True, "", "٣"])
def test_days_must_be_whole_non_negative_numbers(days: object) -> None:
    with pytest.raises(ValidationError) as caught:
        ImportIn.model_validate({"connection_id": "c", "created_within_days": days})
    assert "whole non-negative number of days" in str(caught.value)


def test_days_accept_digits() -> None:
    body = ImportIn.model_validate(
        {"connection_id": "c", "created_within_days": 0, "updated_within_days": "30"}
    )
    assert (body.created_within_days, body.updated_within_days) == (0, 30)
