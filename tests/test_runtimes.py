"""models/runtimes.py: metadata readers of the edge formats (the runtimes themselves run in tests/test_export.py)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from models.runtimes import _denormalize, graphdef_metadata, tflite_metadata
from utils.export.outputs import append_zip_metadata, atomic_output


def test_tflite_zip_metadata_round_trip(tmp_path):
    f = tmp_path / "m.tflite"
    f.write_bytes(b"TFL3" + bytes(100))  # any flatbuffer: the zip goes after it
    append_zip_metadata(f, {"stride": 32, "names": {0: "person", 1: "bus"}})
    assert f.read_bytes().startswith(b"TFL3")
    assert tflite_metadata(f) == {"stride": 32, "names": {0: "person", 1: "bus"}}


def test_tflite_without_metadata_reads_empty(tmp_path):
    f = tmp_path / "bare.tflite"
    f.write_bytes(b"TFL3" + bytes(100))
    assert tflite_metadata(f) == {}


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="needs tensorflow")
def test_graphdef_metadata_node():
    import tensorflow as tf

    gd = tf.compat.v1.GraphDef()
    node = gd.node.add()
    node.name, node.op = "yolo_metadata", "Const"
    node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(str({"stride": 32, "names": {0: "a"}})))
    assert graphdef_metadata(gd) == {"stride": 32, "names": {0: "a"}}


def test_boxes_back_to_pixels():
    y = np.array([[[0.5, 0.25, 0.1, 0.2, 0.9]]], np.float32)
    assert np.allclose(_denormalize(y, 64, 128), [[[64, 16, 12.8, 12.8, 0.9]]])


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    f = tmp_path / "m_ncnn_model"
    with pytest.raises(RuntimeError):
        with atomic_output(f) as tmp:
            tmp.mkdir()
            (tmp / "model.ncnn.param").write_text("partial")
            raise RuntimeError("converter failed")
    assert list(tmp_path.iterdir()) == []
