"""A new user's bad invocations end in one clear line; signals, full disks and checkpoints' own configs (issue 14)."""

from __future__ import annotations

import errno
import json
import os
import signal

import pytest
import torch

from helpers_cli import FAST_TRAIN, TINY_ENCODER, TINY_PRETRAIN, run_cli

GPU = torch.cuda.is_available()


@pytest.fixture(scope="module")
def junk(tmp_path_factory):
    path = tmp_path_factory.mktemp("junk") / "random.pth"
    path.write_bytes(os.urandom(2048))
    return path


# (command line after `i2pmae`, a fragment the error line must hold). OUT, JUNK, NOTRUN are filled in below.
BAD = [
    (["pretrain", "-c", "no/such/config.yaml"], "no/such/config.yaml"),
    (["pretrain", "train.epochs=four"], "'train.epochs' must be an integer, got 'four'"),
    (["pretrain", "train.bach_size=8"], "did you mean 'batch_size'"),
    (["pretrain", "trian.epochs=3"], "did you mean 'train'"),
    (["pretrain", "teacher.name=clipp"], "unknown teacher.name 'clipp'"),
    (["pretrain", "--teacher", "clipp"], "unknown teacher.name 'clipp'"),
    (["pretrain", "--device", "foo"], "--device foo: not a device"),
    (["pretrain", "--device", "cuda:99" if GPU else "cuda"], "--device cuda"),
    (["pretrain", "--resume", "NOTRUN"], "no config.yaml there"),
    (["finetune", "--pretrained", "JUNK"], "corrupt or not a checkpoint"),
    (["finetune", "--pretrained", "MISSING"], "checkpoint not found"),
    (["finetune", "train.lr=abc"], "'train.lr' must be a number, got 'abc'"),
    (["finetune", "--resume", "NOTRUN"], "no config.yaml there"),
    (["segment", "-c", "segmentation/shapenetprt"], "shapenetprt"),
    (["segment", "--pretrained", "JUNK"], "corrupt or not a checkpoint"),
    (["segment", "model.num_part=3"], "did you mean 'num_parts'"),
    (["evaluate", "--checkpoint", "JUNK"], "corrupt or not a checkpoint"),
    (["evaluate", "--checkpoint", "MISSING"], "checkpoint not found"),
    (["evaluate"], "--checkpoint"),
    (["fewshot", "train.epochs=four"], "must be an integer"),
    (["fewshot", "--pretrained", "MISSING"], "checkpoint not found"),
    (["svm", "--checkpoint", "JUNK"], "corrupt or not a checkpoint"),
    (["svm", "svm.c=0.1"], "did you mean 'C'"),
    (["svm", "--device", "foo"], "--device foo"),
    (["info", "--verbose"], "unrecognized arguments"),
]


@pytest.mark.parametrize("argv, fragment", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_invocation_ends_in_one_clear_line(argv, fragment, tmp_path, junk, capsys):
    out = tmp_path / "new" / "run"
    subst = {"JUNK": str(junk), "NOTRUN": str(tmp_path), "MISSING": str(tmp_path / "missing.pth")}
    argv = [subst.get(a, a) for a in argv]
    if argv[0] != "info" and "--resume" not in argv and argv != ["evaluate"]:
        argv += ["--out", str(out)]
    code = run_cli(*argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0
    assert "Traceback" not in err
    prefix = f"i2pmae {argv[0]}: error:"
    assert [line for line in lines if line.startswith(prefix)] == [lines[-1]], err
    assert fragment in lines[-1], lines[-1]
    assert not (tmp_path / "new").exists()  # a failed start leaves no run folder (nor its new parents) behind


def test_failed_start_keeps_a_folder_that_existed(cli_data, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code = run_cli("pretrain", "-c", "pretrain/w-o-2d", "--out", out, "--device", "cpu", *TINY_PRETRAIN,
                   f"data.dataset.root={tmp_path / 'nothing'}", f"data.svm.root={cli_data.modelnet_h5}")
    assert code == 1 and "i2pmae pretrain: error:" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "keep me" and not (out / ".lock").exists()


def _tiny_pretrain(cli_data, out, *extra):
    return ["pretrain", "-c", "pretrain/w-o-2d", "--out", out, "--device", "cpu", *TINY_PRETRAIN, *FAST_TRAIN,
            "train.epochs=1", "train.cosine_epochs=1", f"data.dataset.root={cli_data.shapenet55}",
            "data.dataset.npoints=128", "data.npoints=128", "data.svm=null", *extra]


def test_unwritable_out_is_one_line(cli_data, tmp_path, monkeypatch, capsys):
    import i2pmae.io_errors as io_errors

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(io_errors.tempfile, "mkstemp", read_only)
    out = tmp_path / "ro" / "run"
    assert run_cli(*_tiny_pretrain(cli_data, out)) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"i2pmae pretrain: error: --out {out} is not writable: read-only file system (EROFS); "
                   "choose another --out")
    assert not out.exists()


def test_full_disk_at_checkpoint_is_one_line_and_keeps_the_run(cli_data, tmp_path, monkeypatch, capsys):
    def full(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    out = tmp_path / "run"
    assert run_cli(*_tiny_pretrain(cli_data, out, "train.checkpoint_every_steps=1")) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "enforce fail" not in err
    assert err.strip().splitlines()[-1] == (f"i2pmae pretrain: error: cannot write {out / 'last.pth'}: no space "
                                            "left on the device (ENOSPC); free some space or choose another --out")
    assert "no checkpoint was written yet" in err and not list(out.glob(".*.tmp"))
    assert (out / "metrics.jsonl").stat().st_size > 0  # it trained a step: the folder stays, for the logs


def test_sigterm_exits_143_with_the_resume_line(cli_data, tmp_path, monkeypatch, capsys):
    from i2pmae.engine import loop

    real_step = loop._optimizer_step

    def step_then_term(*args, **kwargs):
        result = real_step(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)
        return result

    monkeypatch.setattr(loop, "_optimizer_step", step_then_term)
    out = tmp_path / "run"
    assert run_cli(*_tiny_pretrain(cli_data, out)) == 143
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("i2pmae pretrain: stopped by SIGTERM at epoch 0 step 1/")
    assert err.endswith(f"resume with: i2pmae pretrain --resume {out}")
    assert (out / "last.pth").is_file() and not (out / ".lock").exists()


def test_svm_and_evaluate_use_the_checkpoints_own_model(cli_data, pretrained_run, tmp_path, capsys):
    """No -c: the network comes from the checkpoint's config (the tiny one), not the shipped full-size default."""
    code = run_cli("svm", "--checkpoint", pretrained_run / "last.pth", "--out", tmp_path / "svm", "--device", "cpu",
                   f"data.svm.root={cli_data.modelnet_h5}", "data.svm.npoints=128", "svm.batch_size=16",
                   f"data.dataset.root={cli_data.shapenet55}")
    assert code == 0, capsys.readouterr().err
    assert 0 <= json.loads((tmp_path / "svm" / "svm.json").read_text())["svm_acc"] <= 100

    from i2pmae.engine.checkpoint import save_checkpoint
    from i2pmae.engine.config import load_config, set_value
    from i2pmae.models import build_model

    cfg = load_config("finetune/modelnet40")
    for item in [*TINY_ENCODER, "model.num_classes=3"]:
        key, value = item.split("=", 1)
        set_value(cfg, key, json.loads(value) if value[0] in "[0123456789" else value)
    model = build_model(cfg["model"])
    save_checkpoint(tmp_path / "best.pth", {"model": model.state_dict(), "config": cfg})
    code = run_cli("evaluate", "--checkpoint", tmp_path / "best.pth", "--out", tmp_path / "ev", "--device", "cpu",
                   "data.dataset.format=modelnet40_h5", f"data.dataset.root={cli_data.modelnet_h5}",
                   "data.dataset.npoints=256", "data.npoints=128")
    assert code == 0, capsys.readouterr().err
    assert 0 <= json.loads((tmp_path / "ev" / "evaluate.json").read_text())["acc"] <= 100


def test_pretrained_checkpoint_gives_the_encoder_shape(pretrained_run):
    from argparse import Namespace

    from i2pmae.cli.common import ENCODER_KEYS, checkpoint_model_overrides

    args = Namespace(config="finetune/modelnet40", config_given=False)
    got = dict(o.split("=", 1) for o in checkpoint_model_overrides(args, str(pretrained_run / "last.pth"),
                                                                   ENCODER_KEYS))
    assert json.loads(got["model.encoder_dims"]) == [16, 32, 64] and "model.group_sizes" not in got
    assert checkpoint_model_overrides(Namespace(config="x", config_given=True), str(pretrained_run / "last.pth"),
                                      ENCODER_KEYS) == []
