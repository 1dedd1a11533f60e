"""Checkpoints: atomic writes, weights-only round trips, the authors' formats."""

import os
import random
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from i2pmae.engine import checkpoint as ckpt_io
from i2pmae.engine.checkpoint import (export_safetensors, extract_model_state, find_resume_checkpoint,
                                      load_checkpoint, save_checkpoint)
from i2pmae.engine.optim import build_optimizer
from i2pmae.engine.schedule import CosineSchedule
from i2pmae.engine.seeding import capture_rng_state, restore_rng_state, seed_everything


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


def assert_same(a, b):
    if torch.is_tensor(a):
        assert torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert a == b


def test_full_training_state_round_trip_weights_only(tmp_path):
    model = tiny_model()
    opt = build_optimizer(model, {"lr": 1e-3, "weight_decay": 0.05})
    scaler = torch.amp.GradScaler("cpu", enabled=True, init_scale=1024.0)
    sched = CosineSchedule(5e-4, 300, 10, 1e-6, 1e-6, steps_per_epoch=7)
    for _ in range(2):  # populate the Adam moments and scaler state
        loss = model(torch.randn(4, 3)).pow(2).mean()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad()
    seed_everything(123)
    state = {
        "model": model.state_dict(), "optimizer": opt.state_dict(), "scaler": scaler.state_dict(),
        "scheduler": sched.state_dict(), "rng": capture_rng_state(),
        "loop": {"epoch": 3, "step_in_epoch": 2, "global_step": 23, "best": None, "best_epoch": None},
        "config": {"train": {"lr": 5e-4, "betas": [0.9, 0.999]}, "name": "x"},
    }
    expected = (random.random(), float(np.random.rand()), torch.rand(3))
    path = save_checkpoint(tmp_path / "run" / "last.pth", state)
    back = torch.load(path, weights_only=True)  # plain torch weights-only load works
    assert_same(state["model"], back["model"])
    assert_same(state["loop"], back["loop"])
    assert_same(state["config"], back["config"])
    assert back["scaler"]["scale"] == scaler.get_scale()
    assert back["model"]._metadata == state["model"]._metadata  # module versions kept for load_state_dict

    model2 = tiny_model()
    nn.init.zeros_(model2[0].weight)
    opt2 = build_optimizer(model2, {"lr": 1e-3, "weight_decay": 0.05})
    model2.load_state_dict(back["model"])
    opt2.load_state_dict(back["optimizer"])
    assert_same(opt.state_dict(), opt2.state_dict())
    scaler2 = torch.amp.GradScaler("cpu", enabled=True)
    scaler2.load_state_dict(back["scaler"])
    assert scaler2.get_scale() == scaler.get_scale()
    sched2 = CosineSchedule(1.0, 1.0)
    sched2.load_state_dict(back["scheduler"])
    assert [sched2.lr(e, s) for e in range(12) for s in range(7)] == [sched.lr(e, s) for e in range(12) for s in range(7)]

    seed_everything(999)  # scramble, then restore: the same draws come out
    restore_rng_state(load_checkpoint(path)["rng"])
    assert (random.random(), float(np.random.rand())) == expected[:2]
    assert torch.equal(torch.rand(3), expected[2])


def test_crash_during_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pth"
    save_checkpoint(path, {"model": {"w": torch.ones(3)}, "loop": {"epoch": 1}})
    good_bytes = path.read_bytes()

    real_save = torch.save

    def crashing_save(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        f.seek(0)
        f.truncate(10)  # a partial write ...
        raise OSError("disk full")  # ... then the process dies mid-way

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"model": {"w": torch.zeros(3)}, "loop": {"epoch": 2}})
    monkeypatch.setattr(torch, "save", real_save)
    assert path.read_bytes() == good_bytes
    assert load_checkpoint(path)["loop"]["epoch"] == 1
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind
    assert find_resume_checkpoint(tmp_path) == path


def test_crash_at_rename_and_leftover_tmp_is_ignored(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "last.pth", {"loop": {"epoch": 1}})

    def failing_replace(src, dst):
        raise OSError("killed before rename")

    monkeypatch.setattr(ckpt_io.os, "replace", failing_replace)
    with pytest.raises(OSError):
        save_checkpoint(tmp_path / "last.pth", {"loop": {"epoch": 2}})
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "last.pth")["loop"]["epoch"] == 1
    # A temp file left by a hard kill (SIGKILL, power loss) is never taken for a checkpoint.
    (tmp_path / ".last.pth.abc.tmp").write_bytes(b"partial")
    assert find_resume_checkpoint(tmp_path) == tmp_path / "last.pth"
    (tmp_path / "last.pth").unlink()
    assert find_resume_checkpoint(tmp_path) is None


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.pth"):
        load_checkpoint(tmp_path / "nothere.pth")
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.pth"):
        load_checkpoint(empty)
    good = save_checkpoint(tmp_path / "good.pth", {"model": {"w": torch.randn(1000)}})
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated.pth"):
        load_checkpoint(truncated)
    garbage = tmp_path / "garbage.pth"
    for seed in range(40):  # many random files: each may break the unpickler in a different place
        garbage.write_bytes(random.Random(seed).randbytes(256))
        with pytest.raises(ValueError, match="garbage.pth"):
            load_checkpoint(garbage)
    with pytest.raises(ValueError, match=str(tmp_path.name)):
        load_checkpoint(tmp_path)  # a directory


class _NotData:
    pass


def test_unsafe_objects_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"state\['extra'\]\['obj'\]"):
        save_checkpoint(tmp_path / "x.pth", {"extra": {"obj": _NotData()}})
    assert not list(tmp_path.iterdir())
    # A pickle with arbitrary objects (written by plain torch.save) is not unpickled.
    torch.save({"obj": _NotData()}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match="evil.pth.*weights_only"):
        load_checkpoint(tmp_path / "evil.pth")


def test_numpy_values_are_saved_and_authors_numpy_scalars_load(tmp_path):
    save_checkpoint(tmp_path / "a.pth", {"acc": np.float64(93.5), "arr": np.arange(3), "n": np.int64(4)})
    back = load_checkpoint(tmp_path / "a.pth")
    assert back["acc"] == 93.5 and isinstance(back["acc"], float)
    assert torch.equal(back["arr"], torch.arange(3))
    # Authors' checkpoints may hold numpy scalars written by plain torch.save.
    torch.save({"model_state_dict": {"w": torch.ones(2)}, "class_avg_iou": np.float64(0.8486)}, tmp_path / "m2ae.pth")
    back = load_checkpoint(tmp_path / "m2ae.pth")
    assert float(back["class_avg_iou"]) == 0.8486


@pytest.mark.parametrize("key", ["base_model", "model", "state_dict", "model_state_dict", None])
@pytest.mark.parametrize("prefixed", [True, False])
def test_extract_model_state_all_formats(key, prefixed, tmp_path):
    model = tiny_model()
    sd = model.state_dict()
    stored = OrderedDict((("module." if prefixed else "") + k, v) for k, v in sd.items())
    ckpt = stored if key is None else {key: stored, "epoch": 3, "optimizer": {"state": {}}}
    path = tmp_path / "c.pth"
    torch.save(ckpt, path)  # as the authors write them
    state = extract_model_state(load_checkpoint(path), source=path)
    assert list(state) == list(sd)
    fresh = tiny_model()
    nn.init.zeros_(fresh[0].weight)
    fresh.load_state_dict(state, strict=True)
    assert torch.equal(fresh[0].weight, model[0].weight)


def test_extract_model_state_only_strips_a_leading_prefix():
    state = extract_model_state({"model": {"module.encoder.module.w": torch.ones(1), "head.b": torch.ones(1)}})
    assert list(state) == ["encoder.module.w", "head.b"]


def test_extract_model_state_errors():
    with pytest.raises(ValueError, match="epoch"):
        extract_model_state({"epoch": 3, "metrics": {}}, source="x.pth")
    with pytest.raises(ValueError, match="non-tensor"):
        extract_model_state({"model": {"w": torch.ones(1), "note": "hi"}})


def test_export_safetensors(tmp_path):
    from safetensors.torch import load_file

    model = nn.Linear(4, 4)
    state = dict(model.state_dict())
    state["tied"] = state["weight"]  # shared storage is fine
    state["view"] = state["weight"].t()  # non-contiguous is fine
    path = export_safetensors(state, tmp_path / "w.safetensors", metadata={"format": "pt"})
    back = load_file(str(path))
    for k, v in state.items():
        assert torch.equal(back[k], v)
    assert not list(tmp_path.glob("*.tmp"))
