"""Base of the area APIs: the request engine bound to one authorization and shop."""

from __future__ import annotations

from .core import ApiCaller, ShopRef


class AreaApi:
    def __init__(self, caller: ApiCaller, shop: ShopRef) -> None:
        self._caller = caller
        self._shop = shop
