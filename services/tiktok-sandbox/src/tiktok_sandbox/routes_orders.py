"""Routes: orders."""

from fastapi import APIRouter

router = APIRouter()
