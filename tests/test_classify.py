"""Classifier models: ClassificationModel from a detector or a YAML (v7.0's yolov5n-cls structure and optimizer
groups from the golden), reshape_classifier_output on YOLOv5 and torchvision heads, build_classifier's --model forms,
the shared classifier checkpoints, and the hub wrapper's probabilities."""

from __future__ import annotations

import urllib.error

import pytest
import torch
import torch.nn as nn

from models.classify import ClassifierShape, build_classifier, load_classifier, reshape_classifier_output
from models.common import Classify
from models.loading import attempt_load
from models.yolo import ClassificationModel, DetectionModel
from tests.conftest import golden, shared_path
from utils.errors import UserError
from utils.files import ROOT
from utils.torch_utils import smart_optimizer
from utils.training.lr_schedule import CLASSIFY_LRF, lr_lambda


@pytest.fixture(scope="module")
def yolov5n() -> DetectionModel:
    return DetectionModel("yolov5n.yaml", nc=80)


@pytest.fixture(scope="module")
def yolov5n_cls(yolov5n) -> ClassificationModel:
    model = ClassificationModel(model=yolov5n, nc=1000, cutoff=10)
    reshape_classifier_output(model, 1000)
    return model


def test_structure_equals_v7(yolov5n_cls):
    j = golden("cls.json")["outputs"]
    assert [type(m).__name__ for m in yolov5n_cls.model] == j["module_types"]
    assert sum(p.numel() for p in yolov5n_cls.parameters()) == j["total_parameters"] == 2_493_000
    assert [k for k, _ in yolov5n_cls.named_parameters()] == j["model_parameter_order"]
    head = yolov5n_cls.model[-1]
    assert (head.conv.conv.in_channels, head.linear.out_features, head.i, head.f) == (256, 1000, 9, -1)
    assert yolov5n_cls(torch.zeros(2, 3, 64, 64)).shape == (2, 1000)


@pytest.mark.parametrize("name", ["Adam", "SGD", "AdamW", "RMSProp"])
def test_optimizer_groups_equal_v7(yolov5n_cls, name):
    j = golden("cls.json")
    out = j["outputs"]
    opt = smart_optimizer(yolov5n_cls, name, j["inputs"]["lr0"], j["inputs"]["momentum"], j["inputs"]["decay"])
    expected = out["param_groups"] if name == "Adam" else out["other_optimizers"][name]["param_groups"]
    assert type(opt).__name__ == (out["optimizer_type"] if name == "Adam" else out["other_optimizers"][name]["type"])
    names = {id(p): k for k, p in yolov5n_cls.named_parameters()}
    order = [names[id(p)] for g in opt.param_groups for p in g["params"]]
    assert order == out["optimizer_param_order"]
    for g, e in zip(opt.param_groups, expected):
        assert len(g["params"]) == e["n_params"]
        for k, v in e.items():
            if k != "n_params":
                assert (list(g[k]) if isinstance(g[k], tuple) else g[k]) == pytest.approx(v, rel=1e-12), k
    numel = [sum(p.numel() for p in g["params"]) for g in opt.param_groups]
    assert numel == [out["group_numel"]["2"], out["group_numel"]["0"], out["group_numel"]["1"]]


@pytest.mark.parametrize("scenario", ["adam_e10", "sgd_e4"])
def test_lr_schedule_equals_v7(scenario):
    j = golden("cls.json")
    s = next(x for x in j["inputs"]["lr_scenarios"] if x["name"] == scenario)
    out = j["outputs"]["schedules"][scenario]
    lf = lr_lambda(s["epochs"], CLASSIFY_LRF)
    assert [lf(x) for x in range(s["epochs"] + 1)] == pytest.approx(out["lf_per_epoch"], rel=1e-12)
    opt = smart_optimizer(nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)), s["optimizer"], s["lr0"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda=lf)
    assert [g["initial_lr"] for g in opt.param_groups] == pytest.approx(out["initial_lr"], rel=1e-12)
    for epoch in range(s["epochs"]):
        assert [g["lr"] for g in opt.param_groups] == pytest.approx(out["epoch_lr"][epoch], rel=1e-12)
        opt.step()
        scheduler.step()
        assert opt.param_groups[0]["lr"] == pytest.approx(out["logged_lr0"][epoch], rel=1e-12)


def test_detector_is_left_whole_and_cutoff_checked(yolov5n):
    det = yolov5n
    cls = ClassificationModel(model=det, nc=5, cutoff=4)
    assert len(det.model) == 25 and len(cls.model) == 4 and isinstance(cls.model[-1], Classify)
    assert cls.model[-1].conv.conv.in_channels == 32 and cls(torch.zeros(1, 3, 64, 64)).shape == (1, 5)
    for bad in (0, 25, 40):
        with pytest.raises(UserError, match="--cutoff"):
            ClassificationModel(model=det, cutoff=bad)
    with pytest.raises(UserError, match="no input convolution"):
        ClassificationModel(model=det, cutoff=12)  # layer 11 is an Upsample


def test_reshape_torchvision_heads():
    import torchvision

    resnet = torchvision.models.resnet18(weights=None)
    reshape_classifier_output(resnet, 7)
    assert resnet.fc.out_features == 7
    squeeze = torchvision.models.squeezenet1_0(weights=None)
    reshape_classifier_output(squeeze, 7)
    assert squeeze.classifier[1].out_channels == 7 and squeeze(torch.zeros(1, 3, 64, 64)).shape == (1, 7)
    vgg_like = nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 1000)))
    reshape_classifier_output(vgg_like, 4)
    assert vgg_like[-1][0].out_features == 8 and vgg_like[-1][2].out_features == 4  # the last Linear only
    with pytest.raises(UserError, match="cannot set the class count"):
        reshape_classifier_output(nn.Sequential(nn.Conv2d(3, 3, 1), nn.ReLU()), 4)


def test_build_from_detection_pt_and_classifier_pt(yolov5n_pt, log_lines):
    model = build_classifier(str(yolov5n_pt), nc=4, cutoff=10)
    assert isinstance(model, ClassificationModel) and model.model[-1].linear.out_features == 4
    assert any("is a detection model" in x for x in log_lines)
    assert all(p.requires_grad and p.dtype == torch.float32 for p in model.parameters())
    cls = build_classifier(str(shared_path("weights/yolov5n-cls-coco128cls.pt")), nc=12, dropout=0.2)
    assert cls.model[-1].drop.p == 0.2 and cls.nc == 12
    w = cls.model[0].conv.weight.detach().clone()
    scratch = build_classifier(str(shared_path("weights/yolov5n-cls-coco128cls.pt")), nc=12, pretrained=False)
    assert not torch.equal(w, scratch.model[0].conv.weight)  # --pretrained False re-initializes


def test_build_from_yaml_and_torchvision_name():
    model = build_classifier("yolov5n-ghostdyn.yaml", nc=3)
    assert [type(m).__name__ for m in model.model].count("C3_GhostModule") == 4
    assert isinstance(model.model[-1], Classify) and model(torch.zeros(2, 3, 64, 64)).shape == (2, 3)
    resnet = build_classifier("resnet18", nc=3, pretrained=False)
    assert resnet.fc.out_features == 3
    with pytest.raises(UserError, match="not found"):
        build_classifier("resnet9000", nc=3)


def test_offline_torchvision_weights_are_one_line(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(UserError, match=r"cannot fetch its ImageNet weights.*resnet18-.*\.pth.*--pretrained False"):
        build_classifier("resnet18", nc=3, pretrained=True)


@pytest.mark.parametrize("name", ["yolov5n-cls-coco128cls.pt", "yolov5n-cls-ghostdyn-seedpatch.pt"])
def test_shared_classifier_checkpoints_load_and_run(name):
    model = attempt_load(shared_path(f"weights/{name}"))
    assert isinstance(model, ClassificationModel) and len(model.names) == 12 and model.names[7] == "person"
    unfused = attempt_load(shared_path(f"weights/{name}"), fuse=False)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), unfused(x), atol=1e-4, rtol=1e-4)  # fusing keeps the logits


def test_yolov5_classifier_saved_here_loads_again(tmp_path):
    """A YOLOv5 classifier carries its eval transform (model.transforms): saved here (fine-tuned, benchmark copies)
    it pickles our CenterCrop/ToTensor under their own module paths, which must load as YOLOv5's names do."""
    from models.checkpoints import load_checkpoint, save_checkpoint

    model = attempt_load(shared_path("weights/yolov5n-cls-coco128cls.pt"), fuse=False)
    assert hasattr(model, "transforms")
    save_checkpoint({"model": model}, tmp_path / "resaved.pt")
    assert type(load_checkpoint(tmp_path / "resaved.pt")["model"].transforms).__name__ == "Compose"


def test_hub_wrapper_gives_probabilities(bus_jpg, zidane_jpg):
    model = ClassifierShape(load_classifier(str(shared_path("weights/yolov5n-cls-coco128cls.pt")), torch.device("cpu")))
    p = model([str(bus_jpg), str(zidane_jpg)])
    assert p.shape == (2, 12) and torch.allclose(p.sum(1), torch.ones(2))
    assert model.names[int(p[1].argmax())] == "person"
    with pytest.raises(UserError, match="take one classifier"):
        load_classifier(["a.pt", "b.pt"], torch.device("cpu"))


def test_torch_hub_custom_classifier_returns_probabilities(bus_jpg):
    from PIL import Image

    model = torch.hub.load(str(ROOT), "custom", str(shared_path("weights/yolov5n-cls-coco128cls.pt")), source="local",
                           _verbose=False)
    assert isinstance(model, ClassifierShape)
    p = model([str(bus_jpg), Image.open(bus_jpg)])
    assert p.shape == (2, 12) and torch.allclose(p[0], p[1]) and torch.allclose(p.sum(1), torch.ones(2))
