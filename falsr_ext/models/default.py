"""The bundled default model: a genotype of the FALSR space trained by this project.

The official FALSR weights have no licence, so ``falsr upscale`` without ``--model`` uses
weights we trained ourselves (``python/train_default.py``; README, "The default model").
Plain 3x3 convolutions (7 cells of two 48-channel layers with a skip, fusion of the last
cell): 298K parameters, about FALSR-B's size, and the fastest cell type of our engine.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_GENOTYPE = (
    "conv-k3-f48-b2-skip@F/conv-k3-f48-b2-skip@c0/conv-k3-f48-b2-skip@c1/"
    "conv-k3-f48-b2-skip@c2/conv-k3-f48-b2-skip@c3/conv-k3-f48-b2-skip@c4/"
    "conv-k3-f48-b2-skip@c5/fuse@c6"
)

# The settings of the shipped weights' run (TrainConfig fields besides genotype and data).
DEFAULT_TRAINING = {
    "scale": 2, "steps": 15000, "batch": 32, "patch": 32, "lr": 1e-3, "lr_min": 1e-5,
    "schedule": "cosine", "warmup": 300, "val_every": 500, "checkpoint_every": 250,
    "log_every": 50, "seed": 0,
}

DEFAULT_WEIGHTS = Path(__file__).with_name("default-x2.safetensors")
