"""tools/parity.py: the val figures it measures and the page block it rewrites (the rest of the page untouched)."""

from __future__ import annotations

import pytest

from tests.conftest import shared_path
from tools.parity import END, START, Case, figures, main, parse_opt, table, write_between_markers
from utils.errors import UserError


def test_writes_only_between_markers(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(f"# Title\n\nProse.\n\n{START}\nold table\n{END}\n\nMore prose.\n")
    write_between_markers(page, "new table")
    write_between_markers(page, "newer table")
    assert page.read_text() == f"# Title\n\nProse.\n\n{START}\nnewer table\n{END}\n\nMore prose.\n"


def test_page_without_markers_is_one_error(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n")
    with pytest.raises(UserError, match="needs one"):
        write_between_markers(page, "table")
    assert page.read_text() == "# Title\n"


def test_table_rows_name_script_settings_and_both_figures():
    rows = [(Case("segment", "s.pt", "coco8-seg.yaml", 160, 4, ""), "0.1 0.2 0.3 0.4 / 0.5 0.6 0.7 0.8"),
            (Case("classify", "c.pt", "coco8-cls", 64, 2, "0.873 0.964"), "0.5 1")]
    lines = table(rows).splitlines()
    assert lines[2] == ("| segment/val.py | s.pt | coco8-seg.yaml | 160 | 4 | box P R mAP50 mAP50-95 / mask P R mAP50 "
                        "mAP50-95 | - | 0.1 0.2 0.3 0.4 / 0.5 0.6 0.7 0.8 |")
    assert lines[3] == "| classify/val.py | c.pt | coco8-cls | 64 | 2 | top1 top5 | 0.873 0.964 | 0.5 1 |"


def test_detection_figures_are_val_py_s_all_row(yolov5n_pt, tmp_path):
    import val

    ours = figures(Case("detect", "yolov5n.pt", "coco8.yaml", 64, 4, ""), yolov5n_pt, device="cpu", workers=0)
    results, _, _ = val.run(data="coco8.yaml", weights=str(yolov5n_pt), batch_size=4, imgsz=64, device="cpu",
                            workers=0, half=False, plots=False, project=tmp_path)
    assert ours == " ".join(f"{v:.3g}" for v in results[:4])


def test_classify_figures_top1_top5():
    weights, data = shared_path("weights/yolov5n-cls-coco128cls.pt"), shared_path("datasets/coco128-cls")
    top1, top5 = (float(v) for v in figures(Case("classify", "", str(data), 64, 32, ""), weights, "cpu", 0).split())
    assert 0 <= top1 <= top5 <= 1


def test_missing_weights_is_one_error_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(parse_opt(["--weights-dir", str(tmp_path), "--tasks", "classify"]))
    assert e.value.code == 2
    assert capsys.readouterr().err.strip() == f"ERROR: --weights-dir {tmp_path}: yolov5n-cls-coco128cls.pt not found"
