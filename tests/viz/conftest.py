"""Tiny I2P-MAE networks and checkpoints for the visualisation tests (bundled tiny-vit teacher)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

TINY_MODEL = {
    "name": "I2PMAE", "num_groups": [32, 16, 8], "group_sizes": [8, 4, 4], "encoder_dims": [16, 32, 64],
    "encoder_depths": [1, 1, 1], "num_heads": 2, "embed_widths": [16, 32, 64], "decoder_dims": [64, 32],
    "decoder_depths": [1, 1], "drop_path_rate": 0.0,
}
NPOINTS = 256


def tiny_config(masking: str = "2d_guided") -> dict:
    return {
        "model": {**TINY_MODEL, "masking": masking},
        "teacher": {"name": "tiny-vit", "weights": None, "dtype": "fp32"},  # the bundled 2D teacher
        "data": {"npoints": NPOINTS},
    }


def build_tiny(masking: str = "2d_guided") -> torch.nn.Module:
    from i2pmae.engine.runs import build_teacher_from_config
    from i2pmae.models import build_model

    cfg = tiny_config(masking)
    torch.manual_seed(0)
    return build_model(cfg["model"], teacher=build_teacher_from_config(cfg, torch.device("cpu")))


@pytest.fixture(scope="session")
def tiny_guided():
    return build_tiny("2d_guided")


@pytest.fixture(scope="session")
def tiny_random():
    return build_tiny("random")


@pytest.fixture(scope="session")
def chair() -> torch.Tensor:
    from i2pmae.data.synth import sample_shape

    return torch.from_numpy(sample_shape("chair", np.random.default_rng(0), NPOINTS))


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory, tiny_guided, tiny_random, chair):
    """Our checkpoint format ({'model', 'config'}) for both maskings, an authors'-style one without a
    config ({'base_model'}), and a cloud file with more points than the model needs."""
    root = tmp_path_factory.mktemp("viz_ckpt")
    out = {}
    for name, model, masking in (("guided", tiny_guided, "2d_guided"), ("random", tiny_random, "random")):
        out[name] = root / f"{name}.pth"
        torch.save({"model": model.state_dict(), "config": tiny_config(masking)}, out[name])
    out["no_config"] = root / "authors.pth"
    torch.save({"base_model": tiny_guided.state_dict()}, out["no_config"])
    from i2pmae.data.synth import sample_shape
    from i2pmae.engine.config import save_config

    out["config_yaml"] = root / "tiny.yaml"
    save_config(tiny_config("2d_guided"), out["config_yaml"])
    out["cloud"] = root / "chair.npy"
    np.save(out["cloud"], sample_shape("chair", np.random.default_rng(1), 1000))
    return out
