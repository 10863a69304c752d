"""models/yolo.py: parse_model, parameter and FLOP counts, forward/backward, and clear errors for bad YAMLs."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn as nn

from models.common import C3_GhostModule, Conv, DynamicConv
from models.registry import MODULES, yaml_block
from models.yolo import CHANNEL_MODULES, REPEAT_MODULES, Detect, DetectionModel, Model, parse_activation
from utils.errors import UserError
from utils.files import ROOT, yaml_load
from utils.torch_utils import count_flops


@pytest.mark.parametrize("cfg, params, gflops", [
    ("yolov5n.yaml", 1_872_157, 4.47),
    ("yolov5s.yaml", 7_235_389, 16.43),
    ("yolov5n-C3_GhostModule.yaml", 1_434_773, 3.11),
    ("yolov5n-ghostdyn.yaml", 1_434_773, 3.11),
])
def test_parameter_and_flop_counts(cfg, params, gflops):
    model = DetectionModel(cfg)
    assert sum(p.numel() for p in model.parameters()) == params
    assert round(count_flops(model, 640), 2) == gflops


def test_ghost_module_registered_in_parse_model():
    assert C3_GhostModule in CHANNEL_MODULES and C3_GhostModule in REPEAT_MODULES
    model = Model("yolov5n-ghostdyn.yaml")
    ghost_layers = [m for m in model.model if isinstance(m, C3_GhostModule)]
    assert len(ghost_layers) == 8
    assert [len(m.m) for m in ghost_layers] == [1, 2, 3, 1, 1, 1, 1, 1]  # repeats scaled by depth_multiple 0.33


def test_ghost_model_train_and_eval_outputs():
    model = DetectionModel("yolov5n-ghostdyn.yaml")
    x = torch.rand(2, 3, 128, 128)
    out = model(x)
    assert [tuple(o.shape) for o in out] == [(2, 3, 16, 16, 85), (2, 3, 8, 8, 85), (2, 3, 4, 4, 85)]
    sum(o.sum() for o in out).backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with torch.no_grad():
        pred, feats = model(x)
    assert pred.shape == (2, 3 * (16 * 16 + 8 * 8 + 4 * 4), 85)
    assert torch.isfinite(pred).all()


@pytest.mark.parametrize("cfg", ["yolov5n.yaml", "yolov5n-ghostdyn.yaml"])
def test_fused_equals_unfused(cfg):
    torch.manual_seed(0)
    model = DetectionModel(cfg)
    model.train()
    for _ in range(2):  # move BatchNorm statistics away from their identity initialisation
        model(torch.rand(2, 3, 96, 96))
    model.eval()
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        y = model(x)[0]
        y_fused = model.fuse()(x)[0]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert (y - y_fused).abs().max() <= 1e-4 * max(1.0, y.abs().max())
    # YOLOv5's fused weights stay NCHW: channels-last kernels round differently (2 of 300 val boxes on one image)
    assert all(m.weight.is_contiguous() for m in model.modules() if isinstance(m, nn.Conv2d))


def test_nc_override_and_strides():
    model = DetectionModel("yolov5n.yaml", nc=3)
    detect = model.model[-1]
    assert isinstance(detect, Detect) and detect.nc == 3 and detect.no == 8
    assert model.stride.tolist() == [8.0, 16.0, 32.0]
    assert torch.allclose(detect.anchors[0, 0], torch.tensor([10 / 8, 13 / 8]))


def test_unknown_module_is_a_clear_error(tmp_path):
    cfg = (ROOT / "models" / "yolov5n.yaml").read_text().replace("SPPF, [1024, 5]", "os.system, ['echo hi']")
    with pytest.raises(UserError, match=r"layer 9: unknown module 'os.system'"):
        DetectionModel(_write(tmp_path, cfg))


def test_wrong_argument_count_is_a_clear_error(tmp_path):
    cfg = (ROOT / "models" / "yolov5n.yaml").read_text().replace("SPPF, [1024, 5]", "SPPF, [1024, 5, 7, 9]")
    with pytest.raises(UserError, match=r"layer 9: cannot build SPPF"):
        DetectionModel(_write(tmp_path, cfg))


def test_missing_key_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="lacks the key"):
        DetectionModel(_write(tmp_path, "nc: 80\nbackbone: []\n"))


def test_activation_is_parsed_without_eval():
    act = parse_activation("nn.LeakyReLU(0.1)")
    assert isinstance(act, nn.LeakyReLU) and act.negative_slope == 0.1
    for bad in ("__import__('os').system('x')", "nn.Conv2d(3, 3, 1)", "nn.SiLU(print)"):
        with pytest.raises(UserError):
            parse_activation(bad)


def test_yaml_activation_does_not_change_the_next_model():
    cfg = yaml_load(ROOT / "models" / "yolov5n.yaml")
    cfg["activation"] = "nn.LeakyReLU(0.1)"
    leaky = DetectionModel(cfg)
    plain = DetectionModel("yolov5n.yaml")
    assert all(isinstance(m.act, nn.LeakyReLU) for m in leaky.modules() if isinstance(m, Conv))
    assert all(isinstance(m.act, nn.SiLU) for m in plain.modules() if isinstance(m, Conv))
    assert isinstance(Conv.default_act, nn.SiLU)


def test_a_block_registers_itself_for_yaml_and_fusion():
    @yaml_block(channels=True)
    class CountedConv(Conv):
        """A Conv that counts its fuse() calls."""

        fused = 0

        def fuse(self) -> None:
            type(self).fused += 1
            super().fuse()

    cfg = {"nc": 2, "depth_multiple": 1.0, "width_multiple": 1.0, "anchors": [[10, 13, 16, 30, 33, 23]],
           "backbone": [[-1, 1, "CountedConv", [16, 3, 2]], [-1, 1, "Conv", [32, 3, 2]]],
           "head": [[[1], 1, "Detect", ["nc", "anchors"]]]}
    try:
        model = DetectionModel(cfg).eval()
        assert isinstance(model.model[0], CountedConv) and model.model[0].conv.out_channels == 16
        model.fuse()
        assert CountedConv.fused == 1 and not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    finally:
        MODULES.pop("CountedConv")
        CHANNEL_MODULES.discard(CountedConv)


def test_summary_cli_prints_table_and_counts():
    out = subprocess.run([sys.executable, str(ROOT / "models" / "yolo.py"), "--cfg", "yolov5n-ghostdyn.yaml"],
                         capture_output=True, text=True, cwd="/", timeout=300)
    assert out.returncode == 0, out.stderr
    assert "models.common.C3_GhostModule" in out.stdout
    assert "1,434,773 parameters" in out.stdout and "3.1 GFLOPs" in out.stdout


def _write(tmp_path, text: str):
    f = tmp_path / "model.yaml"
    f.write_text(text)
    return f


def test_dynamic_conv_count_in_ghost_model():
    model = DetectionModel("yolov5n-ghostdyn.yaml")
    assert sum(isinstance(m, DynamicConv) for m in model.modules()) == 2 * 11


@pytest.mark.parametrize("export", [False, True])
def test_in_place_decode_equals_yolov5_decode(export):
    """Eager inference writes the decode into one preallocated output; on the same raw maps it equals YOLOv5's
    split-and-cat decode (the traced graph), bit for bit at batch 1, grids rebuilt for a new image size included."""
    torch.manual_seed(0)
    model = DetectionModel("yolov5n.yaml").eval()
    head = model.model[-1]
    head.export = export
    for shape in ((2, 3, 64, 96), (1, 3, 96, 64)):
        x = torch.rand(shape)
        with torch.no_grad():
            y, y_ref = model(x), torch.jit.trace(model, x, check_trace=False)(x)
        assert len(y) == len(y_ref) == (1 if export else 2)
        torch.testing.assert_close(y[0], y_ref[0], rtol=1e-5, atol=1e-4)
        if not export:
            decoded, decoded_ref = head._decode_in_place([t.clone() for t in y[1]])[0], head._decode(y[1])[0]
            if shape[0] == 1:
                assert torch.equal(decoded, decoded_ref)
            else:  # image by image, a sigmoid may round 1 ulp apart at the end of an image's rows
                torch.testing.assert_close(decoded, decoded_ref, rtol=1e-6, atol=1e-5)
            torch.testing.assert_close(y[1], y_ref[1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("channels_last", [False, True])
def test_head_by_rows_equals_convolution_then_permute(batch, channels_last):
    """CPU inference's matmul head gives the convolution's raw maps, in YOLOv5's (bs, na, ny, nx, no) layout."""
    torch.manual_seed(0)
    head = Detect(nc=3, anchors=((10, 13, 16, 30, 33, 23), (30, 61, 62, 45, 59, 119)), ch=(8, 16))
    for i, (c, s) in enumerate(((8, 12), (16, 6))):
        x = torch.randn(batch, c, s, s + 2)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            y = head._head_by_rows(i, x)
            y_ref = head._head(i, x)
        assert y.shape == y_ref.shape == (batch, 3, s, s + 2, 8) and y.is_contiguous()
        torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-6)


def _small_head() -> Detect:
    torch.manual_seed(0)
    head = Detect(nc=3, anchors=((10, 13, 16, 30, 33, 23), (30, 61, 62, 45, 59, 119)), ch=(8, 16))
    head.stride = torch.tensor([8.0, 16.0])
    return head


def _maps() -> list[torch.Tensor]:
    return [torch.randn(1, 8, 8, 8), torch.randn(1, 16, 4, 4)]


def test_compiled_model_runs_the_head_eagerly(monkeypatch):
    """Under torch.compile the head's inference is left out of the graph and takes the eager in-place decode; in
    training it is compiled with the rest (dynamo's 'eager' backend: the same tracing, no C++ compiler needed)."""
    head = _small_head()
    calls = []
    monkeypatch.setattr(Detect, "_decode_in_place", lambda self, x: calls.append("eager") or (torch.zeros(1), x))
    monkeypatch.setattr(Detect, "_decode", lambda self, x: calls.append("traced") or (torch.zeros(1), x))
    compiled = torch.compile(head, backend="eager")
    with torch.no_grad():
        compiled.eval()(_maps())
    assert calls == ["eager"]
    out = compiled.train()(_maps())
    assert calls == ["eager"] and [t.shape[-1] for t in out] == [8, 8]


def test_compiled_model_is_one_graph_up_to_the_head():
    """The head's graph break comes after the layer loop: inside it, dynamo gave up the loop and compiled every layer
    alone (one graph each, and eager once a block class passed its recompile limit)."""
    anchors = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119]]
    cfg = {"nc": 3, "depth_multiple": 1.0, "width_multiple": 1.0, "anchors": anchors,
           "backbone": [[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "Conv", [8, 3, 2]], [-1, 1, "Conv", [16, 3, 2]]],
           "head": [[[1, 2], 1, "Detect", ["nc", "anchors"]]]}
    model = DetectionModel(cfg).eval()
    graphs = []
    compiled = torch.compile(model, backend=lambda gm, inputs: graphs.append(gm) or gm.forward)
    with torch.no_grad():
        x = torch.rand(1, 3, 64, 64)
        torch.testing.assert_close(compiled(x)[0], model(x)[0])
    convs = [sum(n.target in (torch.conv2d, nn.functional.conv2d) for n in gm.graph.nodes) for gm in graphs]
    assert convs[0] == 3 and sum(convs) == 3


def test_torch_export_traces_the_head():
    """torch.export needs one whole graph: there the head is traced with YOLOv5's decode, not left out as in compile."""
    head = _small_head().eval()
    x = _maps()
    with torch.no_grad():
        exported = torch.export.export(head, (x,)).module()
        torch.testing.assert_close(exported([t.clone() for t in x])[0], head([t.clone() for t in x])[0])
