"""Routes: catalog."""

from fastapi import APIRouter

router = APIRouter()
