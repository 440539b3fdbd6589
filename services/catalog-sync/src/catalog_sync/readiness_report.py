"""What the readiness analyzer reports (docs/feeds.md, "Readiness"): the per-attribute and
per-category summary models, the per-product issues, and their renderings for the issues
list (`GET /v1/feeds/{id}/issues`: CSV, NDJSON, JSON).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from catalog_sync.classify import AttributeSource
from catalog_sync.readiness_checks import TestKind


class Status(StrEnum):
    GREEN = "green"
    ORANGE = "orange"
    RED = "red"


def status_for(passed: int, total: int, threshold: float) -> Status:
    """Green when every product passes, orange from `threshold` (a share 0..1), else red."""
    if passed >= total:
        return Status.GREEN
    return Status.ORANGE if passed / total >= threshold else Status.RED


class ReadinessSettings(BaseModel):
    """How the analyzer grades and summarises (embeddable in a feed file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    orange_threshold: float = Field(
        default=0.8, ge=0, le=1, description="share of passing products from which it is orange"
    )
    top_values: int = Field(default=10, ge=0, le=1000, description="values shown per attribute")
    distribution_capacity: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="distinct values counted exactly per attribute; beyond it the counts "
        "are approximate (the most frequent values are kept)",
    )
    max_supported_values: int = Field(
        default=1000, ge=0, description="predefined values listed per attribute"
    )


@dataclass(frozen=True, slots=True)
class Issue:
    """One failed test of one product (the variant's product_id for per-SKU attributes)."""

    parent_id: str
    product_id: str
    attribute: str
    test: TestKind
    message: str


@dataclass(frozen=True, slots=True)
class ProductResult:
    parent_id: str
    product_id: str  # the main product's
    category_id: str
    variants: int
    issues: tuple[Issue, ...]

    @property
    def ready(self) -> bool:
        return not self.issues


class TestCount(BaseModel):
    __test__ = False

    test: TestKind
    failed: int


class ValueCount(BaseModel):
    value: str
    count: int


class AttributeReadiness(BaseModel):
    name: str
    label: str
    source: AttributeSource
    required: bool = Field(description="required in at least one category (or always)")
    conditionally_required: bool = False
    per_variant: bool
    products: int = Field(description="products the attribute applies to")
    passed: int
    failed: int
    share: float
    status: Status
    tests: list[TestCount] = Field(description="tests of the attribute, products failing each")
    distribution: list[ValueCount] = Field(description="most frequent values")
    distinct_values: int
    distribution_exact: bool
    distribution_tracked: bool = Field(
        default=True, description="false for ids and URLs, unique by design: not counted"
    )
    empty: int = Field(description="products (variants for per-SKU attributes) without a value")
    supported_values: list[str]


class CategoryReadiness(BaseModel):
    category_id: str
    path: str | None
    products: int
    ready: int
    share: float
    status: Status


class ReadinessReport(BaseModel):
    rows: int
    products: int
    ready: int
    share: float
    status: Status
    threshold: float
    attributes: list[AttributeReadiness]
    categories: list[CategoryReadiness]
    categories_truncated: bool = False

    def attribute(self, name: str) -> AttributeReadiness:
        return next(a for a in self.attributes if a.name == name)


# --- issues list (GET /v1/feeds/{id}/issues) -----------------------------------------------

ISSUE_FIELDS = ("parent_id", "product_id", "attribute", "test", "message")


def iter_issues(results: Iterable[ProductResult]) -> Iterator[Issue]:
    for result in results:
        yield from result.issues


def issue_dict(issue: Issue) -> dict[str, str]:
    return {
        "parent_id": issue.parent_id,
        "product_id": issue.product_id,
        "attribute": issue.attribute,
        "test": issue.test.value,
        "message": issue.message,
    }


class _Line:
    def write(self, line: str) -> str:
        return line


def render_issues_csv(issues: Iterable[Issue], *, header: bool = True) -> Iterator[str]:
    """CSV lines (header first), one per issue, for a streaming download."""
    writer = csv.writer(_Line())
    if header:
        yield str(writer.writerow(ISSUE_FIELDS))
    for issue in issues:
        yield str(
            writer.writerow(
                (issue.parent_id, issue.product_id, issue.attribute, issue.test, issue.message)
            )
        )


def render_issues_ndjson(issues: Iterable[Issue]) -> Iterator[str]:
    """One JSON object per line and issue."""
    for issue in issues:
        yield json.dumps(issue_dict(issue), ensure_ascii=False) + "\n"


def render_issues_json(issues: Iterable[Issue]) -> list[dict[str, str]]:
    return [issue_dict(i) for i in issues]
