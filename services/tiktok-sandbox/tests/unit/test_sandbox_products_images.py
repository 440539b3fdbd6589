"""Upload checks: format sniffing and pixel size from PNG and JPEG headers."""

from __future__ import annotations

import struct

import pytest
from tiktok_sandbox.errors import ApiError
from tiktok_sandbox.product_images import MAX_BYTES, inspect_image
from tiktok_sandbox.testing import sample_png


def jpeg_header(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    dht = b"\xff\xc4" + struct.pack(">H", 5) + b"\x00\x00\x00"  # C4 is not a frame header
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + dht + sof0 + b"\xff\xd9"


def test_png_size() -> None:
    assert inspect_image(sample_png(123, 45), "MAIN_IMAGE") == ("png", 123, 45)


def test_jpeg_size_skips_non_frame_segments() -> None:
    assert inspect_image(jpeg_header(800, 600), "DESCRIPTION_IMAGE") == ("jpeg", 800, 600)


@pytest.mark.parametrize(
    ("data", "use_case", "code"),
    [
        (b"GIF89a" + b"\x00" * 20, "MAIN_IMAGE", 12052300),
        (b"", "MAIN_IMAGE", 36009004),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * MAX_BYTES, "MAIN_IMAGE", 12052300),
        (sample_png(1, 1), "NOT_A_USE_CASE", 36009004),
    ],
    ids=["gif", "empty", "over-5MB", "bad-use-case"],
)
def test_rejections(data: bytes, use_case: str, code: int) -> None:
    with pytest.raises(ApiError) as info:
        inspect_image(data, use_case)
    assert info.value.code == code
