"""Shared fixtures of the model tests: a small deterministic 2D teacher, tiny configs, clouds, reference JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[2]

TINY = dict(
    num_groups=[64, 32, 8],
    group_sizes=[8, 4, 4],
    encoder_dims=[32, 64, 128],
    encoder_depths=[1, 1, 1],
    num_heads=2,
    decoder_dims=[128, 64],
    decoder_depths=[1, 1],
)
TINY_ENCODER = {k: v for k, v in TINY.items() if not k.startswith("decoder")}


class TinyTeacher(nn.Module):
    """Deterministic stand-in for CLIP: 14x14 average pooling, a fixed random 1x1 conv to C channels;
    attention = softmax over the 196 patches of the pooled first channel (times ``sharpness``).

    Records every call (batch size, whether gradients were enabled) so tests can check how it is run.
    """

    def __init__(self, feature_dim: int = 16, sharpness: float = 4.0, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.proj = nn.Conv2d(3, feature_dim, 1)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(feature_dim, 3, 1, 1, generator=g))
            self.proj.bias.zero_()
        self.feature_dim = feature_dim
        self.sharpness = sharpness
        self.calls: list[tuple[int, bool]] = []

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls.append((images.shape[0], torch.is_grad_enabled()))
        pooled = F.adaptive_avg_pool2d(images, 14)
        attn = torch.softmax(pooled[:, 0].flatten(1) * self.sharpness, dim=1).view(-1, 14, 14)
        return self.proj(pooled), attn


def clouds(batch: int, n: int = 256, seed: int = 0) -> torch.Tensor:
    """Clouds of different shapes (anisotropic blobs with a few clusters), normalised to the unit ball."""
    g = torch.Generator().manual_seed(seed)
    pts = torch.randn(batch, n, 3, generator=g) * (0.3 + torch.rand(batch, 1, 3, generator=g))
    pts[:, : n // 4] += torch.randn(batch, 1, 3, generator=g)
    pts = pts - pts.mean(dim=1, keepdim=True)
    return pts / pts.norm(dim=-1).amax(dim=1).view(-1, 1, 1)


def reference_json_path() -> Path:
    """The authors' parameter names and shapes, committed beside the tests (see reference/README.md)."""
    return Path(__file__).parent / "reference" / "official_state_dicts.json"


@pytest.fixture(scope="session")
def reference() -> dict:
    return json.loads(reference_json_path().read_text())


@pytest.fixture
def teacher() -> TinyTeacher:
    return TinyTeacher()


@pytest.fixture
def teacher_factory():
    return TinyTeacher


@pytest.fixture
def tiny() -> dict:
    """Tiny I2PMAE config (64/32/8 tokens, widths 32/64/128, one block per scale, 2 heads)."""
    return {k: list(v) if isinstance(v, list) else v for k, v in TINY.items()}


@pytest.fixture
def tiny_encoder() -> dict:
    """The encoder part of the tiny config (for the classifier and segmentation networks)."""
    return {k: list(v) if isinstance(v, list) else v for k, v in TINY_ENCODER.items()}


@pytest.fixture
def make_clouds():
    return clouds


@pytest.fixture(autouse=True)
def _one_thread():
    """Model tests run single-threaded: on the 2 shared cores, OpenMP threads competing with other
    processes made these small workloads 10-20x slower; one thread costs at most 2x when idle."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
