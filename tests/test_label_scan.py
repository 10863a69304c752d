"""utils/data/label_scan: label files as other tools write them (a byte-order mark, CRLF ends) read like plain ones."""

from __future__ import annotations

import numpy as np

from tests.data_helpers import copy_coco8
from utils.data.label_scan import read_label_file, verify_image_label


def test_a_label_file_from_a_windows_editor_keeps_its_first_line(tmp_path):
    plain, windows = tmp_path / "plain.txt", tmp_path / "windows.txt"
    plain.write_text("0 0.5 0.5 0.2 0.2\n1 0.3 0.3 0.1 0.1\n")
    windows.write_bytes(b"\xef\xbb\xbf0 0.5 0.5 0.2 0.2\r\n1 0.3 0.3 0.1 0.1\r\n")
    labels, _, _ = read_label_file(str(windows), nc=2)
    assert len(labels) == 2 and np.array_equal(labels, read_label_file(str(plain), nc=2)[0])


def test_an_image_whose_label_has_a_byte_order_mark_is_used(tmp_path):
    root = copy_coco8(tmp_path)
    im = sorted((root / "images" / "val").iterdir())[0]
    lb = root / "labels" / "val" / f"{im.stem}.txt"
    lb.write_bytes(b"\xef\xbb\xbf" + lb.read_bytes().replace(b"\n", b"\r\n"))
    check = verify_image_label(str(im), str(lb), nc=80)
    assert check.status == "found" and check.msg == "" and len(check.labels) == len(lb.read_bytes().splitlines())
