"""Seeding and RNG state capture for exact resume.

The captured state contains only tensors, numbers, strings and containers, so
it can live inside a checkpoint loaded with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import numpy as np
import torch

log = logging.getLogger("i2pmae")


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed python ``random``, numpy's global RNG, torch CPU and every CUDA device.

    ``deterministic=True`` additionally asks cuDNN/cuBLAS for deterministic kernels (slower).
    """
    seed = int(seed)
    if not 0 <= seed < 2**63:
        raise ValueError(f"seed must be in [0, 2**63), got {seed}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # numpy's legacy seeding takes 32 bits
    torch.manual_seed(seed)  # also seeds all CUDA devices (lazily when CUDA is not initialised yet)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)


def capture_rng_state() -> dict[str, Any]:
    """Every global RNG's state (python, numpy, torch CPU, all CUDA devices) in a weights-only form."""
    version, mt, gauss_next = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": int(version), "state": torch.tensor(mt, dtype=torch.int64), "gauss_next": gauss_next},
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": [],
    }
    if torch.cuda.is_available():
        state["cuda"] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back what :func:`capture_rng_state` captured (CUDA states for as many devices as both have)."""
    try:
        py, npy = state["python"], state["numpy"]
        mt = tuple(int(v) for v in py["state"].tolist())
        random.setstate((int(py["version"]), mt, py["gauss_next"]))
        np.random.set_state((
            npy["name"], np.asarray(npy["keys"].numpy(), dtype=np.uint32), int(npy["pos"]),
            int(npy["has_gauss"]), float(npy["cached_gaussian"]),
        ))
        torch.set_rng_state(state["torch"].to(dtype=torch.uint8, device="cpu"))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not an RNG state captured by capture_rng_state: {exc!r}") from exc
    cuda_states = state.get("cuda") or []
    if cuda_states and torch.cuda.is_available():
        n = torch.cuda.device_count()
        if len(cuda_states) != n:
            log.warning("RNG state has %d CUDA device(s), this process sees %d; restoring the first %d",
                        len(cuda_states), n, min(n, len(cuda_states)))
        for i, s in enumerate(cuda_states[:n]):
            torch.cuda.set_rng_state(s.to(dtype=torch.uint8, device="cpu"), device=i)
