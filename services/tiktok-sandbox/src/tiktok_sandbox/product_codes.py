"""Product error codes and messages in one place.

Documented codes ("Create Product 202309", "Common errors") are used where they exist; the
ones marked "inferred" have no public source, are stable here, and are listed in
docs/sandbox.md.
"""

from __future__ import annotations

CATEGORY_NOT_FOUND = 12052023
CATEGORY_NOT_LEAF = 12052024
CATEGORY_VERSION_MISMATCH = 12052230
CATEGORY_VERSION_US_V2 = 12052217
CATEGORY_NO_PERMISSION = 12052220  # inferred
BRAND_NOT_FOUND = 12052026
BRAND_UNAUTHORIZED = 12052201
MAIN_IMAGE_REQUIRED = 12052028
MAIN_IMAGE_TOO_MANY = 12052029  # inferred
IMAGE_NOT_UPLOADED = 12052030  # inferred
DESCRIPTION_REQUIRED = 12052015
DESCRIPTION_INVALID = 12052013  # documented for length; also used for disallowed tags
SKU_REQUIRED = 12052049  # inferred
SKU_TOO_MANY = 12052050
TITLE_LENGTH = 12052051
SELLER_SKU_TOO_LONG = 12052054
SELLER_SKU_DUPLICATE = 12052056  # inferred (in the product or in the shop)
PRICE_INVALID = 12052060  # inferred (missing/not a decimal/out of range)
CURRENCY_INVALID = 12052061  # inferred
SALES_ATTRIBUTE_INVALID = 12019030  # SKU IQ
ATTRIBUTE_REQUIRED = 12052104
ATTRIBUTE_INVALID = 12052105  # inferred (unknown attribute or value)
WAREHOUSE_NOT_FOUND = 12052097
STOCK_OUT_OF_RANGE = 12019024  # SKU IQ
PACKAGE_UNIT_INVALID = 12052080  # inferred
PACKAGE_WEIGHT_REQUIRED = 12052081  # inferred
IDENTIFIER_INVALID = 12052090  # inferred
PRODUCT_NOT_FOUND = 12019150
PRODUCT_NOT_IN_SHOP = 12052048
PRODUCT_STATUS_INVALID = 12052700  # inferred: the operation is not allowed in this status
SKU_NOT_FOUND = 12052701  # inferred
BATCH_FAILED = 12052990  # batch wrapper (code of data.errors[] items when several fail)
SEARCH_CAP = 12052180
NO_VERSION_UNDER_REVIEW = 12052547  # Get Product 202309, return_under_review_version=true
IMAGE_INVALID = 12052300  # inferred
PARAM_INVALID = 36009004

PRODUCT_NOT_FOUND_MSG = "Product does not exist."
NO_VERSION_UNDER_REVIEW_MSG = (
    "There is no version of this product that is under review. Please obtain the online version."
)
