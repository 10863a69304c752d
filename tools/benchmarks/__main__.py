"""`python -m tools.benchmarks [SECTION ...] [--markdown docs/benchmarks.md]`: several sections in one process.

Sections (each also runs alone as `python -m tools.benchmarks.<section>`, with the same flags):
    headline    parameters, GFLOPs, ms/image of each model as detect.py runs it (the README's table)
    kernels     each DynamicConv layer shape alone, fast path vs timm's forward, fwd and fwd+bwd
    inference   whole-model ms/image: timm reference, fast unfused, fast fused
    train_step  forward + loss + backward + SGD step, timm reference vs fast
    memory      peak memory of inference and training, one fresh process per figure
    loader      training data loader images/s and peak memory
The export-format table users know (PyTorch, TorchScript, ONNX, ...) is benchmarks.py at the top of the repository.
"""

from tools.benchmarks.cli import main

if __name__ == "__main__":
    main()
