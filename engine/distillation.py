"""Knowledge distillation from a YOLOv5-format teacher (train.py --teacher): the teacher's outputs as extra loss terms.

Each term is weighted by a hyp key (defaults in DIST_HYP, so --evolve can tune them):
dist_feat: the student's Detect inputs imitate the teacher's (MSE over the teacher's variance; a learned 1x1 adapter
  where channel counts differ); dist_obj / dist_cls: objectness and class probabilities match the teacher's
  (Bernoulli KL, zero when they agree; classes weighted by the teacher's objectness, in cells where it is at
  least CLS_CONF); dist_box: decoded boxes match
  the teacher's where its objectness is at least BOX_CONF.
The teacher and the adapters stay outside the student, so checkpoints keep YOLOv5's layout. How the teacher runs
(ONNX Runtime on CPU) is engine/teacher_runtime.py's concern.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.loading import attempt_load
from utils.errors import UserError
from utils.training.hyps import GAIN, register_hyps
from engine.teacher_runtime import detect_inputs, teacher_runner
from utils.logger import LOGGER, colorstr
from utils.distributed import rank
from utils.torch_utils import de_parallel

DIST_HYP = {"dist_feat": 0.5, "dist_obj": 1.0, "dist_cls": 1.0, "dist_box": 0.05}
register_hyps({k: GAIN for k in DIST_HYP})  # hyp files and --evolve may set them
BOX_CONF = 0.5  # teacher objectness from which its boxes are imitated
CLS_CONF = 0.01  # teacher objectness from which class scores are imitated (cells below it weigh next to nothing)
BOX_BETA = 0.1  # smooth-L1 corner of the box term: quadratic (vanishing gradient) for near-equal boxes
EPS = 1e-6


def load_teacher(weights: str | Path, student: nn.Module, device: torch.device) -> nn.Module:
    """The teacher as a frozen, fused eval model (fp16 on CUDA); refused in one line when its strides differ."""
    teacher = attempt_load(weights, device, fuse=True)
    if not hasattr(teacher, "model"):
        raise UserError(f"--teacher {weights}: one detection model's weights are needed, not an ensemble")
    s, t = de_parallel(student).model[-1], teacher.model[-1]
    if t.stride.tolist() != s.stride.tolist() or t.na != s.na:
        raise UserError(f"--teacher {weights}: strides {[int(x) for x in t.stride]} with {t.na} anchors per level, "
                        f"but the model has {[int(x) for x in s.stride]} with {s.na}; a teacher needs the same")
    teacher.requires_grad_(False)
    return teacher.half() if device.type == "cuda" else teacher


def bernoulli_kl(logit_s: torch.Tensor, logit_t: torch.Tensor) -> torch.Tensor:
    """KL(sigmoid(t) || sigmoid(s)) per element from logits, in closed form: softplus(s) - softplus(t) - p_t (s - t).
    Three passes over the student's tensor instead of BCE minus entropy's dozen (the class term spans every cell)."""
    with torch.no_grad():
        p_t = logit_t.sigmoid()
        const = F.softplus(logit_t) - p_t * logit_t
    return (F.softplus(logit_s) - p_t * logit_s - const).clamp(0)


def decode_boxes(p: torch.Tensor, anchors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(xy offset in the cell, log wh in grid units) of the raw level outputs (bs, na, ny, nx, no) where mask
    (bs, na, ny, nx) holds, with (na, 2) anchors; only the selected cells are decoded."""
    p, anchors = p[mask], anchors.view(1, -1, 1, 1, 2).expand(*mask.shape, 2)[mask]
    xy = p[:, :2].sigmoid() * 2 - 0.5
    wh = (p[:, 2:4].sigmoid() * 2) ** 2 * anchors
    return torch.cat((xy, wh.clamp(EPS).log()), -1)


def output_losses(ps: list[torch.Tensor], pt: list[torch.Tensor], anchors_s: torch.Tensor, anchors_t: torch.Tensor,
                  classes: bool = True) -> tuple[torch.Tensor, ...]:
    """(objectness, class, box) terms of raw student maps ps against the teacher's pt, each a mean over the levels that
    have one; classes=False leaves the class term at zero (the two models' class lists differ)."""
    obj, cls, box = [], [], []
    for i, (s, t) in enumerate(zip(ps, pt)):
        t_obj = t[..., 4].sigmoid()
        obj.append(bernoulli_kl(s[..., 4], t[..., 4]).mean())
        if classes:
            cells = t_obj > CLS_CONF
            w = t_obj[cells]
            kl = bernoulli_kl(s[cells][:, 5:], t[cells][:, 5:]).mean(-1)
            cls.append((kl * w).sum() / (w.sum() + EPS))
        sure = t_obj > BOX_CONF
        if sure.any():
            bs, bt = decode_boxes(s, anchors_s[i].float(), sure), decode_boxes(t, anchors_t[i].float(), sure)
            box.append(F.smooth_l1_loss(bs, bt, beta=BOX_BETA, reduction="none").sum(-1).mean())
    zero = ps[0].sum() * 0
    return tuple(torch.stack(x).mean() if x else zero for x in (obj, cls, box))


class Adapters(nn.ModuleList):
    """Per Detect level, a 1x1 convolution from the student's channels to the teacher's (identity when equal)."""

    def __init__(self, student_channels: list[int], teacher_channels: list[int]):
        super().__init__(nn.Identity() if a == b else nn.Conv2d(a, b, 1) for a, b in zip(student_channels,
                                                                                          teacher_channels))

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        return [m(x) for m, x in zip(self, features)]


class Distiller:
    """The teacher's knowledge as a loss on the student's batch; the adapters are its only trainable parameters.
    onnx=False keeps a CPU teacher in PyTorch (teacher_runtime's fallback) for tests and comparisons."""

    def __init__(self, student: nn.Module, teacher: nn.Module, hyp: dict, onnx: bool = True):
        s = de_parallel(student)
        self.teacher = teacher
        self.run_teacher = teacher_runner(teacher, onnx)
        self.hyp = {k: float(hyp.get(k, v)) for k, v in DIST_HYP.items()}
        self.classes = s.model[-1].nc == teacher.model[-1].nc
        if not self.classes:
            LOGGER.info(f"{colorstr('teacher: ')}{teacher.model[-1].nc} classes, the model {s.model[-1].nc}: "
                        f"class scores are not distilled")
        channels = [[m.in_channels for m in x.model[-1].m] for x in (s, teacher)]
        self.adapters = Adapters(*channels).to(next(s.parameters()).device)
        self.params = list(self.adapters.parameters())
        if rank() != -1 and self.params:  # DDP keeps the adapters equal across processes
            self.adapters = nn.parallel.DistributedDataParallel(self.adapters)
        self.student_anchors = s.model[-1].anchors
        self._s: dict = {}
        self.sums, self.count = torch.zeros(4), 0

    def student_forward(self, model: nn.Module, imgs: torch.Tensor, forward=None) -> list[torch.Tensor]:
        """The student's raw outputs, its Detect inputs kept for the feature term; `forward` runs the model in its
        place (the compiled forward of train.py --compile)."""
        with detect_inputs(model, self._s):
            return (forward or model)(imgs)

    def keep_student_inputs(self, features: list[torch.Tensor]) -> None:
        """The student's Detect inputs of this step, when its forward returned them (forward_with_head_inputs)."""
        self._s["x"] = list(features)

    def loss(self, imgs: torch.Tensor, preds: list[torch.Tensor]) -> torch.Tensor:
        """Weighted distillation loss * batch size (YOLOv5's loss scale) for the student's preds on imgs."""
        pt, ft = self.run_teacher(imgs)
        feat = self.feature_loss(self._s["x"], ft)
        items = torch.stack((feat, *self.output_losses([p.float() for p in preds], pt)))
        self.sums += items.detach().cpu()
        self.count += 1
        weights = torch.tensor([self.hyp[k] for k in DIST_HYP], device=items.device)
        return (items * weights).sum() * imgs.shape[0]

    def feature_loss(self, fs: list[torch.Tensor], ft: list[torch.Tensor]) -> torch.Tensor:
        """Mean over levels of the adapted student feature's MSE to the teacher's, over the teacher's variance."""
        adapted = self.adapters([x.float() for x in fs])
        return torch.stack([F.mse_loss(a, t) / (t.var() + EPS) for a, t in zip(adapted, ft)]).mean()

    def output_losses(self, ps: list[torch.Tensor], pt: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        return output_losses(ps, pt, self.student_anchors, self.teacher.model[-1].anchors, self.classes)

    def summary(self) -> str:
        """Mean of each term since the last summary (the epoch's), for the log."""
        mean = (self.sums / max(self.count, 1)).tolist()
        self.sums, self.count = torch.zeros(4), 0
        return colorstr("distill: ") + ", ".join(f"{k}={v:.4g}" for k, v in zip(DIST_HYP, mean))

    def optimizer_state(self, optimizer: torch.optim.Optimizer) -> dict:
        """The optimizer's state_dict without the adapters' tensors (their group stays, empty, for --resume)."""
        sd = optimizer.state_dict()
        mine = {id(p) for p in self.params}
        order = [p for g in optimizer.param_groups for p in g["params"]]
        drop = {i for i, p in enumerate(order) if id(p) in mine}
        sd["state"] = {k: v for k, v in sd["state"].items() if k not in drop}
        return sd
