"""All in-memory sandbox state, behind one re-entrant lock.

CONTRACT shared by the sandbox modules:
- `SandboxState(settings)` holds `settings`, `clock` (`Clock`), `lock` (a
  `threading.RLock`: take it around every read-modify-write), `stats`,
  `products` (the product store, owned by the products module),
  `orders` (`OrderStore`, orders.py), `webhooks` (`WebhookDispatcher`, webhooks.py),
  the seeded sellers/shops/apps and the OAuth codes/tokens.
- `shop(shop_id)` -> the seeded shop dict (id, name, region, seller_type, cipher, code, seller_id).
- Product store lookups used by orders: `products.get_sku(shop_id, sku_id)` and
  `products.find_by_seller_sku(shop_id, seller_sku)` -> dict with keys
  product_id, sku_id, seller_sku, product_name, sku_name, price (amount str), currency, image_url
  or None.
"""
