"""One decoder: the label scan accepts exactly what the loader can read, decoded the same way; a file damaged after
the scan is skipped with a warning inside a DataLoader worker, never ending the run."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from utils.data.datasets import LoadImagesAndLabels
from utils.data.image_decode import UnreadableImage, read_image
from utils.data.label_scan import verify_image_label

H, W = 24, 32


def _write(folder: Path) -> dict[str, tuple | None]:
    """Image files of many depths and layouts -> the BGR centre pixel they decode to (None: refused)."""
    ramp = np.linspace(0, 1, H * W, dtype=np.float32).reshape(H, W)
    grey = np.full((H, W), 0.25, np.float32)
    cv2.imwrite(str(folder / "f32_grey.tiff"), grey)
    cv2.imwrite(str(folder / "f32_bgr.tiff"), np.dstack([grey, grey * 2, grey * 4]))
    cv2.imwrite(str(folder / "f64_bgr.tiff"), np.dstack([grey, grey, grey]).astype(np.float64))
    cv2.imwrite(str(folder / "f32_0_255.tiff"), np.full((H, W, 3), 200.0, np.float32))
    cv2.imwrite(str(folder / "f32.pfm"), np.full((H, W, 3), 0.5, np.float32))
    cv2.imwrite(str(folder / "u16.png"), np.full((H, W, 3), 40000, np.uint16))
    cv2.imwrite(str(folder / "u16_grey.tiff"), np.full((H, W), 1000, np.uint16))
    Image.new("CMYK", (W, H), (0, 255, 255, 0)).save(folder / "cmyk.jpg")
    palette = Image.new("P", (W, H), 1)
    palette.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    palette.save(folder / "palette.png")
    Image.new("LA", (W, H), (90, 0)).save(folder / "grey_alpha.png")
    Image.new("1", (W, H), 1).save(folder / "one_bit.png")
    Image.new("RGB", (W, H), (10, 20, 30)).save(folder / "rgb.webp", lossless=True)
    cv2.imwrite(str(folder / "f32_hdr.tiff"), ramp * 1000)
    cv2.imwrite(str(folder / "f32_negative.tiff"), ramp - 0.5)
    Image.fromarray((ramp * 1e6).astype(np.int32)).save(folder / "i32.tiff")
    (folder / "truncated.png").write_bytes((folder / "u16.png").read_bytes()[:60])
    (folder / "text.jpg").write_text("not an image")
    return {"f32_grey.tiff": (64, 64, 64), "f32_bgr.tiff": (64, 128, 255), "f64_bgr.tiff": (64, 64, 64),
            "f32_0_255.tiff": (200, 200, 200), "f32.pfm": (128, 128, 128), "u16.png": (156, 156, 156),
            "u16_grey.tiff": (3, 3, 3), "cmyk.jpg": (0, 0, 255), "palette.png": (50, 100, 200), "grey_alpha.png": (90, 90, 90),
            "one_bit.png": (255, 255, 255), "rgb.webp": (30, 20, 10), "f32_hdr.tiff": None,
            "f32_negative.tiff": None, "i32.tiff": None, "truncated.png": None, "text.jpg": None}


def test_scan_accepts_exactly_what_the_decoder_reads_and_agrees_on_size(tmp_path):
    expected = _write(tmp_path)
    for name, bgr in expected.items():
        f = str(tmp_path / name)
        check = verify_image_label(f, str(tmp_path / "none.txt"))
        try:
            im = read_image(f)
        except UnreadableImage:
            im = None
        assert (check.status == "corrupt") == (im is None) == (bgr is None), name
        if im is not None:
            assert im.dtype == np.uint8 and im.shape == (H, W, 3) and check.shape == (W, H), name
        if bgr is not None:
            assert np.allclose(im[H // 2, W // 2].tolist(), bgr, atol=3), (name, im[H // 2, W // 2])


def test_an_image_damaged_after_the_scan_is_skipped_in_a_worker_with_a_warning(tmp_path, log_lines):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    for i in range(3):
        cv2.imwrite(str(images / f"{i}.png"), np.full((H, W, 3), 60 * i, np.uint8))
        (labels / f"{i}.txt").write_text(f"{i} 0.5 0.5 0.5 0.5\n")
    ds = LoadImagesAndLabels(str(images), img_size=32, batch_size=1, nc=3)
    (images / "1.png").write_bytes(b"gone bad")
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=1, collate_fn=LoadImagesAndLabels.collate_fn)
    items = [(int(targets[0, 1]), paths[0]) for _, targets, paths, _ in loader]
    assert items == [(0, str(images / "0.png")), (2, str(images / "2.png")), (2, str(images / "2.png"))]
    assert ds[1][2] == str(images / "2.png")  # in this process, to read the warning
    warning = f"{images / '1.png'}: not a readable image; skipped, {images / '2.png'} used in its place"
    assert any(warning in x for x in log_lines), log_lines


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_every_depth_gives_three_channel_uint8(tmp_path, dtype):
    f = tmp_path / "x.tiff"
    cv2.imwrite(str(f), np.ones((H, W), dtype))
    assert read_image(str(f)).shape == (H, W, 3) and read_image(str(f)).dtype == np.uint8


def test_a_decompression_bomb_is_an_unreadable_image_not_a_crash(tmp_path):
    """A PNG whose header claims 40000 x 40000 pixels: OpenCV refuses it before decoding, read_image says so."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 40000, 40000, 8, 0, 0, 0, 0))
    f = tmp_path / "bomb.png"
    f.write_bytes(b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\x00" * 40001)) + chunk(b"IEND", b""))
    with pytest.raises(UnreadableImage, match="decompression bomb"):
        read_image(str(f))
