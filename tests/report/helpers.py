"""Small checks shared by the report tests."""

from __future__ import annotations

from pathlib import Path

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels from the IHDR chunk; asserts the file is a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_MAGIC, f"{path} is not a PNG"
    assert head[12:16] == b"IHDR", f"{path}: first chunk is not IHDR"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def assert_valid_png(path: Path, min_px: int = 200) -> None:
    assert path.is_file(), f"missing {path}"
    width, height = png_size(path)
    assert width > min_px and height > min_px, f"{path}: {width}x{height} px"
