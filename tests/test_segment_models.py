"""Proto, Segment and SegmentationModel (models/common.py, models/yolo.py): YAMLs, YOLOv5-written checkpoints, the
decode of mask coefficients, weight transfer from a detector, and checkpoints YOLOv5 can read back."""

from __future__ import annotations

from copy import deepcopy

import pytest
import torch
import torch.nn as nn

from models.checkpoints import load_checkpoint, save_checkpoint
from models.common import Proto
from models.loading import attempt_load
from models.yolo import DetectionModel, Segment, SegmentationModel, model_class, parse_model
from tests.conftest import shared_path
from tests.test_checkpoints import _pickled_globals
from utils.errors import UserError
from utils.files import check_yaml, yaml_load
from utils.torch_utils import intersect_dicts

SEG_WEIGHTS = ("yolov5n-seg-coco128seg.pt", "yolov5n-seg-ghostdyn-seedpatch.pt")
TINY = {"nc": 3, "depth_multiple": 1.0, "width_multiple": 1.0,
        "anchors": [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119]],
        "backbone": [[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "Conv", [8, 3, 2]], [-1, 1, "Conv", [16, 3, 2]],
                     [-1, 1, "Conv", [16, 3, 2]]],
        "head": [[[2, 3], 1, "Segment", ["nc", "anchors", 4, 16]]]}


def _seg_weights(name: str):
    return shared_path(f"weights/{name}")


def _reference_decode(head: Segment, raw: list[torch.Tensor]) -> torch.Tensor:
    """YOLOv5 v7.0's Segment decode written out: sigmoid on xywh, objectness and classes; mask coefficients raw."""
    out = []
    for i, p in enumerate(raw):
        bs, na, ny, nx, no = p.shape
        yv, xv = torch.meshgrid(torch.arange(ny, dtype=p.dtype), torch.arange(nx, dtype=p.dtype), indexing="ij")
        grid = torch.stack((xv, yv), 2).view(1, 1, ny, nx, 2) - 0.5
        anchor = (head.anchors[i] * head.stride[i]).view(1, na, 1, 1, 2)
        s = p[..., :5 + head.nc].sigmoid()
        xy = (s[..., :2] * 2 + grid) * head.stride[i]
        wh = (s[..., 2:4] * 2) ** 2 * anchor
        out.append(torch.cat((xy, wh, s[..., 4:], p[..., 5 + head.nc:]), -1).view(bs, -1, no))
    return torch.cat(out, 1)


@pytest.mark.parametrize("size", ["n", "s", "m", "l", "x"])
def test_seg_yamls_have_yolov5_heads_and_sizes(size):
    """Each models/segment YAML is found by name; its layers (built on the meta device: no memory, no init) end in a
    Segment with 32 mask coefficients and width-scaled prototypes; parameter counts as YOLOv5 v7.0's README (M)."""
    cfg = f"yolov5{size}-seg.yaml"
    assert check_yaml(cfg).replace("\\", "/").endswith(f"models/segment/{cfg}")
    assert model_class(cfg) is SegmentationModel
    with torch.device("meta"):
        layers, _ = parse_model(yaml_load(check_yaml(cfg)), ch=[3])
    head = layers[-1]
    width = {"n": 0.25, "s": 0.5, "m": 0.75, "l": 1.0, "x": 1.25}[size]
    assert isinstance(head, Segment) and isinstance(head.proto, Proto)
    assert (head.nm, head.npr, head.no) == (32, int(256 * width), 117)
    millions = sum(p.numel() for p in layers.parameters()) / 1e6
    assert round(millions, 1) == {"n": 2.0, "s": 7.6, "m": 22.0, "l": 47.9, "x": 88.8}[size]


def test_yolov5n_seg_builds_on_strides_8_16_32():
    model = SegmentationModel("yolov5n-seg.yaml")
    assert model.stride.tolist() == [8.0, 16.0, 32.0] and model.model[-1].anchors.shape == (3, 3, 2)
    assert sum(p.numel() for p in model.parameters()) == 1_991_549


def test_model_class_picks_by_the_last_head_layer():
    assert model_class("yolov5n.yaml") is DetectionModel
    assert model_class("yolov5n-seg-ghostdyn.yaml") is SegmentationModel
    assert model_class(TINY) is SegmentationModel
    assert model_class({"head": []}) is DetectionModel


def test_segment_yaml_arguments_default_and_scale():
    """[nc, anchors] alone takes nm=32 and npr=256 (scaled by width, as the given npr is)."""
    cfg = {**TINY, "width_multiple": 0.5, "head": [[[2, 3], 1, "Segment", ["nc", "anchors"]]]}
    head = SegmentationModel(cfg).model[-1]
    assert (head.nm, head.npr, head.no, head.proto.cv3.conv.out_channels) == (32, 128, 40, 32)
    with pytest.raises(UserError, match="layer 4"):
        SegmentationModel({**TINY, "head": [[[2, 3], 1, "Segment", ["nc", "anchors", 4, 16, 9, 9]]]})


def test_outputs_in_training_export_and_inference():
    """(raw maps, protos) training; (decoded, protos) with export; else (decoded, protos, raw maps); mask columns
    of the decoded rows are the raw coefficients (no sigmoid)."""
    torch.manual_seed(0)
    model = SegmentationModel(TINY)
    head = model.model[-1]
    x = torch.rand(2, 3, 64, 96)
    raw, protos = model.train()(x)
    assert [tuple(t.shape) for t in raw] == [(2, 3, 8, 12, 12), (2, 3, 4, 6, 12)] and protos.shape == (2, 4, 16, 24)
    model.eval()
    with torch.no_grad():
        pred, p, maps = model(x)
        ref = _reference_decode(head, [m.clone() for m in maps])
        head.export = True
        exported = model(x)
        head.export = False
    torch.testing.assert_close(pred, ref, rtol=1e-5, atol=1e-5)
    assert len(exported) == 2 and torch.equal(exported[0], pred) and torch.equal(exported[1], p)
    assert (pred[..., -4:] < 0).any()  # raw coefficients: a sigmoid would make every one positive


def test_fast_cpu_paths_equal_the_traced_graph():
    """Inference's matmul head and in-place decode (no_grad, CPU) give the numbers of YOLOv5's graph (traced)."""
    torch.manual_seed(0)
    model = SegmentationModel(TINY).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        fast = model(x)
        traced = torch.jit.trace(model, x, strict=False)(x)
    torch.testing.assert_close(fast[0], traced[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast[1], traced[1], rtol=1e-5, atol=1e-5)


def test_compiled_segment_model_matches_eager():
    """Under torch.compile the head runs eagerly as for detection: the same decoded rows and protos."""
    torch.manual_seed(0)
    model = SegmentationModel(TINY).eval()
    x = torch.rand(1, 3, 64, 64)
    compiled = torch.compile(model, backend="eager")
    with torch.no_grad():
        ref, out = model(x), compiled(x)
    torch.testing.assert_close(out[0], ref[0])
    torch.testing.assert_close(out[1], ref[1])


@pytest.mark.parametrize("name", SEG_WEIGHTS)
def test_yolov5_seg_checkpoints_load_and_decode_as_yolov5(name):
    """The YOLOv5-written checkpoints unpickle here (getattr(Detect, 'forward') of their Segment included), fuse, and
    their rows decode as v7.0's Segment does; fused and unfused agree."""
    w = _seg_weights(name)
    model = attempt_load(w, fuse=False)
    head = model.model[-1]
    assert isinstance(model, SegmentationModel) and isinstance(head, Segment) and isinstance(head.proto, Proto)
    assert (head.nm, head.npr, head.no) == (32, 64, 117) and head.detect is not None
    fused = deepcopy(model).fuse()
    x = torch.rand(2, 3, 160, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pred, protos, maps = model(x)
        ref = _reference_decode(head, maps)
        pred_f, protos_f, _ = fused(x)
    assert pred.shape == (2, 3 * (20 * 28 + 10 * 14 + 5 * 7), 117) and protos.shape == (2, 32, 40, 56)
    torch.testing.assert_close(pred, ref, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(pred_f, pred, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(protos_f, protos, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("name", SEG_WEIGHTS)
def test_built_models_match_the_checkpoints_layout(name):
    """Our SegmentationModel from the checkpoint's own YAML has its exact state_dict keys and shapes."""
    official = load_checkpoint(_seg_weights(name))["model"]
    ours = SegmentationModel(official.yaml)
    a, b = official.state_dict(), ours.state_dict()
    assert list(a) == list(b) and all(a[k].shape == b[k].shape for k in a)


def test_our_seg_checkpoint_pickles_yolov5_classes_and_attributes(tmp_path):
    """A SegmentationModel saved here names only the classes and functions YOLOv5's own seg file names, carries
    every attribute YOLOv5's modules have (Segment.detect included), and loads back."""
    official_file = _seg_weights(SEG_WEIGHTS[0])
    official = load_checkpoint(official_file)["model"]
    ours = SegmentationModel("yolov5n-seg.yaml").half()
    ours.names = official.names
    f = tmp_path / "ours-seg.pt"
    save_checkpoint({"epoch": -1, "model": ours}, f)
    names = _pickled_globals(f)
    assert {"models.yolo.SegmentationModel", "models.yolo.Segment", "models.common.Proto"} <= names
    assert names - _pickled_globals(official_file) == set()
    pairs = zip(official.named_modules(remove_duplicate=False), ours.named_modules(remove_duplicate=False))
    for (name, a), (_, b) in pairs:
        assert type(a) is type(b), name
        set_by_train = {"hyp", "nc", "class_weights"} if name == "" else set()
        assert set(vars(a)) - set(vars(b)) <= {"_is_full_backward_hook"} | set_by_train, name
    back = load_checkpoint(f)["model"]
    assert isinstance(back.model[-1], Segment) and back.model[-1].detect is not None


def test_unpickling_getattr_is_limited_to_project_methods(tmp_path):
    """The getattr a seg checkpoint needs resolves only public methods of allowed classes: anything else is refused."""
    bad = tmp_path / "evil.pt"
    torch.save({"model": DetectionModel(TINY | {"head": [[[2, 3], 1, "Detect", ["nc", "anchors"]]]}),
                "x": _GetattrPayload(nn.Module, "__init_subclass__")}, bad)
    with pytest.raises(UserError, match="refusing to load.*getattr"):
        load_checkpoint(bad)


class _GetattrPayload:
    """Pickles as getattr(owner, name)."""

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __reduce__(self):
        return getattr, (self.owner, self.name)


def test_ghost_seg_model_takes_yolov5n_weights(yolov5n_pt):
    """--weights yolov5n.pt --cfg yolov5n-seg-ghostdyn.yaml: every tensor of matching name and shape transfers (the
    plain Convs, SPPF, the C3 shortcuts), the Segment head and the GhostModules do not."""
    csd = load_checkpoint(yolov5n_pt)["model"].float().state_dict()
    model = SegmentationModel("yolov5n-seg-ghostdyn.yaml", nc=80)
    sd = intersect_dicts(csd, model.state_dict(), exclude=["anchor"])
    model.load_state_dict(sd, strict=False)
    assert len(sd) == 210 and not any(k.startswith("model.24.") for k in sd)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in sd.items())
    assert not any(".m.0.primary_conv" in k for k in sd)


def test_hub_custom_seg_model_as_yolov5(log_lines):
    """torch.hub 'custom' with a seg .pt gives the model itself with YOLOv5 v7.0's AutoShape warning; a standard seg
    name with another class count builds a SegmentationModel."""
    import hubconf

    model = hubconf.custom(_seg_weights(SEG_WEIGHTS[0]))
    assert any("SegmentationModel is not yet compatible with AutoShape" in x for x in log_lines)
    with torch.no_grad():
        pred, protos = model(torch.zeros(1, 3, 64, 64))
    assert pred.shape == (1, 252, 117) and protos.shape == (1, 32, 16, 16)
    assert isinstance(hubconf._create("yolov5n-seg", pretrained=False, classes=3, autoshape=False), SegmentationModel)
