"""Decoding image files straight to the small uint8 arrays training uses.

- JPEG is decoded at reduced size when the target is much smaller (`Image.draft`: libjpeg's
  DCT scaling gives 1/2, 1/4 or 1/8 of the size directly, skipping most of the decode work);
  other formats are decoded whole. PIL (libjpeg-turbo) is the fastest decoder installed for
  every format here; torchvision.io.decode_jpeg cannot decode at reduced size.
- Resizing is antialiased (PIL's BILINEAR filter widens its support when shrinking, like
  torchvision's `antialias=True`); masks use NEAREST so no in-between class appears.
- Geometry: `resize` squashes to size x size (the whole image, aspect not kept); `center`
  resizes the shorter side to `resize_to` and crops the centre `size` x `size` (the usual
  validation transform for fine-tuning).

- Orientation: the EXIF orientation tag is applied (as image viewers and annotation tools do),
  to images and masks alike, each by its own tag; the small resized image is turned, not the
  whole decode.
- Pixels: 16-bit and float images are scaled to 8 bits by their range, or refused naming the
  mode (pixels.py); masks keep their values (class ids, 16-bit ones included).
- Size: an image whose decode would hold more than MAX_PIXELS pixels (after the JPEG reduction)
  is refused before anything is decoded, so one huge file cannot take gigabytes of memory.

A file that cannot be read raises `BadImage`, whose message names the file and says why.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from tui_trainer.engine.data.pixels import PixelModeError, label_values, to_eight_bit

# PIL's own check at open, on the declared size: a JPEG this large still decodes at 1/8 scale.
Image.MAX_IMAGE_PIXELS = 400_000_000
MAX_PIXELS = 100_000_000  # the most pixels one image is decoded to (10000 x 10000)
JPEG_FORMATS = ("JPEG", "MPO")  # decoded at reduced size (`draft`)
ORIENTATION = 0x0112  # the EXIF tag
TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
TURNS_SIDEWAYS = (5, 6, 7, 8)  # width and height swap


class BadImage(Exception):
    """A sample that cannot be used; the message is one line naming the file.

    `reason` is the same without the file's name (for lists that name it already).
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


@dataclass(frozen=True)
class Geometry:
    """How a decoded image becomes the stored array: `mode` resize | center, output `size`."""

    size: int
    mode: str = "resize"  # resize: squash to size x size; center: shorter side, centre crop
    resize_to: int = 0  # center: the shorter side's length before the crop (>= size)

    def key(self) -> str:
        """A short text that changes whenever the stored array would (cache keys)."""
        return f"{self.mode}{self.size}-{self.resize_to}"

    def plan(self, width: int, height: int) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
        """((resized width, height), crop box in the resized image) for a width x height image."""
        if self.mode == "resize":
            return (self.size, self.size), (0, 0, self.size, self.size)
        short = self.resize_to or self.size
        scale = short / min(width, height)
        w, h = max(self.size, round(width * scale)), max(self.size, round(height * scale))
        left, top = (w - self.size) // 2, (h - self.size) // 2
        return (w, h), (left, top, left + self.size, top + self.size)


def _open(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except FileNotFoundError:
        raise BadImage(
            f"image '{path}' is missing (deleted or moved since the folder was listed)",
            "missing (deleted or moved since the folder was listed)",
        ) from None
    except UnidentifiedImageError:
        why = "not an image file (PIL cannot identify it)"
        raise BadImage(f"cannot read image '{path}': {why}", why) from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise BadImage(f"cannot read image '{path}': {_reason(exc)}", _reason(exc)) from None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def check_pixels(img: Image.Image, path: Path | str, what: str = "image") -> None:
    """BadImage when decoding `img` at its current size would exceed MAX_PIXELS."""
    width, height = img.size
    if width * height > MAX_PIXELS:
        reason = (
            f"{width}x{height} is {width * height / 1e6:.0f} megapixels, over the "
            f"{MAX_PIXELS // 1_000_000}-megapixel limit for decoding one {what} (shrink it first)"
        )
        raise BadImage(f"{what} '{path}': {reason}", reason)


def orientation(img: Image.Image) -> int:
    """The EXIF orientation (1..8; 1 = as stored). Loads a PNG (its EXIF may follow the data)."""
    try:
        value = img.getexif().get(ORIENTATION, 1)
    except Exception:  # a damaged EXIF block: the pixels themselves may be fine
        return 1
    return value if isinstance(value, int) and value in TRANSPOSE else 1


def turns_sideways(path: Path) -> bool:
    """Whether the file's EXIF orientation swaps its width and height (False if unreadable)."""
    try:
        with Image.open(path) as img:
            return orientation(img) in TURNS_SIDEWAYS
    except Exception:
        return False


def _turn(img: Image.Image, orient: int) -> Image.Image:
    method = TRANSPOSE.get(orient)
    return img.transpose(method) if method is not None else img


@contextmanager
def _decoding(path: Path, what: str) -> Iterator[None]:
    """What decoding `path` raises, as one BadImage naming the file (`what`: image or mask):
    an unsupported pixel mode says so; truncated or garbled data surfaces at decode time."""
    try:
        yield
    except BadImage:
        raise
    except PixelModeError as exc:
        raise BadImage(f"{what} '{path}': {exc}", str(exc)) from None
    except Exception as exc:
        raise BadImage(f"cannot decode {what} '{path}': {_reason(exc)}", _reason(exc)) from None


def decode_rgb(path: Path, geometry: Geometry) -> tuple[np.ndarray, tuple[int, int]]:
    """(H, W, 3) uint8 pixels at the geometry's size, and the file's upright (width, height)."""
    img = _open(path)
    with _decoding(path, "image"), img, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        return fit_rgb(img, geometry, path)


def fit_rgb(
    img: Image.Image, geometry: Geometry, path: Path | str = "<image>"
) -> tuple[np.ndarray, tuple[int, int]]:
    """(H, W, 3) uint8 pixels of an opened image at the geometry's size, and its upright size.

    A JPEG that is not loaded yet is decoded at reduced size (`draft`); training, validation and
    `predict` all go through here, so a file becomes the same pixels everywhere. The image is
    resized as stored and turned upright (EXIF orientation) once small.
    """
    jpeg = img.format in JPEG_FORMATS
    if not jpeg:
        check_pixels(img, path)  # before `orientation`, which may decode a PNG
    orient = orientation(img)
    sideways = orient in TURNS_SIDEWAYS
    stored = img.size
    upright = (stored[1], stored[0]) if sideways else stored
    (w, h), box = geometry.plan(*upright)
    target = (h, w) if sideways else (w, h)  # the resized size before turning
    if jpeg:
        img.draft("RGB", target)  # at least `target`: the largest 1/2^k scale that fits
        check_pixels(img, path)
    rgb = to_eight_bit(img).convert("RGB")
    if rgb.size != target:
        rgb = rgb.resize(target, Image.Resampling.BILINEAR, reducing_gap=3.0)
    rgb = _turn(rgb, orient)
    if box != (0, 0, w, h):
        rgb = rgb.crop(box)
    return np.asarray(rgb), upright


def load_upright(path: Path) -> Image.Image:
    """The whole image, loaded, upright (EXIF orientation) and in 8-bit pixels (L, RGB, ...).

    For outputs at the image's own size (`predict`'s masks and overlays). Raises BadImage.
    """
    img = _open(path)
    with _decoding(path, "image"), img, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        check_pixels(img, path)
        orient = orientation(img)
        img.load()
        return _turn(to_eight_bit(img), orient).copy()


def decode_mask(path: Path) -> np.ndarray:
    """A mask file's raw (H, W) values, upright: palette indices for 'P' images (GIF), gray
    levels, 16-bit class ids; never scaled (pixels.label_values)."""
    img = _open(path)
    with _decoding(path, "mask"), img:
        check_pixels(img, path, "mask")
        orient = orientation(img)
        return label_values(_turn(img, orient))


def resize_nearest(values: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Class-index (H, W) uint8 array through the same geometry as its image, by NEAREST."""
    h, w = values.shape
    (rw, rh), box = geometry.plan(w, h)
    img = Image.fromarray(values)
    if (rw, rh) != (w, h):
        img = img.resize((rw, rh), Image.Resampling.NEAREST)
    if box != (0, 0, rw, rh):
        img = img.crop(box)
    return np.asarray(img)
