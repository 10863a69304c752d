"""TF.js graph models written from a frozen GraphDef, without the tensorflowjs package (whose converter pins an older
TensorFlow and imports tensorflow_decision_forests, which does not load beside TensorFlow 2.21).

A graph model is model.json (the GraphDef as protobuf JSON, every constant's value moved out) plus weight shards
holding those constants, little-endian, in the order model.json lists them. TF.js has no int64 or float64 tensors,
so those constants are narrowed to int32 / float32 (shapes, indices and axes), as tensorflowjs_converter does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SHARD_BYTES = 4 * 1024 * 1024  # tensorflowjs_converter's default shard size: browsers cache files of this size well
DTYPES = {np.dtype(np.float32): "float32", np.dtype(np.int32): "int32", np.dtype(np.bool_): "bool"}
NARROWED = {np.dtype(np.int64): np.int32, np.dtype(np.float64): np.float32}


def _weight(node, tf) -> tuple[dict, bytes] | None:
    """The Const node's (weight spec, bytes), its value removed from the node; None for a string constant, which
    TF.js graphs cannot hold (it is dropped: metadata rides in model.json instead)."""
    if node.attr["dtype"].type == tf.string.as_datatype_enum:
        return None
    a = tf.make_ndarray(node.attr["value"].tensor)
    if a.dtype in NARROWED:
        a = a.astype(NARROWED[a.dtype])
        node.attr["dtype"].type = tf.as_dtype(a.dtype).as_datatype_enum
    if a.dtype not in DTYPES:
        raise ValueError(f"TF.js has no {a.dtype} tensors (constant {node.name})")
    del node.attr["value"]
    return {"name": node.name, "shape": list(a.shape), "dtype": DTYPES[a.dtype]}, np.ascontiguousarray(a).tobytes()


def write_graph_model(graph_def, folder: Path, meta: dict, shard_bytes: int = SHARD_BYTES) -> None:
    """folder/model.json and its weight shards from a frozen GraphDef; meta (stride, names) in userDefinedMetadata."""
    import tensorflow as tf
    from google.protobuf.json_format import MessageToDict

    gd = tf.compat.v1.GraphDef()
    gd.CopyFrom(graph_def)
    specs, data, nodes = [], [], []
    for node in gd.node:
        if node.op == "Const":
            w = _weight(node, tf)
            if w is None:
                continue
            specs.append(w[0])
            data.append(w[1])
        nodes.append(node)
    del gd.node[:]
    gd.node.extend(nodes)
    blob = b"".join(data)
    n = max(1, -(-len(blob) // shard_bytes))
    paths = [f"group1-shard{i + 1}of{n}.bin" for i in range(n)]
    folder.mkdir(parents=True, exist_ok=True)
    for i, p in enumerate(paths):
        (folder / p).write_bytes(blob[i * shard_bytes:(i + 1) * shard_bytes])
    model = {"format": "graph-model", "generatedBy": tf.__version__, "convertedBy": "export.py (YOLOv5-compatible)",
             "modelTopology": MessageToDict(gd), "weightsManifest": [{"paths": paths, "weights": specs}],
             "userDefinedMetadata": {"stride": meta["stride"], "names": {str(k): v for k, v in meta["names"].items()}}}
    (folder / "model.json").write_text(json.dumps(model))
