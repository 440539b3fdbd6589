"""Access scopes: the names the sandbox grants and the one scope each Open API operation needs.

TikTok's token samples ("Authorization overview") confirm only `seller.order.info`,
`seller.product.write` and `seller.fulfillment.basic` (token `granted_scopes`); the other
names and the whole operation → scope mapping are [inferred]. A token lacking the operation's
scope gets 105005 ("Common errors") right after the token check (`security.py`).
"""

from __future__ import annotations

from functools import lru_cache

AUTHORIZATION_INFO = "seller.authorization.info"
SHOP_INFO = "seller.shop.info"
PRODUCT_BASIC = "seller.product.basic"
PRODUCT_WRITE = "seller.product.write"
PRODUCT_DELETE = "seller.product.delete"
ORDER_INFO = "seller.order.info"
FULFILLMENT_BASIC = "seller.fulfillment.basic"
LOGISTICS = "seller.logistics"
WEBHOOK = "seller.webhook"

# Canonical order: `granted_scopes` lists a grant's scopes in this order.
ALL_SCOPES: tuple[str, ...] = (
    AUTHORIZATION_INFO,
    SHOP_INFO,
    PRODUCT_BASIC,
    PRODUCT_WRITE,
    PRODUCT_DELETE,
    ORDER_INFO,
    FULFILLMENT_BASIC,
    LOGISTICS,
    WEBHOOK,
)

# Verbatim from the partner docs' "Common errors" page (docv2/page/common-errors).
ACCESS_DENIED_CODE = 105005
ACCESS_DENIED = (
    "Access denied. The app is not authorized to access the endpoint because the access "
    "scopes granted for the app or the access token do not contain the required access "
    "scope for the endpoint."
)

# First path segment → scope, for every category except products (split by method below).
_CATEGORY_SCOPE = {
    "authorization": AUTHORIZATION_INFO,
    "order": ORDER_INFO,
    "fulfillment": FULFILLMENT_BASIC,
    "logistics": LOGISTICS,
    "event": WEBHOOK,
}

# Product-category POSTs that only read (search-style bodies), after the version segment.
_PRODUCT_READ_POSTS = frozenset({"products/search", "inventory/search", "categories/recommend"})


class UnmappedOperationError(LookupError):
    """An Open API route with no scope rule: a sandbox bug, never a client's fault."""


@lru_cache(maxsize=256)
def required_scope(operation: str) -> str:
    """The scope `METHOD /path/template` needs, e.g. `POST /product/202309/products`.

    Fails loudly for an unknown category so that a new route cannot silently skip
    the check (every signed route is covered by a test in `test_sandbox_auth_scopes`).
    """
    method, _, template = operation.partition(" ")
    segments = template.strip("/").split("/")
    category = segments[0]
    if category in _CATEGORY_SCOPE:
        return _CATEGORY_SCOPE[category]
    if category != "product":
        raise UnmappedOperationError(operation)
    resource = "/".join(segments[2:])  # drop "product" and the version
    if method == "GET" or (method == "POST" and resource in _PRODUCT_READ_POSTS):
        return PRODUCT_BASIC
    if method == "DELETE" and resource == "products":
        return PRODUCT_DELETE
    # Create, edit, partial edit, price/stock, (de)activate, recover, image upload and
    # listing check (a dry run of create: only useful to an app that may create).
    return PRODUCT_WRITE


def parse_requested(value: object) -> tuple[str, ...]:
    """Validate `scopes` from `POST /sandbox/v1/authorizations`; returns canonical order.

    Raises ValueError with a message that names the offending value (never a secret).
    """
    if not isinstance(value, list) or not value:
        raise ValueError("param body.scopes must be a non-empty list of scope names")
    unknown = [s for s in value if not isinstance(s, str) or s not in ALL_SCOPES]
    if unknown:
        raise ValueError(f"param body.scopes has unknown scopes: {unknown!r}")
    wanted = set(value)
    return tuple(s for s in ALL_SCOPES if s in wanted)
