"""Authorization area: the shops a token covers (no shop_cipher on /authorization/*)."""

from __future__ import annotations

from . import operations as ops
from ._area import AreaApi
from .models.auth import AuthorizedShops


class AuthorizationApi(AreaApi):
    async def get_authorized_shops(self) -> AuthorizedShops:
        data = await self._caller.call(ops.GET_AUTHORIZED_SHOPS, self._shop)
        return self._parse(ops.GET_AUTHORIZED_SHOPS, AuthorizedShops, data)
