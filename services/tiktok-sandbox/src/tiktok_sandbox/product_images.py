"""Uploaded image checks: JPG/PNG only, at most 5 MB, real pixel size from the header."""

from __future__ import annotations

import os
import struct

from . import product_codes as C
from .errors import ApiError

MAX_BYTES = 5 * 1024 * 1024
USE_CASES = frozenset(
    {
        "MAIN_IMAGE",
        "ATTRIBUTE_IMAGE",
        "DESCRIPTION_IMAGE",
        "CERTIFICATION_IMAGE",
        "SIZE_CHART_IMAGE",
    }
)
URI_PREFIX = "tos-maliva-i-o3syd03w52-us/"


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        # SOF0..SOF15 carry the frame size; C4/C8/CC are other tables with that byte range.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(width), int(height)
        i += 2 + length
    return None


def inspect_image(data: bytes, use_case: str) -> tuple[str, int, int]:
    """(format, width, height) of a valid upload, else the API error to return."""
    if use_case not in USE_CASES:
        raise ApiError(C.PARAM_INVALID, "param use_case is invalid")
    if not data:
        raise ApiError(C.PARAM_INVALID, "param data is missing")
    if len(data) > MAX_BYTES:
        raise ApiError(C.IMAGE_INVALID, "The image cannot exceed 5 MB.")
    png = _png_size(data)
    if png:
        return "png", *png
    jpeg = _jpeg_size(data)
    if jpeg:
        return "jpeg", *jpeg
    raise ApiError(C.IMAGE_INVALID, "Only JPG and PNG images are supported.")


def new_uri() -> str:
    return URI_PREFIX + os.urandom(16).hex()
