"""How one image file becomes model input, exactly as the data's validation batches are made.

Each data builder describes its own validation preprocessing as an `InputSpec`, built from the
same objects its validation loader uses (the `BatchTransform`, the torchvision pipeline), so
`predict` and `export` cannot drift from what the model was validated on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from tui_trainer.engine.data.tensor_loader import BatchTransform


def image_to_uint8(img: Image.Image, mode: str) -> torch.Tensor:
    """A PIL image as a (C, H, W) uint8 tensor in `mode` ("L": 1 channel, "RGB": 3)."""
    array = np.asarray(img.convert(mode))
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


@dataclass(frozen=True)
class InputSpec:
    """The model's input and the function that prepares one decoded image for it."""

    size: int  # the square side the model sees
    channels: int  # model input channels
    mean: tuple[float, ...]  # after scaling pixels to [0, 1]
    std: tuple[float, ...]
    mode: str  # "L" or "RGB": what a file is converted to first
    resize: str  # how the image reaches `size`, in words (for the preprocessing JSON)
    prepare: Callable[[Image.Image], torch.Tensor] = dataclasses.field(repr=False, compare=False)
    prepare_file: Callable[[Path], torch.Tensor] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )

    def __call__(self, img: Image.Image) -> torch.Tensor:
        """(channels, size, size) float model input for one image (8-bit pixels, upright)."""
        return self.prepare(img)

    def from_file(self, path: Path) -> torch.Tensor:
        """(channels, size, size) float model input for an image file, decoded as validation
        decodes its files (EXIF orientation, 16-bit scaling, size limit); raises BadImage."""
        if self.prepare_file is not None:
            return self.prepare_file(path)
        from tui_trainer.engine.data.decode import load_upright

        return self.prepare(load_upright(path))

    def describe(self) -> dict[str, Any]:
        """The preprocessing as plain values, for use without tui-trainer."""
        return {
            "image_size": [self.size, self.size],
            "color_mode": self.mode,
            "resize": self.resize,
            "orientation": "the EXIF orientation tag is applied first (image turned upright)",
            "bit_depth": "8-bit pixels; 16-bit: value >> 8; 32-bit float in 0..1: × 255, rounded",
            "scale": "pixel / 255",
            "mean": list(self.mean),
            "std": list(self.std),
            "normalize": "(pixel / 255 - mean) / std, per channel",
            "channels": self.channels,
            "input_shape": ["N", self.channels, self.size, self.size],
            "layout": "NCHW float32",
            **(
                {
                    "repeat_channels": f"the {self.mode} image is repeated to {self.channels} "
                    "channels after normalising"
                }
                if self.mode == "L" and self.channels != 1
                else {}
            ),
        }


def tensor_input_spec(transform: BatchTransform, size: int, mode: str) -> InputSpec:
    """Files for a tensor dataset: 8-bit pixels through the loader's own `BatchTransform`.

    The transform divides by the data's raw scale (16 for digits); a file's pixels are 8-bit,
    so its copy divides by 255, and it resizes any file to the size validation batches have.
    """
    file_transform = dataclasses.replace(transform, scale=255.0, size=size)

    def prepare(img: Image.Image) -> torch.Tensor:
        return file_transform(image_to_uint8(img, mode)[None])[0]

    return InputSpec(
        size=size,
        channels=transform.channels,
        mean=tuple(transform.mean),
        std=tuple(transform.std),
        mode=mode,
        resize="bilinear (torch.nn.functional.interpolate, align_corners=False, no antialias)",
        prepare=prepare,
    )


def folder_input_spec(
    transform: BatchTransform, geometry: Any, mean: tuple[float, ...], std: tuple[float, ...]
) -> InputSpec:
    """Files for image/mask folders: decoded exactly as the validation batches' files are.

    A file goes through the loader's own `decode_rgb` (reduced-size JPEG decode, EXIF
    orientation, 16-bit scaling included), so its pixels equal validation's.
    """
    from tui_trainer.engine.data.decode import decode_rgb, fit_rgb

    def as_input(pixels: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.array(pixels)).permute(2, 0, 1)[None]  # a writable copy
        return transform(x)[0]

    def prepare(img: Image.Image) -> torch.Tensor:
        return as_input(fit_rgb(img, geometry)[0])

    def prepare_file(path: Path) -> torch.Tensor:
        return as_input(decode_rgb(Path(path), geometry)[0])

    how = (
        f"shorter side to {geometry.resize_to}, centre {geometry.size} square cropped"
        if geometry.mode == "center"
        else "squashed to a square"
    )
    return InputSpec(
        size=geometry.size,
        channels=3,
        mean=tuple(mean),
        std=tuple(std),
        mode="RGB",
        resize=f"bilinear with antialias (PIL BILINEAR, reducing_gap 3), {how}",
        prepare=prepare,
        prepare_file=prepare_file,
    )
