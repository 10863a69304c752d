"""The README's headline figures: parameters, GFLOPs, memory traffic and ms/image of each model as users run it (fused,
batch 1).

    python -m tools.benchmarks.headline --weights yolov5n.pt yolov5n-ghostdyn-seedpatch.pt --threads 1
"""

from __future__ import annotations

from copy import deepcopy

import pandas as pd
import torch

from tools.benchmarks.cli import Settings, main
from tools.benchmarks.timing import measure
from tools.benchmarks.traffic import megabytes_moved
from tools.benchmarks.variants import predictions, quiet
from utils.torch_utils import count_flops

TITLE = "Models as detect.py runs them: fused, batch 1 at {imgsz}, {threads} thread(s)"


def table(s: Settings) -> pd.DataFrame:
    """Parameters (unfused, as trained), GFLOPs and MB read and written by the operators at --imgsz (a lower bound of
    memory traffic), and ms/image of the fused model, the models in turns."""
    with quiet(), torch.no_grad():
        fused = {name: deepcopy(m).fuse().eval() for name, m in s.models.items()}
    x = torch.rand(1, 3, s.imgsz, s.imgsz, device=s.device)
    t = measure({name: lambda m=m: predictions(m, x) for name, m in fused.items()}, s.runs, clock=s.clock)
    return pd.DataFrame([{"model": name, "parameters": sum(p.numel() for p in s.models[name].parameters()),
                          f"GFLOPs @{s.imgsz}": count_flops(m, s.imgsz), f"MB moved @{s.imgsz}": megabytes_moved(m, x)[0],
                          f"{s.device.type.upper()} ms/img": t[name] * 1e3}
                         for name, m in fused.items()])

if __name__ == "__main__":
    main(("headline",))
