"""Shared fixtures of the CLI end-to-end tests: tiny datasets and one tiny pre-trained I2P-MAE run."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers_cli import (  # one_thread: a session autouse fixture
    one_thread,  # noqa: F401
    TINY_TEACHER,
    pretrain_args,
    run_cli,
    write_fewshot,
    write_modelnet_h5,
    write_scanobjectnn,
    write_shapenet55,
    write_shapenetpart,
)


@pytest.fixture(scope="session")
def cli_data(tmp_path_factory) -> SimpleNamespace:
    """Every dataset the commands read, in its published layout, a few clouds each."""
    root = tmp_path_factory.mktemp("cli_data")
    return SimpleNamespace(
        shapenet55=write_shapenet55(root / "shapenet55"),
        modelnet_h5=write_modelnet_h5(root / "modelnet_h5"),
        scanobjectnn=write_scanobjectnn(root / "scanobjectnn"),
        fewshot=write_fewshot(root / "fewshot"),
        shapenetpart=write_shapenetpart(root / "shapenetpart"),
        root=root,
    )


@pytest.fixture(scope="session")
def pretrained_run(cli_data, tmp_path_factory) -> Path:
    """One I2P-MAE pre-training run (2D-guided, tiny-vit teacher with random weights), shared by the tests."""
    out = tmp_path_factory.mktemp("runs") / "i2p-mae"
    code = run_cli(*pretrain_args(cli_data, "pretrain/i2p-mae", out, *TINY_TEACHER, flags=("--teacher", "tiny-vit")))
    assert code == 0
    return out
