"""Classifier evaluation: v7.0's top-1/top-5 and batch-averaged loss on the golden logits, its table, the
label-smoothing cross-entropy (loss and gradient), and a detector refused in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from tests.conftest import golden
from utils.errors import UserError
from utils.evaluation.classify_metrics import evaluate, print_results, topk_hits
from utils.torch_utils import smartCrossEntropyLoss


def _batches(g: dict, case: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    logits, labels = torch.from_numpy(g[f"{case}__logits"]), torch.from_numpy(g[f"{case}__labels"])
    sizes = [int(x) for x in g[f"{case}__batch_sizes"]]
    return list(zip(logits.split(sizes), labels.split(sizes)))


@pytest.mark.parametrize("case", ["nc10", "nc3"])
def test_accuracy_and_loss_equal_v7(case):
    g = golden("cls.npz")
    criterion = smartCrossEntropyLoss(label_smoothing=float(g["val__label_smoothing"]))
    r = evaluate(nn.Identity(), _batches(g, case), criterion, progress=False)
    assert r.top1 == float(g[f"{case}__top1"]) and r.top5 == float(g[f"{case}__top5"])
    assert r.loss == pytest.approx(float(g[f"{case}__loss"]), rel=1e-6)
    mean_over_samples = float(criterion(torch.from_numpy(g[f"{case}__logits"]), torch.from_numpy(g[f"{case}__labels"])))
    assert r.loss != pytest.approx(mean_over_samples, rel=1e-6)  # per batch, then over batches: not per sample


def test_no_criterion_gives_zero_loss():
    g = golden("cls.npz")
    assert evaluate(nn.Identity(), _batches(g, "nc3"), progress=False).loss == 0.0


@pytest.mark.parametrize("eps", ["0", "0_1", "0_3"])
def test_label_smoothing_cross_entropy_equals_v7(eps):
    g = golden("cls.npz")
    e = float(g["ce__eps"][["0", "0_1", "0_3"].index(eps)])
    logits = torch.from_numpy(g["ce__logits"]).requires_grad_()
    loss = smartCrossEntropyLoss(e)(logits, torch.from_numpy(g["ce__labels"]))
    (grad,) = torch.autograd.grad(loss, logits)
    assert loss.item() == pytest.approx(float(g[f"ce__eps{eps}__loss"]), rel=1e-6)
    np.testing.assert_allclose(grad.numpy(), g[f"ce__eps{eps}__grad"], rtol=0, atol=1e-7)


def test_topk_hits_first_and_any():
    topk = torch.tensor([[2, 0, 1], [0, 2, 1], [1, 2, 0]])
    hits = topk_hits(topk, torch.tensor([2, 2, 0]))
    assert hits.tolist() == [[1, 1], [0, 1], [0, 1]]


def test_table_rows(log_lines):
    batches = [(torch.tensor([[3.0, 1, 0], [0, 3, 1], [1, 0, 3], [3, 1, 0]]), torch.tensor([0, 1, 0, 0]))]
    r = evaluate(nn.Identity(), batches, progress=False)
    assert r.class_accuracy(0) == (3, pytest.approx(2 / 3), 1.0)
    print_results(r, {0: "cat", 1: "dog", 2: "eel"})
    lines = [x.split() for x in log_lines]
    rows = {x[-4]: x[-3:] for x in lines if len(x) >= 4}
    assert rows["Class"] == ["Images", "top1_acc", "top5_acc"]
    assert rows["all"] == ["4", "0.75", "1"] and rows["cat"] == ["3", "0.667", "1"] and rows["dog"] == ["1", "1", "1"]
    assert rows["eel"][0] == "0"  # a class without images: nan accuracies, as YOLOv5


def test_detector_output_is_refused():
    class Detector(nn.Module):
        def forward(self, x):
            return torch.zeros(len(x), 10, 85), None

    with pytest.raises(UserError, match="not a classifier"):
        evaluate(Detector(), [(torch.zeros(2, 3, 8, 8), torch.zeros(2, dtype=torch.long))], progress=False)
