"""Routes: events."""

from fastapi import APIRouter

router = APIRouter()
