"""--evolve: hyperparameter evolution by mutating the best earlier generations, recorded in evolve.csv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from utils.logger import LOGGER, colorstr
from utils.evaluation.metrics import fitness
from utils.training.run_logger import csv_line, read_csv_rows, write_atomic

# hyp name: (mutation gain, lower limit, upper limit); gain 0 keeps the value fixed
HYP_LIMITS = {
    "lr0": (1, 1e-5, 1e-1),
    "lrf": (1, 0.01, 1.0),
    "momentum": (0.3, 0.6, 0.98),
    "weight_decay": (1, 0.0, 0.001),
    "warmup_epochs": (1, 0.0, 5.0),
    "warmup_momentum": (1, 0.0, 0.95),
    "warmup_bias_lr": (1, 0.0, 0.2),
    "box": (1, 0.02, 0.2),
    "cls": (1, 0.2, 4.0),
    "cls_pw": (1, 0.5, 2.0),
    "obj": (1, 0.2, 4.0),
    "obj_pw": (1, 0.5, 2.0),
    "iou_t": (0, 0.1, 0.7),
    "anchor_t": (1, 2.0, 8.0),
    "anchors": (2, 2.0, 10.0),
    "fl_gamma": (0, 0.0, 2.0),
    "hsv_h": (1, 0.0, 0.1),
    "hsv_s": (1, 0.0, 0.9),
    "hsv_v": (1, 0.0, 0.9),
    "degrees": (1, 0.0, 45.0),
    "translate": (1, 0.0, 0.9),
    "scale": (1, 0.0, 0.9),
    "shear": (1, 0.0, 10.0),
    "perspective": (0, 0.0, 0.001),
    "flipud": (1, 0.0, 1.0),
    "fliplr": (0, 0.0, 1.0),
    "mosaic": (1, 0.0, 1.0),
    "mixup": (1, 0.0, 1.0),
    "copy_paste": (1, 0.0, 1.0),
    "dist_feat": (1, 0.0, 5.0),  # distillation weights (train.py --teacher only)
    "dist_obj": (1, 0.0, 5.0),
    "dist_cls": (1, 0.0, 5.0),
    "dist_box": (1, 0.0, 1.0),
}
RESULT_KEYS = ("metrics/precision", "metrics/recall", "metrics/mAP_0.5", "metrics/mAP_0.5:0.95",
               "val/box_loss", "val/obj_loss", "val/cls_loss")
PARENTS = 5  # the best generations a new one is bred from
MUTATION_PROB, MUTATION_SIGMA = 0.8, 0.2


def evolvable(hyp: dict, noautoanchor: bool) -> tuple[dict, dict]:
    """(hyp, limits) for evolution: 'anchors' is evolved (default 3) unless AutoAnchor is off; add-on keys such as
    dist_* only when the hyp has them (a run with --teacher)."""
    hyp = dict(hyp)
    hyp.setdefault("anchors", 3)
    limits = {k: v for k, v in HYP_LIMITS.items() if k in hyp}
    if noautoanchor:
        hyp.pop("anchors")
        limits.pop("anchors")
    return hyp, limits


def history(evolve_csv: Path) -> pd.DataFrame | None:
    """Earlier generations (results and hyps per row), None before the first one."""
    if not evolve_csv.exists():
        return None
    data = pd.read_csv(evolve_csv, skipinitialspace=True)
    return data.rename(columns=lambda c: c.strip())


def fitness_of(data: pd.DataFrame) -> np.ndarray:
    """Fitness of each generation from its P, R, mAP50, mAP50-95 columns."""
    return np.asarray(fitness(data[list(RESULT_KEYS[:4])].to_numpy(dtype=float)), dtype=float).reshape(-1)


def mutate(hyp: dict, limits: dict, data: pd.DataFrame | None, seed: int | None = None) -> dict:
    """A new hyp: a fitness-weighted pick among the best earlier generations, randomly scaled, within limits."""
    hyp = dict(hyp)
    if data is not None and len(data):
        rng = np.random.default_rng(seed)
        fit = fitness_of(data)
        best = np.argsort(-fit)[:PARENTS]
        weights = fit[best] - fit[best].min() + 1e-6
        parent = data.iloc[rng.choice(best, p=weights / weights.sum())]
        keys = [k for k in hyp if k in limits and k in parent.index]
        gains = np.array([limits[k][0] for k in keys], dtype=float)
        v = np.ones(len(keys))
        while len(keys) and gains.any() and (v == 1).all():  # mutate until something changes
            v = (gains * (rng.random(len(keys)) < MUTATION_PROB) * rng.standard_normal(len(keys)) * rng.random()
                 * MUTATION_SIGMA + 1).clip(0.3, 3.0)
        for k, scale in zip(keys, v):
            hyp[k] = float(parent[k] * scale)
    return constrain(hyp, limits)


def load_population(hyp: dict, resume_evolve: str | None, folder: str | Path) -> list[dict]:
    """The hyps YOLOv5 seeds evolution with: --resume_evolve's YAML ({name: hyp}) if given, else every hyp YAML in
    --evolve_population; each merged over hyp, kept once, and never hyp itself (the first generation trains that)."""
    from utils.errors import UserError
    from utils.files import yaml_load

    if resume_evolve:
        if not Path(resume_evolve).is_file():
            raise UserError(f"--resume_evolve {resume_evolve}: no such YAML file")
        members = list((yaml_load(resume_evolve) or {}).values())
    else:
        if not Path(folder).is_dir():
            raise UserError(f"--evolve_population {folder}: no such folder of hyp YAMLs")
        members = [yaml_load(f) for f in sorted(Path(folder).glob("*.yaml"))]
    population = []
    for m in members:
        merged = {**hyp, **{k: v for k, v in m.items() if k in hyp}} if isinstance(m, dict) else hyp
        if merged != hyp and merged not in population:
            population.append(merged)
    return population


def constrain(hyp: dict, limits: dict) -> dict:
    """Clip every evolvable hyp to its limits and round to 5 decimals."""
    return {k: round(min(max(v, limits[k][1]), limits[k][2]), 5) if k in limits else v for k, v in hyp.items()}


def record_generation(results: tuple, hyp: dict, save_dir: Path) -> None:
    """Append a generation to evolve.csv and rewrite hyp_evolve.yaml with the best generation so far."""
    evolve_csv, evolve_yaml = save_dir / "evolve.csv", save_dir / "hyp_evolve.yaml"
    keys = (*RESULT_KEYS, *hyp.keys())
    header, rows = read_csv_rows(evolve_csv)
    header = header or csv_line(keys, "%20s")
    write_atomic(evolve_csv, header + "".join(rows) + csv_line([*results, *hyp.values()], "%20.5g"))
    data = history(evolve_csv)
    i = int(np.argmax(fitness_of(data)))
    best = data.iloc[i]
    text = ("# YOLOv5 Hyperparameter Evolution Results\n"
            f"# Best generation: {i}\n# Last generation: {len(data) - 1}\n"
            "# " + ", ".join(f"{k:>20s}" for k in RESULT_KEYS) + "\n"
            "# " + ", ".join(f"{best[k]:>20.5g}" for k in RESULT_KEYS) + "\n\n"
            + yaml.safe_dump({k: float(best[k]) for k in hyp}, sort_keys=False))
    write_atomic(evolve_yaml, text)
    prefix = colorstr("evolve: ")
    LOGGER.info(f"{prefix}{len(data)} generations finished, current result:\n"
                f"{prefix}" + ", ".join(f"{k:>20s}" for k in keys) + "\n"
                f"{prefix}" + ", ".join(f"{v:20.5g}" for v in (*results, *hyp.values())) + "\n")
