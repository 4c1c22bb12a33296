"""Image files become the pixels a person sees: 16-bit and float images scaled (or refused by
name), the EXIF orientation applied, masks' class ids never scaled, huge images refused before
they are decoded. Training, validation and `predict` read files the same way."""

from __future__ import annotations

import csv
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps
from support.runs import run_preset

from tui_trainer.after.images import read_image
from tui_trainer.cli import main
from tui_trainer.engine.data import decode
from tui_trainer.engine.data.decode import BadImage, Geometry, decode_mask, decode_rgb
from tui_trainer.engine.data.folder_source import FolderSource, MaskRule

RAMP16 = (np.arange(48 * 64).reshape(48, 64) * 21).astype(np.uint16)  # 0 .. 64491


def gray16(path: Path, values: np.ndarray = RAMP16) -> Path:
    Image.fromarray(values).save(path)  # a 16-bit gray PNG (mode I;16)
    assert Image.open(path).mode == "I;16"
    return path


def float_tiff(path: Path, values: np.ndarray) -> Path:
    Image.fromarray(values.astype(np.float32)).save(path)
    assert Image.open(path).mode == "F"
    return path


def png16_rgb(path: Path, values: np.ndarray) -> Path:
    """A 16-bit-per-channel RGB PNG written by hand (PIL cannot write one)."""
    h, w = values.shape[:2]
    raw = b"".join(b"\0" + values[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def quadrants(width: int = 40, height: int = 24) -> np.ndarray:
    """Four flat colours, one per quadrant: any turn or flip moves them."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[: height // 2, : width // 2] = (255, 0, 0)
    pixels[: height // 2, width // 2 :] = (0, 255, 0)
    pixels[height // 2 :, : width // 2] = (0, 0, 255)
    pixels[height // 2 :, width // 2 :] = (255, 255, 0)
    return pixels


def with_orientation(pixels: np.ndarray, path: Path, orientation: int, **save) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, exif=exif.tobytes(), **save)
    return path


def upright_reference(path: Path, geometry: Geometry) -> np.ndarray:
    """What a viewer shows, resized to the geometry: exif_transpose, then resize and crop."""
    with Image.open(path) as img:
        upright = ImageOps.exif_transpose(img).convert("RGB")
    (w, h), box = geometry.plan(*upright.size)
    return np.asarray(upright.resize((w, h), Image.Resampling.NEAREST).crop(box))


# -- 16-bit and float images -------------------------------------------------------------------
def test_a_16_bit_png_keeps_its_gray_levels(tmp_path):
    pixels, size = decode_rgb(gray16(tmp_path / "g.png"), Geometry(48, "center", 48))
    assert size == (64, 48)
    expected = (RAMP16 >> 8).astype(np.uint8)[:, 8:56]  # the centre 48x48, as 8-bit
    assert np.array_equal(pixels[..., 0], expected) and np.array_equal(pixels[..., 2], expected)


def test_a_16_bit_rgb_png_keeps_its_colours(tmp_path):
    values = np.zeros((8, 8, 3), np.uint16)
    values[..., 0], values[..., 1], values[..., 2] = 0x8000, 0x1234, 0xFFFF
    pixels, _ = decode_rgb(png16_rgb(tmp_path / "c.png", values), Geometry(8))
    assert pixels[0, 0].tolist() == [0x80, 0x12, 0xFF]


def test_a_float_tiff_in_0_to_1_is_scaled_to_8_bits(tmp_path):
    values = np.linspace(0, 1, 32 * 32).reshape(32, 32)
    pixels, _ = decode_rgb(float_tiff(tmp_path / "f.tif", values), Geometry(32))
    assert np.array_equal(pixels[..., 1], np.rint(values.astype(np.float32) * 255))
    assert pixels.max() == 255


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        (
            np.linspace(-3, 400, 64).reshape(8, 8),
            "mode F (32-bit float) pixels with values -3..400",
        ),
        (np.full((8, 8), np.nan), "mode F (32-bit float) pixels include NaN"),
    ],
)
def test_a_float_tiff_outside_0_to_1_is_refused_by_name(tmp_path, values, fragment):
    path = float_tiff(tmp_path / "f.tif", values)
    with pytest.raises(BadImage) as info:
        decode_rgb(path, Geometry(8))
    message = str(info.value)
    assert str(path) in message and fragment in message and "\n" not in message


def test_a_32_bit_integer_image_beyond_16_bits_is_refused_by_name(tmp_path):
    path = tmp_path / "i.tif"
    Image.fromarray(np.full((8, 8), 1_000_000, np.int32)).save(path)
    with pytest.raises(BadImage, match=r"i\.tif.*mode I \(32-bit integer\).*0\.\.65535"):
        decode_rgb(path, Geometry(8))


# -- EXIF orientation --------------------------------------------------------------------------
@pytest.mark.parametrize("orientation", [2, 3, 6, 8])
def test_the_exif_orientation_is_applied(tmp_path, orientation):
    path = with_orientation(quadrants(), tmp_path / "o.png", orientation)
    geometry = Geometry(12, "center", 12)
    pixels, size = decode_rgb(path, geometry)
    assert size == ((24, 40) if orientation in (6, 8) else (40, 24))  # upright width, height
    reference = upright_reference(path, geometry)
    # Flat quadrants: only the seams may differ by interpolation.
    assert (np.abs(pixels.astype(int) - reference).max(-1) > 40).mean() < 0.15


def test_a_jpeg_with_exif_orientation_is_decoded_upright_at_reduced_size(tmp_path):
    pixels = np.kron(quadrants(40, 24), np.ones((20, 20, 1), np.uint8))  # 800 x 480
    path = with_orientation(pixels, tmp_path / "o.jpg", 6, quality=95)
    got, size = decode_rgb(path, Geometry(16))
    assert size == (480, 800)
    reference = upright_reference(path, Geometry(16))
    assert np.abs(got.astype(int) - reference).mean() < 12


def test_masks_keep_16_bit_class_ids_and_follow_their_own_orientation(tmp_path):
    ids = np.zeros((24, 40), np.uint16)
    ids[:12, 20:] = 300
    ids[12:, :20] = 1000
    gray16(tmp_path / "m.png", ids)
    assert np.array_equal(decode_mask(tmp_path / "m.png"), ids)  # not scaled to 8 bits
    Image.fromarray(ids).save(tmp_path / "turned.png", exif=_exif(6))
    assert np.array_equal(decode_mask(tmp_path / "turned.png"), np.rot90(ids, -1))


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def test_a_segmentation_sample_pairs_a_turned_image_with_its_upright_16_bit_mask(tmp_path):
    image = with_orientation(quadrants(), tmp_path / "a.png", 6)  # stored 40x24, upright 24x40
    ids = np.zeros((40, 24), np.uint16)
    ids[:20] = 300
    mask = gray16(tmp_path / "a_mask.png", ids)
    source = FolderSource(
        [image], Geometry(8), masks=[mask], rule=MaskRule(mask_values=[0, 300], threshold=0)
    )
    sample = source.load(0)  # (4, 8, 8): RGB + class ids
    assert sample.shape == (4, 8, 8)
    assert (sample[3, :4] == 1).all() and (sample[3, 4:] == 0).all()


def test_a_float_mask_with_fractions_is_refused_by_name(tmp_path):
    path = float_tiff(tmp_path / "m.tif", np.full((4, 4), 0.5))
    with pytest.raises(BadImage, match=r"mask '.*m\.tif'.*mode F.*whole-number"):
        decode_mask(path)


# -- predict reads files as training does --------------------------------------------------------
def test_predict_reads_16_bit_and_turned_files_as_their_8_bit_upright_twins(tmp_path, capsys):
    _finished, run_dir = run_preset(tmp_path / "runs", ["epochs=1"])
    rng = np.random.default_rng(0)
    digit = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(digit).save(folder / "a8.png")
    gray16(folder / "a16.png", digit.astype(np.uint16) * 257)  # the same picture in 16 bits
    Image.fromarray(np.rot90(digit)).save(folder / "b_stored_turned.png", exif=_exif(6))
    Image.fromarray(digit).save(folder / "b_upright.png")
    out = tmp_path / "pred"
    assert main(["predict", str(run_dir), str(folder), "--out", str(out), "--top-k", "3"]) == 0
    capsys.readouterr()
    with open(out / "predictions.csv") as fh:
        rows: dict[str, list[tuple[str, str]]] = {}
        for row in csv.DictReader(fh):
            rows.setdefault(Path(row["file"]).name, []).append((row["class"], row["probability"]))
    assert rows["a16.png"] == rows["a8.png"]
    assert rows["b_stored_turned.png"] == rows["b_upright.png"]
    img = read_image(folder / "a16.png")
    assert img.mode == "L" and np.array_equal(np.asarray(img), digit)


# -- huge images -------------------------------------------------------------------------------
def huge_png(path: Path, side: int = 20000) -> Path:
    """A 1-bit PNG that declares side x side pixels: a few KB on disk."""
    Image.new("1", (side, side)).save(path, optimize=True)
    return path


def test_a_huge_png_is_refused_before_it_is_decoded_and_memory_stays_low(tmp_path):
    path = huge_png(tmp_path / "huge.png")
    assert path.stat().st_size < 200_000
    script = textwrap.dedent(
        f"""
        import resource, sys
        from pathlib import Path
        from tui_trainer.after.images import read_image
        from tui_trainer.engine.data.decode import BadImage, Geometry, decode_mask, decode_rgb
        path = Path({str(path)!r})
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        messages = []
        for call in (lambda: decode_rgb(path, Geometry(32)), lambda: decode_mask(path)):
            try:
                call()
            except BadImage as exc:
                messages.append(str(exc))
        try:
            read_image(path)
        except ValueError as exc:
            messages.append(str(exc))
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(grown // 1024)
        print("\\n".join(messages))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    grown_mb, *messages = done.stdout.strip().splitlines()
    assert int(grown_mb) < 100, f"decoding grew the peak by {grown_mb} MB"
    assert len(messages) == 3, done.stdout
    assert f"image '{path}'" in messages[0] and f"mask '{path}'" in messages[1]
    for message in messages:
        assert "20000x20000 is 400 megapixels" in message and "100-megapixel limit" in message


def test_a_large_jpeg_still_decodes_at_reduced_size_under_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(decode, "MAX_PIXELS", 500_000)  # a 1000x800 file is "huge" here
    Image.new("RGB", (1000, 800), (10, 200, 30)).save(tmp_path / "big.jpg")
    Image.new("RGB", (1000, 800), (10, 200, 30)).save(tmp_path / "big.png")
    pixels, size = decode_rgb(tmp_path / "big.jpg", Geometry(32))  # decoded at 1/8 scale
    assert size == (1000, 800) and np.abs(pixels.astype(int) - (10, 200, 30)).max() < 8
    with pytest.raises(BadImage, match="megapixel limit"):
        decode_rgb(tmp_path / "big.png", Geometry(32))
    with pytest.raises(BadImage, match="megapixel limit"):
        decode_rgb(tmp_path / "big.jpg", Geometry(900))  # no reduction possible


def test_a_mask_that_fits_the_stored_pixels_of_a_turned_image_is_named_with_why(tmp_path):
    image = with_orientation(quadrants(), tmp_path / "a.png", 6)  # stored 40x24, upright 24x40
    mask = tmp_path / "a_mask.png"
    Image.fromarray(np.zeros((24, 40), np.uint8)).save(mask)  # drawn on the stored pixels
    source = FolderSource([image], Geometry(8), masks=[mask], rule=MaskRule(None, 0))
    with pytest.raises(BadImage) as info:
        source.load(0)
    message = str(info.value)
    assert "is 40x24 but its image" in message and "is 24x40 upright" in message
    assert "EXIF orientation" in message and "\n" not in message
