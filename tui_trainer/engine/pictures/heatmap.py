"""The confusion matrix as a coloured heatmap (PIL): rows are true classes, columns predicted
ones, each cell coloured by its row-normalised rate and, up to COUNTS_UP_TO classes, labelled
with its count."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

COUNTS_UP_TO = 30  # classes up to which cells show their counts
CELL = 28  # a cell's side in pixels (smaller for many classes)


def _colour(rate: float) -> tuple[int, int, int]:
    """White (0) to dark blue (1)."""
    r = max(0.0, min(1.0, rate))
    return (round(255 - 247 * r), round(255 - 207 * r), round(255 - 148 * r))


def confusion_png(matrix: list[list[int]], class_names: list[str]) -> Image.Image:
    """The heatmap picture of `matrix[true][pred]` with class names on both axes."""
    font = ImageFont.load_default()
    k = len(matrix)
    names = [class_names[i] if i < len(class_names) else f"class_{i}" for i in range(k)]
    cell = CELL if k <= COUNTS_UP_TO else max(4, 840 // max(k, 1))
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = int(max((probe.textlength(n, font=font) for n in names), default=0)) + 8
    title_h = 16
    left, top = label_w + 14, label_w + title_h + 4
    width, height = left + k * cell + 8, top + k * cell + 8
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.text((left, 2), "predicted ->", fill="black", font=font)
    axis = Image.new("RGB", (max(label_w + 4, 50), 14), "white")  # "true", turned
    ImageDraw.Draw(axis).text((2, 1), "true ->", fill="black", font=font)
    img.paste(axis.rotate(90, expand=True), (0, top))
    for i, row in enumerate(matrix):
        total = sum(row)
        y = top + i * cell
        if k <= COUNTS_UP_TO or i % max(1, k // 40) == 0:
            draw.text((14, y + (cell - 11) // 2), names[i], fill="black", font=font)
        for j, count in enumerate(row):
            x = left + j * cell
            rate = count / total if total else 0.0
            draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=_colour(rate),
                           outline=(200, 200, 200))  # fmt: skip
            if k <= COUNTS_UP_TO and count:
                text = str(count)
                tw = draw.textlength(text, font=font)
                ink = "white" if rate > 0.5 else "black"
                draw.text((x + (cell - tw) / 2, y + (cell - 11) / 2), text, fill=ink, font=font)
    for j, name in enumerate(names):  # column names, turned to read upwards
        if k > COUNTS_UP_TO and j % max(1, k // 40):
            continue
        label = Image.new("RGB", (label_w, 14), "white")
        ImageDraw.Draw(label).text((2, 1), name, fill="black", font=font)
        turned = label.rotate(90, expand=True)
        img.paste(turned, (left + j * cell + (cell - 14) // 2, title_h + 2))
    return img
