"""Pixels of any PIL mode as what training uses: 8-bit images, integer label masks.

PIL's own `convert("RGB")` clips instead of scaling: a 16-bit gray PNG ('I;16') comes out
almost all 255 and a float TIFF ('F', values in 0..1) all zeros. Here each mode is turned into
8 bits by its range, or refused with a reason that names the mode:

- 8-bit modes (L, P, RGB, RGBA, CMYK, ...; 16-bit RGB(A) PNGs, which PIL reads as 8-bit) are
  left to `convert`;
- 16-bit gray ('I;16', 'I;16B', ...) keeps its high byte (value >> 8: 65535 → 255);
- 32-bit integer ('I') is read as 16-bit when its values lie in 0..65535, refused otherwise;
- float ('F') is read as 0..1 when its values lie there (× 255, rounded), refused otherwise.

Masks are label images: their values are class ids and are never scaled (a 16-bit mask with
ids such as 300 is fine); a float mask is accepted only when every value is a whole number.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

EIGHT_BIT_MODES = frozenset(
    {"1", "L", "P", "LA", "PA", "La", "RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "LAB", "HSV"}
)
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
LABEL_MODES = frozenset({"1", "L", "P", "I", *SIXTEEN_BIT_MODES})  # values read as they are
MODE_NAMES = {"I": "32-bit integer", "F": "32-bit float"} | {m: "16-bit" for m in SIXTEEN_BIT_MODES}


class PixelModeError(ValueError):
    """Pixels that cannot be turned into 8-bit ones (or labels) faithfully; one-line reason."""


def describe_mode(mode: str) -> str:
    """`mode I;16 (16-bit)`: the PIL mode and, where it helps, its depth."""
    name = MODE_NAMES.get(mode)
    return f"mode {mode} ({name})" if name else f"mode {mode}"


def _range(values: np.ndarray) -> str:
    if values.size == 0:
        return "no pixels"
    return f"values {values.min():g}..{values.max():g}"


def to_eight_bit(img: Image.Image) -> Image.Image:
    """`img` itself when its mode is 8-bit, else an 'L' image scaled by its mode's range.

    Raises PixelModeError naming the mode when the values cannot be mapped faithfully.
    """
    mode = img.mode
    if mode in EIGHT_BIT_MODES:
        return img
    if mode in SIXTEEN_BIT_MODES:
        values = np.asarray(img).astype(np.uint16, copy=False)
        return Image.fromarray((values >> 8).astype(np.uint8), mode="L")
    if mode == "I":
        values = np.asarray(img)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise PixelModeError(
                f"{describe_mode(mode)} pixels with {_range(values)}: expected 0..65535 "
                "(16-bit); convert it to 8 or 16 bits"
            )
        return Image.fromarray((values.astype(np.uint32) >> 8).astype(np.uint8), mode="L")
    if mode == "F":
        values = np.asarray(img)
        if not np.isfinite(values).all():
            raise PixelModeError(f"{describe_mode(mode)} pixels include NaN or infinity")
        if values.size and (values.min() < 0 or values.max() > 1):
            raise PixelModeError(
                f"{describe_mode(mode)} pixels with {_range(values)}: expected 0..1; "
                "convert it to 8 or 16 bits"
            )
        return Image.fromarray(np.rint(values * 255).astype(np.uint8), mode="L")
    raise PixelModeError(f"{describe_mode(mode)} pixels are not supported; convert it to RGB")


def label_values(img: Image.Image) -> np.ndarray:
    """A mask's (H, W) class-id values, unscaled: palette indices, gray levels, 16-bit ids.

    Colour masks are read as gray levels (as before); a float mask must hold whole numbers.
    Raises PixelModeError naming the mode otherwise.
    """
    mode = img.mode
    if mode == "1":
        return np.array(img, dtype=np.uint8)
    if mode in LABEL_MODES:
        values = np.array(img)
        return values.astype(np.uint16) if values.dtype.byteorder == ">" else values
    if mode == "PA":  # palette indices with alpha: the indices are the labels
        return np.array(img)[..., 0]
    if mode in ("RGB", "RGBA", "LA", "La", "RGBa", "RGBX"):
        return np.array(img.convert("L"))
    if mode == "F":
        values = np.asarray(img)
        whole = np.isfinite(values).all() and (np.rint(values) == values).all()
        if not whole or (values.size and (values.min() < 0 or values.max() > 65535)):
            raise PixelModeError(
                f"{describe_mode(mode)} mask with {_range(values)}: a mask holds whole-number "
                "class values (8 or 16 bits)"
            )
        return values.astype(np.uint16)
    raise PixelModeError(f"{describe_mode(mode)} masks are not supported; save it as 8-bit PNG")
