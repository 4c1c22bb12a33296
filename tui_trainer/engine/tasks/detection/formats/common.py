"""What the three readers share: the box check (clip or refuse), image sizes, one-line errors.

Box rule, the same in every format (boxes first converted to xyxy pixels of the image):
- a box whose width or height is not positive is refused;
- an edge outside the image by at most `ROUNDING` of its side (the rounding of normalised
  coordinates written with 6 digits) is set on the image's edge silently;
- an edge outside the image by at most `TOLERANCE` of that image side (1%: annotation tools
  that let a box overhang the image a little) is clipped to the image, and the reader adds ONE
  note counting the clipped boxes;
- an edge further outside is refused, naming the file and line (or JSON key) and the box;
- a box that clipping leaves with no area (it lay in the 1% band outside) is refused too.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from tui_trainer.engine.data.decode import TURNS_SIDEWAYS, orientation
from tui_trainer.errors import UserError

TOLERANCE = 0.01  # of the image side: how far outside a box edge may lie and still be clipped
ROUNDING = 1e-5  # of the image side: outside by this little is rounding (6-digit YOLO files)
KEY = "data.root"


def bad(where: str, text: str) -> UserError:
    """The one-line refusal of a data file: `<file[:line]>: data.root: <text>`."""
    return UserError(text, key=KEY, location=where)


def shown(path: Path | str) -> str:
    """A path as error messages and notes show it."""
    return str(path)


class BoxCheck:
    """Checks and clips boxes against their image, counting the clipped ones."""

    def __init__(self) -> None:
        self.clipped = 0

    def check(
        self,
        box: tuple[float, float, float, float],
        width: int,
        height: int,
        where: str,
        what: str = "",
    ) -> list[float]:
        """The box (x1, y1, x2, y2 pixels) clipped to a width x height image; UserError if bad.

        `where`: the file (and line); `what`: what the message starts with (a JSON key)."""
        x1, y1, x2, y2 = box
        text = f"{what}box ({x1:.6g}, {y1:.6g}, {x2:.6g}, {y2:.6g}) in a {width}x{height} image"
        if not all(math.isfinite(v) for v in box):
            raise bad(where, f"{text}: not a finite number")
        if x2 <= x1 or y2 <= y1:
            raise bad(where, f"{text}: width and height must be positive")
        tol_x, tol_y = TOLERANCE * width, TOLERANCE * height
        if x1 < -tol_x or y1 < -tol_y or x2 > width + tol_x or y2 > height + tol_y:
            raise bad(
                where,
                f"{text}: outside the image by more than {TOLERANCE:.0%} of its side "
                "(wrong image size, or not this image's label?)",
            )
        clipped = [min(max(x1, 0.0), width), min(max(y1, 0.0), height)]
        clipped += [min(max(x2, 0.0), width), min(max(y2, 0.0), height)]
        if clipped != [x1, y1, x2, y2]:
            if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
                raise bad(where, f"{text}: lies outside the image")
            moved = max(
                abs(a - b) / side
                for a, b, side in zip(
                    clipped, (x1, y1, x2, y2), (width, height, width, height), strict=True
                )
            )
            if moved > ROUNDING:
                self.clipped += 1
        return clipped

    def note(self) -> list[str]:
        """The one note counting clipped boxes (nothing when none were)."""
        if not self.clipped:
            return []
        return [
            f"clipped {self.clipped} box(es) slightly outside their image "
            f"(within {TOLERANCE:.0%} of its side) to the image"
        ]


def image_size(path: Path, where: str, what: str = "") -> tuple[int, int]:
    """The upright (width, height) of an image file, read from its header (not decoded).

    The EXIF orientation is applied (a portrait photo stored sideways has width and height
    swapped), since labels are drawn on the upright image. UserError at `where` (starting with
    `what`) if it is missing or not an image.
    """
    try:
        with Image.open(path) as img:
            width, height = img.size
            # A PNG's EXIF may follow its pixel data: read it only when it came with the header.
            header_exif = img.format != "PNG" or "exif" in img.info
            turned = header_exif and orientation(img) in TURNS_SIDEWAYS
    except FileNotFoundError:
        raise bad(where, f"{what}image '{path}' not found") from None
    except UnidentifiedImageError:
        raise bad(where, f"{what}'{path}' is not an image file (PIL cannot identify it)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise bad(where, f"{what}cannot read image '{path}': {exc}") from None
    return (height, width) if turned else (width, height)


def require_file(path: Path, where: str, what: str = "") -> None:
    """UserError at `where` (starting with `what`) when the image file `path` is not there."""
    if not path.is_file():
        raise bad(where, f"{what}image '{path}' not found")


def number(text: str) -> float | None:
    """A float from a label field, or None if it is not a number."""
    try:
        return float(text)
    except ValueError:
        return None
