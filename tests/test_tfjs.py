"""utils/export/tfjs.py: TF.js graph models written from a frozen GraphDef, read back by TF.js itself."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

import export  # noqa: F401  torch's compiler stack (triton) loads before TensorFlow: the other order segfaults here
from tests.tfjs_helpers import needs_tfjs_node, run_tfjs
from utils.export.tfjs import write_graph_model

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                                reason="needs tensorflow (pip install -r requirements-export.txt)")
META = {"stride": 32, "names": {0: "person", 5: "bus"}}


@pytest.fixture(scope="module")
def graph():
    """(frozen GraphDef with float, int64 and string constants, its function) of a small conv + reshape graph."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    kernel = tf.constant(np.random.default_rng(0).normal(size=(3, 3, 3, 8)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec((1, 8, 8, 3), tf.float32, name="images")])
    def fn(x):
        y = tf.nn.conv2d(x, kernel, 1, "SAME") * 0.5 + 1.0
        return tf.reshape(y, tf.constant([1, 64, 8], tf.int64))

    gd = convert_variables_to_constants_v2(fn.get_concrete_function()).graph.as_graph_def()
    node = gd.node.add()
    node.name, node.op = "yolo_metadata", "Const"
    node.attr["dtype"].type = tf.string.as_datatype_enum
    node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto("{'stride': 32}"))
    return gd, fn


def test_constants_leave_the_topology_for_the_shards(graph, tmp_path):
    write_graph_model(graph[0], tmp_path, META, shard_bytes=256)
    model = json.loads((tmp_path / "model.json").read_text())
    nodes = model["modelTopology"]["node"]
    consts = [n for n in nodes if n["op"] == "Const"]
    assert consts and all("value" not in n["attr"] for n in consts)
    assert "yolo_metadata" not in {n["name"] for n in nodes}  # TF.js holds no string tensors
    (group,) = model["weightsManifest"]
    specs = {w["name"]: w for w in group["weights"]}
    assert set(specs) == {n["name"] for n in consts}
    assert {w["dtype"] for w in specs.values()} == {"float32", "int32"}  # the int64 shape narrowed
    assert all(n["attr"]["dtype"]["type"] != "DT_INT64" for n in consts)
    size = sum(int(np.prod(w["shape"], dtype=np.int64)) * 4 for w in specs.values())
    shards = [tmp_path / p for p in group["paths"]]
    assert len(shards) == -(-size // 256) > 1 and sum(p.stat().st_size for p in shards) == size
    assert model["format"] == "graph-model"
    assert model["userDefinedMetadata"] == {"stride": 32, "names": {"0": "person", "5": "bus"}}


def test_original_graph_is_left_unchanged(graph, tmp_path):
    before = graph[0].SerializeToString()
    write_graph_model(graph[0], tmp_path, META)
    assert graph[0].SerializeToString() == before


@needs_tfjs_node
def test_tfjs_runs_the_graph_as_tensorflow_does(graph, tmp_path):
    x = np.random.default_rng(1).random((1, 8, 8, 3), dtype=np.float32)
    write_graph_model(graph[0], tmp_path / "web", META, shard_bytes=256)
    y = run_tfjs(tmp_path / "web", x, tmp_path)
    ref = graph[1](x).numpy()
    assert y.shape == ref.shape == (1, 64, 8)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
