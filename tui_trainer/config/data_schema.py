"""The `data:` section of a run's schema: which dataset, how it is read, split, normalised and
augmented (a section of `config.schema.RunConfig`, kept apart so each module has one job)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from tui_trainer.config.datasets import (  # noqa: F401 - DataName is re-exported
    CODE_DATA,
    DataName,
    check_data_name,
    is_user_data,
    task_datasets,
)
from tui_trainer.config.sections import Section


def _list_as_tuple(value: Any) -> Any:
    """YAML has no tuples: a list is accepted where the schema keeps a fixed-length tuple."""
    return tuple(value) if isinstance(value, list) else value


class NormalizeConfig(Section):
    """Per-channel normalisation applied after scaling pixels to [0, 1]."""

    mean: list[float] = Field(description="Per-channel mean (one value per channel).")
    std: list[float] = Field(description="Per-channel standard deviation (positive).")

    @field_validator("std")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(s <= 0 for s in v):
            raise ValueError("every std must be > 0")
        return v


class MixupConfig(Section):
    """Mixup: blend two images and their labels by λ ~ Beta(alpha, alpha)."""

    alpha: float = Field(
        0.2, gt=0, description="Beta(alpha, alpha) concentration of the mixing weight λ."
    )
    prob: float = Field(
        0.0, ge=0, le=1, description="Fraction of training batches it is applied to (0 = off)."
    )


class CutMixConfig(MixupConfig):
    """CutMix: paste a box of another image (area 1 − λ); the labels mix by area."""

    alpha: float = Field(
        1.0, gt=0, description="Beta(alpha, alpha) concentration of the kept area λ."
    )


class AugmentConfig(Section):
    """Light training-time augmentation (applied to training batches only)."""

    hflip: bool = Field(False, description="Random horizontal flip with probability 0.5.")
    crop_padding: int = Field(
        0, ge=0, description="Random crop after zero-padding by this many pixels (0 = off)."
    )
    mixup: MixupConfig = Field(
        default_factory=MixupConfig,
        description="Mixup (classification): blend two images and their labels by λ.",
    )
    cutmix: CutMixConfig = Field(
        default_factory=CutMixConfig,
        description="CutMix (classification): paste a box of another image; labels by area.",
    )
    scale: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Detection: scale jitter, each training image zoomed by a factor drawn from "
        "[1 - scale, 1 + scale] with its boxes (0 = off).",
    )
    color: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Detection: colour jitter strength (brightness, contrast, saturation; "
        "0 = off).",
    )
    mosaic: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Detection: probability that a training image is a mosaic of four (the YOLO "
        "recipe; 0 = off).",
    )
    mosaic_until: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Detection: mosaic only in this first fraction of the epochs (the YOLO "
        "tutorial's special_aug_ratio, 0.7); the last epochs train on whole images.",
    )


class DataConfig(Section):
    """Where the images come from and how they are batched."""

    name: str = Field(
        "digits",
        description=f"Dataset: {' | '.join(task_datasets('classification'))} (classification); "
        f"{' | '.join(task_datasets('segmentation'))} (segmentation); "
        f"{' | '.join(task_datasets('detection'))} (detection); or your own "
        f"torch.utils.data.Dataset subclass as {CODE_DATA}, built with data.kwargs, whose "
        "items are the task's (image, label | mask | target dict). Presets that name Python "
        "code are code: only use presets you trust.",
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="module:Class data: the dataset's constructor arguments (training set).",
    )
    val_kwargs: dict[str, Any] | None = Field(
        None,
        description="module:Class data: constructor arguments of a separate validation set "
        "(null: data.val_split of the training set is held out, seeded).",
    )
    root: str | None = Field(
        None,
        description="Folder with the data (cifar10, imagefolder, segfolder; yolo: the folder of "
        "data.yaml or the yaml file; coco: the folder of annotations/; voc: VOCdevkit or "
        "VOCdevkit/VOC2007). Relative to the cwd.",
    )
    batch_size: int = Field(
        64, ge=1, description="Micro-batch size (per optimizer step: × accumulate)."
    )
    val_batch_size: int | None = Field(
        None, ge=1, description="Validation batch size (default: 2 × batch_size)."
    )
    num_workers: int | Literal["auto"] = Field(
        "auto",
        description="imagefolder, segfolder, yolo, coco, voc, module:Class: DataLoader worker "
        "processes that decode (and, for detection, augment) images; "
        "auto = the CPU cores this process may use (shared by the processes of a multi-process "
        "run), at most 8; 0 decodes in the main process. In-memory data needs none (detshapes "
        "augments in workers only when given a number).",
    )
    cache: Literal["none", "ram", "disk"] = Field(
        "ram",
        description="imagefolder, segfolder: keep decoded, resized images so that only the "
        "first epoch decodes: ram (this run; refused with a warning when it would not fit in "
        "half the free memory) | disk (data.cache_dir, reused by later runs) | none.",
    )
    cache_dir: str | None = Field(
        None,
        description="data.cache=disk: folder of cached images (default $TUI_TRAINER_CACHE, "
        "else ~/.cache/tui-trainer/images); delete it to clear the cache.",
    )
    transform: Literal["resize", "finetune"] = Field(
        "resize",
        description="imagefolder: resize = squash to image_size (+ data.augment); finetune = "
        "the pretrained-model recipe: RandomResizedCrop for training (flipped only with "
        "data.augment.hflip=true), for validation the shorter side resized to data.val_resize "
        "(default image_size/0.875) and the centre image_size square cropped. The training crop "
        "is drawn from a stored copy squashed to image_size/0.875 square (smaller images "
        "upsampled), not from the original file as torchvision's RandomResizedCrop does.",
    )
    val_resize: int | None = Field(
        None,
        ge=4,
        description="imagefolder, data.transform=finetune: the validation images' shorter side "
        "before the centre crop, >= image_size (torchvision's --val-resize-size); null = "
        "round(image_size / 0.875). predict and export prepare files the same way.",
    )
    on_bad_image: Literal["fail", "skip"] = Field(
        "fail",
        description="imagefolder, segfolder: an unreadable image or mismatched mask fails the "
        "run naming the file, or is skipped with a warning and a count.",
    )
    val_split: float = Field(
        0.2, gt=0, lt=1, description="Fraction held out for validation when there is no val set."
    )
    image_size: int | None = Field(
        None,
        ge=4,
        description="Resize images to this square size (default: the dataset's own; "
        "module:Class data: the first image's longer side, detection 640).",
    )
    normalize: NormalizeConfig | None = Field(
        None,
        description="Normalisation; default: the dataset's usual mean/std (module:Class data: "
        "none, pixels stay in [0, 1]).",
    )
    augment: AugmentConfig = Field(
        default_factory=AugmentConfig,
        description="Training-time augmentation (validation images are never augmented).",
    )
    num_samples: int = Field(2048, ge=2, description="fake, shapes: number of generated images.")
    num_classes: int | None = Field(
        None,
        ge=1,
        description="fake: number of classes (default 10); shapes: 2 = binary (shape vs "
        "background, the default) or 4 = background, ellipse, rectangle, triangle; detshapes: "
        "kinds of shape to detect (default 3); module:Class data: the classes when the dataset "
        "has no `classes` list or `num_classes` attribute.",
    )
    max_shapes: int = Field(
        3, ge=1, le=8, description="shapes, detshapes: at most this many per image."
    )
    images_dir: str = Field("images", description="segfolder: image folder under data.root.")
    masks_dir: str = Field("masks", description="segfolder: mask folder under data.root.")
    mask_pattern: str = Field(
        "{stem}.png",
        description="segfolder: an image's mask file name; {stem} is the image name without "
        "its extension, {name} the whole name (Carvana: {stem}_mask.gif).",
    )
    mask_values: list[int] | None = Field(
        None,
        description="segfolder: the mask pixel value of each class, background first (multi-"
        "class); null = binary, foreground where the value is above data.mask_threshold.",
    )
    mask_threshold: int = Field(
        0,
        ge=0,
        description="segfolder, binary: a mask pixel above this is foreground (0: any non-zero; "
        "127 for 0/255 masks saved as JPEG).",
    )
    class_names: list[str] | None = Field(
        None,
        description="shapes, segfolder: class names, background first (default: background, "
        "foreground / class_N); voc: the classes to read, in order (default: every name in the "
        "XML files, sorted); detshapes: names of the shape kinds.",
    )
    download: bool = Field(False, description="cifar10: download when missing (needs a network).")
    pin_memory: bool | None = Field(None, description="Pin host memory (default: on with CUDA).")

    @field_validator("mask_pattern")
    @classmethod
    def _mask_pattern(cls, v: str) -> str:
        try:
            v.format(stem="x", name="x.png", suffix=".png")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"only {{stem}}, {{name}} and {{suffix}} may appear ({exc})") from None
        if "{stem}" not in v and "{name}" not in v:
            raise ValueError("must contain {stem} or {name}")
        return v

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, v: Any) -> Any:
        if isinstance(v, str):
            expected = check_data_name(v)
            if expected is not None:
                raise PydanticCustomError(
                    "literal_error", "Input should be {expected}", {"expected": expected}
                )
        return v

    @field_validator("num_workers")
    @classmethod
    def _num_workers(cls, v: int | str) -> int | str:
        if isinstance(v, int) and v < 0:  # refused for every dataset, not only image folders
            raise ValueError("expected auto or a whole number >= 0")
        return v

    @model_validator(mode="after")
    def _one_class_only_detects(self) -> DataConfig:
        if self.num_classes == 1 and self.name != "detshapes" and not is_user_data(self.name):
            raise PydanticCustomError(
                "cross_field",
                "{key}: {text}",
                {
                    "key": "data.num_classes",
                    "text": f"expected >= 2 for {self.name} (one class: detshapes only), got 1",
                },
            )
        return self

    @model_validator(mode="after")
    def _val_resize_covers_the_crop(self) -> DataConfig:
        if self.val_resize is not None and self.val_resize < (self.image_size or 0):
            raise PydanticCustomError(
                "cross_field",
                "{key}: {text}",
                {
                    "key": "data.val_resize",
                    "text": f"must be >= data.image_size ({self.image_size}), the centre crop's "
                    f"size, got {self.val_resize}",
                },
            )
        return self

    @field_validator("mask_values")
    @classmethod
    def _mask_values(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (len(v) < 2 or len(set(v)) != len(v) or min(v) < 0):
            raise ValueError("expected at least 2 distinct values >= 0 (background first)")
        return v
