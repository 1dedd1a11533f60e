"""Fixtures of the zero-shot tests: a tiny two-tower CLIP (tests/helpers_clip.py) and an offline setting."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from helpers_cli import one_thread  # noqa: F401 (session autouse fixture)
from helpers_clip import offline_env  # noqa: F401 (fixture)
from helpers_clip import TINY, clip_state_dict, image_reference, save_clip_safetensors, save_torchscript, text_reference


@pytest.fixture(scope="session")
def clip_sd() -> dict[str, torch.Tensor]:
    return clip_state_dict()


@pytest.fixture(scope="session")
def clip_file(clip_sd, tmp_path_factory) -> Path:
    return save_clip_safetensors(clip_sd, tmp_path_factory.mktemp("clip") / "tiny-clip.safetensors")


@pytest.fixture
def zs_tools():
    """Helpers above (tests cannot import conftest under --import-mode=importlib)."""
    return SimpleNamespace(state_dict=clip_state_dict, image_reference=image_reference, text_reference=text_reference,
                           save_torchscript=save_torchscript, tiny=TINY)
