"""Routes: fulfillment."""

from fastapi import APIRouter

router = APIRouter()
