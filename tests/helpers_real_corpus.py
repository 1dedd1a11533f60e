"""A tiny corpus in the real-corpus builder's layout, and a tiny model config over pretrain/real-corpus, for
the probe command's and the step sweep's tests (CI never builds the real corpus)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

TINY_CONFIG = """_base_: pretrain/real-corpus
model: {num_groups: [32, 16, 8], group_sizes: [8, 4, 4], encoder_dims: [16, 32, 64], encoder_depths: [1, 1, 1],
        num_heads: 2, embed_widths: [8, 16, 32], drop_path_rate: 0.0, decoder_dims: [64, 32], decoder_depths: [1, 1]}
data: {npoints: 128}
svm: {C: 0.01}
"""


def tiny_corpus(root: Path, per_class: int = 4, sets: tuple[str, ...] = ("eval-ufoai", "eval-kicad"),
                points: int = 256) -> None:
    """Sets of two classes (spheres, flat boxes) in the builder's layout, as .npy clouds."""
    rng = np.random.default_rng(0)
    for name in sets:
        for label in ("ball", "slab"):
            (root / name / label).mkdir(parents=True)
            for k in range(per_class):
                p = rng.normal(size=(points, 3))
                p = p / np.linalg.norm(p, axis=1, keepdims=True) if label == "ball" else \
                    rng.uniform(-1, 1, (points, 3)) * [1, 1, 0.05]
                np.save(root / name / label / f"{name}{label}{k}.npy", p.astype(np.float32))
