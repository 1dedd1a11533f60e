"""`i2pmae info`, every command's --help, and bad input (exit code 1 with a message naming the problem)."""

from __future__ import annotations

import pytest
import torch

from helpers_cli import TINY_PRETRAIN, run_cli
from i2pmae.cli.main import build_parser


def _commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(sub.choices)


def test_info_prints_versions(capsys):
    assert run_cli("info") == 0
    out = capsys.readouterr().out
    assert f"torch {torch.__version__}" in out and "tiny-vit" in out


def test_top_level_help(capsys):
    assert run_cli("--help") == 0
    out = capsys.readouterr().out
    assert all(cmd in out for cmd in ("pretrain", "svm", "finetune", "fewshot", "segment", "evaluate", "embed"))
    assert run_cli() == 2  # no command: usage, exit code 2


@pytest.mark.parametrize("command", _commands())
def test_every_command_help(command, capsys):
    assert run_cli(command, "--help") == 0
    assert "usage: i2pmae " + command in capsys.readouterr().out


def test_pretrain_missing_data_root(cli_data, tmp_path, capsys):
    missing = tmp_path / "no_such_shapenet"
    code = run_cli("pretrain", "-c", "pretrain/w-o-2d", "--out", tmp_path / "run", "--device", "cpu", *TINY_PRETRAIN,
                   f"data.dataset.root={missing}", f"data.svm.root={cli_data.modelnet_h5}")
    assert code == 1
    err = capsys.readouterr().err
    assert "i2pmae pretrain: error:" in err and str(missing) in err


def test_svm_missing_checkpoint(cli_data, tmp_path, capsys):
    missing = tmp_path / "missing.pth"
    code = run_cli("svm", "--checkpoint", missing, "--out", tmp_path / "svm", "--device", "cpu", *TINY_PRETRAIN,
                   f"data.svm.root={cli_data.modelnet_h5}")
    assert code == 1
    assert str(missing) in capsys.readouterr().err


def test_finetune_resume_without_run(tmp_path, capsys):
    empty = tmp_path / "not_a_run"
    empty.mkdir()
    assert run_cli("finetune", "--resume", empty, "--device", "cpu") == 1
    err = capsys.readouterr().err
    assert str(empty) in err and "config.yaml" in err


def test_evaluate_rejects_pretraining_checkpoint(cli_data, pretrained_run, tmp_path, capsys):
    """A pre-training checkpoint is not a fine-tuned classifier: said so, exit code 1."""
    code = run_cli("evaluate", "--checkpoint", pretrained_run / "last.pth", "--out", tmp_path / "ev", "--device",
                   "cpu", "model.num_groups=[32,16,8]", "model.group_sizes=[8,4,4]", "model.encoder_dims=[16,32,64]",
                   "model.encoder_depths=[1,1,1]", "model.num_heads=2", "model.embed_widths=[8,16,32]",
                   "data.dataset.format=modelnet40_h5", f"data.dataset.root={cli_data.modelnet_h5}",
                   "data.dataset.npoints=256", "data.npoints=128", "model.num_classes=3")
    assert code == 1
    err = capsys.readouterr().err
    assert "last.pth" in err and "missing keys" in err


def test_bad_override_syntax(tmp_path, capsys):
    assert run_cli("svm", "--out", tmp_path / "svm", "--device", "cpu", "svm.C") == 1
    assert "svm.C" in capsys.readouterr().err


def test_svm_with_a_finetuning_config(cli_data, tmp_path, capsys):
    """`svm -c finetune/...` is a config mix-up: the message says which kind of config is needed."""
    code = run_cli("svm", "-c", "finetune/modelnet40", "--out", tmp_path / "svm", "--device", "cpu")
    assert code == 1
    err = capsys.readouterr().err
    assert "I2PMAEClassifier" in err and "pre-training config" in err
