"""Routes: logistics."""

from fastapi import APIRouter

router = APIRouter()
