"""`train_tiny_teacher`: trains on depth maps of the procedural training split and loads as a teacher."""

import json

import torch

from i2pmae.data.synth import write_synthetic
from i2pmae.tasks.teacher_train import train_tiny_teacher
from i2pmae.projection import project_views
from i2pmae.teachers import build_teacher

TINY = {"embed_dim": 32, "depth": 1, "num_heads": 2, "feature_dim": 16}


def test_train_tiny_teacher_writes_a_loadable_teacher(tmp_path):
    data = tmp_path / "data"
    write_synthetic(data, classes=4, per_class=4, test_per_class=2, seed=0, npoints=1024, h5_points=512)
    out = tmp_path / "teacher.safetensors"
    summary = train_tiny_teacher(data, out, epochs=2, batch_size=4, seed=0, device="cpu", arch=TINY, npoints=256)

    rows = [json.loads(line) for line in (tmp_path / "teacher.log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1]
    assert all(0.0 <= r["test_multiview_acc"] <= 100.0 for r in rows)
    assert summary["test_multiview_acc"] == rows[-1]["test_multiview_acc"]
    doc = json.loads(out.with_suffix(".json").read_text())
    assert doc["classes"] == ["sphere", "box", "cylinder", "cone"]
    assert doc["meta"]["train_shapes"] == 16 and doc["meta"]["test_shapes"] == 8

    teacher = build_teacher("tiny-vit", weights=str(out))
    images, _ = project_views(torch.rand(2, 512, 3))
    feats, attn = teacher(images.flatten(0, 1))
    assert feats.shape == (6, 16, 7, 7) and attn.shape == (6, 7, 7)
    assert torch.all(attn >= 0) and torch.all(attn.sum(dim=(1, 2)) <= 1 + 1e-5)


def test_training_is_seeded(tmp_path):
    data = tmp_path / "data"
    write_synthetic(data, classes=3, per_class=2, test_per_class=1, seed=0, npoints=512, h5_points=256)
    a = train_tiny_teacher(data, tmp_path / "a.safetensors", epochs=1, batch_size=2, seed=3, device="cpu", arch=TINY, npoints=256)
    b = train_tiny_teacher(data, tmp_path / "b.safetensors", epochs=1, batch_size=2, seed=3, device="cpu", arch=TINY, npoints=256)
    assert a["test_multiview_acc"] == b["test_multiview_acc"]
    from safetensors.torch import load_file

    wa, wb = load_file(str(tmp_path / "a.safetensors")), load_file(str(tmp_path / "b.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


# ---------------------------------------------------------------- issue #15: the corpus-trained teacher

import pytest  # noqa: E402

from i2pmae.cli.main import main  # noqa: E402
from i2pmae.data.synth_corpus import FAMILIES  # noqa: E402
from i2pmae.tasks.teacher_train import train_corpus_teacher  # noqa: E402


def test_corpus_teacher_logs_saves_and_loads(tmp_path):
    dev = tmp_path / "dev"
    write_synthetic(dev, classes=15, per_class=1, test_per_class=1, seed=1, npoints=256, h5_points=128)
    out = tmp_path / "t.safetensors"
    summary = train_corpus_teacher(out, steps=4, batch_size=3, seed=0, device="cpu", arch=TINY, npoints=128,
                                   log_every=2, dev_root=dev, val_batches=1)
    rows = [json.loads(line) for line in (tmp_path / "t.log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4] and [r["shapes_seen"] for r in rows] == [6, 12]
    assert all(0 <= r["corpus_val_multiview_acc"] <= 100 and 0 <= r["dev_multiview_acc"] <= 100 for r in rows)
    doc = json.loads(out.with_suffix(".json").read_text())
    assert doc["classes"] == FAMILIES and doc["meta"]["shapes_seen"] == 12 == summary["shapes_seen"]
    assert "--corpus" in doc["meta"]["command"]
    teacher = build_teacher("tiny-vit", weights=str(out))
    feats, _ = teacher(project_views(torch.rand(1, 128, 3))[0].flatten(0, 1))
    assert feats.shape == (3, 16, 7, 7)


def test_teacher_train_never_writes_into_the_package(tmp_path, monkeypatch, capsys):
    import i2pmae
    from pathlib import Path

    from i2pmae.cli.main import build_parser

    args = build_parser().parse_args(["teacher", "train", "--corpus"])
    assert args.out is None  # resolved to runs/teacher-<arch>.safetensors in the working directory
    target = Path(i2pmae.__file__).parent / "assets" / "teacher-tiny-vit.safetensors"
    before = target.stat().st_mtime_ns
    assert main(["teacher", "train", "--corpus", "--steps", "1", "--out", str(target)]) == 1
    assert "inside the installed package" in capsys.readouterr().err
    assert target.stat().st_mtime_ns == before


def test_teacher_train_default_data_is_the_builtin_draw_not_the_working_directory(tmp_path, monkeypatch):
    import i2pmae.data.synth as synth
    import i2pmae.tasks.teacher_train as tt

    seen = {}
    monkeypatch.setenv("I2PMAE_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(synth, "write_synthetic", lambda root, **kw: seen.setdefault("generated", str(root)))
    monkeypatch.setattr(tt, "train_tiny_teacher", lambda data, out, *a, **kw: (
        seen.setdefault("trained_on", str(data)),
        {"weights": out, "log": "x", "test_view_acc": 0.0, "test_multiview_acc": 0.0})[1])
    assert main(["teacher", "train", "--out", str(tmp_path / "t.safetensors")]) == 0
    builtin = str(tmp_path / "cache" / "procedural")
    assert seen == {"generated": builtin, "trained_on": builtin}
    assert not (tmp_path / "data").exists()


def test_corpus_teacher_tiny_cnn_trains_in_bf16_saves_and_reloads_identically(tmp_path):
    """The quickstart's teacher (issue 21): trained by the same loop, bf16 autocast when asked, saved
    weights reload to identical features and attention."""
    from i2pmae.teachers.tiny_cnn import load_tiny_cnn

    out = tmp_path / "cnn.safetensors"
    arch = {"channels": (8, 16, 16, 32), "feature_dim": 16, "num_heads": 2}
    summary = train_corpus_teacher(out, steps=2, batch_size=2, seed=0, device="cpu", arch=arch, npoints=128,
                                   log_every=2, val_batches=1, model_name="tiny-cnn", amp="bf16")
    assert summary["architecture"] == "tiny-cnn" and summary["amp"] == "bfloat16"
    assert "--arch tiny-cnn" in summary["command"]
    doc = json.loads(out.with_suffix(".json").read_text())
    assert doc["format"] == "i2pmae.tiny-cnn" and doc["config"]["channels"] == [8, 16, 16, 32]
    images = project_views(torch.rand(2, 128, 3))[0].flatten(0, 1)
    a = build_teacher("tiny-cnn", weights=str(out))
    b = build_teacher("tiny-cnn", weights=str(out))
    (fa, aa), (fb, ab) = a(images), b(images)
    assert fa.shape == (6, 32, 7, 7) and aa.shape == (6, 7, 7)
    assert torch.equal(fa, fb) and torch.equal(aa, ab)
    clf, _ = load_tiny_cnn(out)  # the teacher's features are the classifier's last-stage map
    torch.testing.assert_close(fa, clf.forward_features(images), atol=0, rtol=0)
    with pytest.raises(ValueError, match="unknown teacher architecture 'nope'"):
        train_corpus_teacher(out, steps=1, model_name="nope")


def test_teacher_train_arch_needs_corpus(capsys):
    assert main(["teacher", "train", "--arch", "tiny-cnn", "--steps", "1"]) == 1
    assert "--arch tiny-cnn needs --corpus" in capsys.readouterr().err
