"""utils/data/image_files: dataset folders and image lists named as users name them."""

from __future__ import annotations

import pytest

from tests.data_helpers import copy_coco8
from utils.data.image_files import list_image_files


def test_a_dataset_folder_with_brackets_is_a_folder_not_a_pattern(tmp_path):
    root = copy_coco8(tmp_path / "cam[1] it's")
    assert len(list_image_files(root / "images" / "train")) == 4


def test_an_image_list_with_spaces_a_byte_order_mark_and_crlf(tmp_path):
    root = copy_coco8(tmp_path / "my sets")
    images = sorted(str(p) for p in (root / "images" / "val").iterdir())
    listing = tmp_path / "val list.txt"
    listing.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(images).encode() + b"\r\n")
    assert list_image_files(listing) == images


def test_a_missing_folder_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_image_files(tmp_path / "nope")
