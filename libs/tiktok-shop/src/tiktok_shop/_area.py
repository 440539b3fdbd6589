"""Base of the area APIs: the request engine bound to one authorization and shop."""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic

from .core import ApiCaller, ShopRef
from .errors import OutcomeUnknownError, ServerError
from .models.common import invalid_fields
from .operations import Operation

M = TypeVar("M", bound=pydantic.BaseModel)


class AreaApi:
    def __init__(self, caller: ApiCaller, shop: ShopRef) -> None:
        self._caller = caller
        self._shop = shop

    @staticmethod
    def _parse(op: Operation, model: type[M], data: Any) -> M:
        """`data` of a successful answer as `model`; a misfit is a typed error, never pydantic's.

        The answer said code 0, so a write took effect: for a non-idempotent write the
        caller must reconcile before sending it again (OutcomeUnknownError). For anything
        else repeating gets the same answer, hence not retriable. The pydantic error is
        dropped (`from None`): its `.errors()` keep the raw input.
        """
        try:
            return model.model_validate(data)
        except pydantic.ValidationError as exc:
            what = f"{op.name}: answer does not fit {model.__name__} ({invalid_fields(exc)})"
            if not op.idempotent:
                raise OutcomeUnknownError(
                    f"{what}; the write was applied, reconcile before sending it again",
                    operation=op.name,
                ) from None
            raise ServerError(what, retriable=False) from None
