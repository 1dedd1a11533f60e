"""Users' own data through the CLI: `embed` (checkpoint config, hidden entries, bad files, random init,
progress, --out), `project` (meshes, NaN), `data check` (format detection), `pretrain` on a folder with the
quickstart (early data-path check, monitor off, fraction log), and bad arguments on these commands."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from helpers_cli import FAST_TRAIN, TINY_PRETRAIN, run_cli


def _clouds(cli_data, n: int = 3) -> list:
    return sorted((cli_data.shapenet55 / "ShapeNet55-34" / "shapenet_pc").glob("*.npy"))[:n]


def _error_line(err: str, command: str) -> str:
    lines = [ln for ln in err.splitlines() if ": error:" in ln]
    assert len(lines) == 1 and lines[0].startswith(f"i2pmae {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


# --------------------------------------------------------------------------- embed


def test_embed_uses_the_checkpoint_config(cli_data, pretrained_run, tmp_path, capsys):
    """No -c: the run's own (tiny) model, not pretrain/i2p-mae, which would not fit these weights."""
    out = tmp_path / "f.npy"
    assert run_cli("embed", "--checkpoint", pretrained_run / "last.pth", *_clouds(cli_data), "--out", out,
                   "--device", "cpu") == 0
    assert "config stored in" in capsys.readouterr().out
    with_c = tmp_path / "g.npy"
    assert run_cli("embed", "--checkpoint", pretrained_run / "last.pth", "-c", pretrained_run / "config.yaml",
                   *_clouds(cli_data), "--out", with_c, "--device", "cpu") == 0
    np.testing.assert_array_equal(np.load(out), np.load(with_c))


def _user_folder(cli_data, tmp_path):
    folder = tmp_path / "scans"
    (folder / "sub").mkdir(parents=True)
    for i, f in enumerate(_clouds(cli_data)):
        (folder / ("sub" if i else ".") / f.name).write_bytes(f.read_bytes())
    hidden = folder / ".i2pmae_cache"
    hidden.mkdir()
    np.savez(hidden / "train_0123.npz", names=np.array(["a", "b"]))  # not a cloud: must never be read
    np.save(folder / ".partial.npy", np.zeros((2, 2)))
    (folder / "LICENSE.txt").write_text("Creative Commons Attribution 4.0\nThe meshes are provided as is.\n")
    return folder


def test_embed_skips_hidden_entries_and_bad_file_policy(cli_data, pretrained_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("I2PMAE_PROGRESS", "0")
    folder = _user_folder(cli_data, tmp_path)
    out = tmp_path / "f.npy"
    args = ("embed", folder, "--checkpoint", pretrained_run / "last.pth", "--out", out, "--device", "cpu")
    assert run_cli(*args) == 1  # default: stop at the licence file, with what is wrong with it
    line = _error_line(capsys.readouterr().err, "embed")
    assert "LICENSE.txt" in line and "not a point cloud: non-numeric text" in line
    assert not out.exists()

    assert run_cli(*args, "--on-bad-file", "skip") == 0
    captured = capsys.readouterr()
    assert "skipped 1 bad file(s)" in captured.out
    assert "LICENSE.txt" in captured.err and "non-numeric" in captured.err  # logged
    assert "%|" not in captured.err  # I2PMAE_PROGRESS=0: no progress bar
    names = out.with_suffix(".txt").read_text().splitlines()
    assert len(names) == 3 and not any("/." in n or "LICENSE" in n for n in names)
    assert np.load(out).shape == (3, 64)


def test_embed_random_init_is_seeded(cli_data, pretrained_run, tmp_path):
    cfg = pretrained_run / "config.yaml"
    feats = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        out = tmp_path / f"{name}.npy"
        assert run_cli("embed", "--random-init", "--seed", seed, "-c", cfg, *_clouds(cli_data), "--out", out,
                       "--device", "cpu") == 0
        feats[name] = np.load(out)
    np.testing.assert_array_equal(feats["a"], feats["b"])
    assert not np.allclose(feats["a"], feats["c"])
    trained = tmp_path / "t.npy"
    assert run_cli("embed", "--checkpoint", pretrained_run / "last.pth", *_clouds(cli_data), "--out", trained,
                   "--device", "cpu") == 0
    assert not np.allclose(np.load(trained), feats["a"])


def test_embed_unwritable_out_fails_before_the_work(cli_data, tmp_path, capsys, monkeypatch):
    import i2pmae.tasks.svm_eval as svm_eval

    monkeypatch.setattr(svm_eval, "build_encoder", lambda *a, **k: (_ for _ in ()).throw(AssertionError("worked")))
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert run_cli("embed", "--random-init", *_clouds(cli_data), "--out", blocker / "f.npy") == 1
    line = _error_line(capsys.readouterr().err, "embed")
    assert "--out" in line and str(blocker) in line


# --------------------------------------------------------------------------- project


def test_project_reads_meshes_and_names_nan_files(tmp_path, capsys):
    mesh = tmp_path / "box.obj"
    trimesh.creation.box(extents=(1.0, 2.0, 0.5)).export(mesh)
    out = tmp_path / "d.png"
    assert run_cli("project", "--input", mesh, "--out", out, "--image-size", "32") == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    bad = tmp_path / "holes.npy"
    cloud = np.random.default_rng(0).normal(size=(50, 3))
    cloud[7, 1] = np.nan
    np.save(bad, cloud)
    assert run_cli("project", "--input", bad, "--out", tmp_path / "e.png") == 1
    line = _error_line(capsys.readouterr().err, "project")
    assert str(bad) in line and "NaN" in line


# --------------------------------------------------------------------------- data check


def test_data_check_detects_the_format(cli_data, tmp_path, capsys):
    assert run_cli("data", "check", cli_data.modelnet_h5, "--npoints", "128") == 0
    out = capsys.readouterr().out
    assert out.startswith("detected format: modelnet40_h5") and "good, 0 bad" in out

    both = tmp_path / "both"
    both.mkdir()
    for src in (cli_data.shapenet55 / "ShapeNet55-34", cli_data.modelnet_h5 / "modelnet40_ply_hdf5_2048"):
        (both / src.name).symlink_to(src, target_is_directory=True)
    assert run_cli("data", "check", both) == 1
    line = _error_line(capsys.readouterr().err, "data check")
    assert "several dataset layouts (shapenet55, modelnet40_h5)" in line and "--format" in line

    own = tmp_path / "own"
    (own / "a").mkdir(parents=True)
    for f in _clouds(cli_data, 2):
        (own / "a" / f.name).write_bytes(f.read_bytes())
    (own / "loose.npy").write_bytes(_clouds(cli_data, 1)[0].read_bytes())
    assert run_cli("data", "check", own, "--npoints", "128") == 0
    out = capsys.readouterr().out
    assert out.startswith("detected format: folder") and "all: 2 good, 0 bad" in out
    assert "warning: 1 file(s) directly in" in out and "ignored" in out

    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_cli("data", "check", empty) == 1
    assert "no dataset layout recognised" in _error_line(capsys.readouterr().err, "data check")


# --------------------------------------------------------------------------- pretrain on a folder


def test_pretrain_quickstart_on_a_folder(cli_data, tmp_path, capsys, monkeypatch):
    """The SVM monitor's data are checked before any work; data.svm=null switches it off. (Its built-in
    procedural data would be made on first use: point it at a folder that is not there.)"""
    import i2pmae.data.folder as folder_mod

    monkeypatch.setenv("I2PMAE_CACHE", str(tmp_path / "cache"))  # no procedural data there
    own = tmp_path / "own"
    own.mkdir()
    for f in _clouds(cli_data, 8):
        (own / f.name).write_bytes(f.read_bytes())
    args = [*TINY_PRETRAIN, *FAST_TRAIN,
            "teacher.name=tiny-vit", "teacher.weights=random",
            "teacher.arch_overrides={embed_dim: 32, depth: 1, num_heads: 2, feature_dim: 16}",
            "data.dataset.format=folder", f"data.dataset.root={own}", "data.dataset.npoints=128",
            "data.npoints=128", "train.epochs=1", "train.cosine_epochs=1"]
    real_load = folder_mod.load_cloud
    monkeypatch.setattr(folder_mod, "load_cloud", lambda *a, **k: (_ for _ in ()).throw(AssertionError("read")))
    assert run_cli("pretrain", "-c", "quickstart", "--device", "cpu", "--out", tmp_path / "r1", *args,
                   f"data.svm.root={tmp_path / 'no-svm-data'}") == 1
    line = _error_line(capsys.readouterr().err, "pretrain")
    assert "data.svm.root" in line and "data.svm=null" in line

    monkeypatch.setattr(folder_mod, "load_cloud", real_load)
    assert run_cli("pretrain", "-c", "quickstart", "--device", "cpu", "--out", tmp_path / "r2", *args,
                   "data.svm=null") == 0
    err = capsys.readouterr().err
    assert "using 50% of 8 shapes: 4 (data.dataset.fraction=0.5" in err
    assert (tmp_path / "r2" / "last.pth").is_file()


# --------------------------------------------------------------------------- bad arguments


BAD_ARGS = [
    ("data synth", ["--out", "{blocker}/x"]),
    ("data synth", ["--out", "{tmp}/s", "--per-class", "0"]),
    ("data synth", ["--out", "{tmp}/s", "--per-class", "many"]),
    ("data synth", ["--out", "{tmp}/s", "--classes", "nosuchshape"]),
    ("data check", ["{tmp}/missing"]),
    ("data check", ["{tmp}", "--format", "nope"]),
    ("data check", ["{tmp}", "--format", "folder", "--set", "novalue"]),
    ("data layout", ["nope"]),
    ("embed", ["{tmp}/missing.npy", "--random-init"]),
    ("embed", ["{cloud}", "--checkpoint", "{tmp}/missing.pth"]),
    ("embed", ["{cloud}", "--checkpoint", "{blocker}"]),
    ("embed", ["{cloud}", "--random-init", "--batch-size", "0"]),
    ("embed", ["{cloud}", "--random-init", "--checkpoint", "{blocker}"]),
    ("embed", ["{cloud}", "--random-init", "-c", "no/such-config"]),
    ("embed", ["{cloud}"]),
    ("project", ["--input", "{tmp}/missing.npy"]),
    ("project", ["--input", "{blocker}"]),
    ("project", ["--image-size", "0"]),
    ("project", ["--out", "{blocker}/d.png"]),
    ("project", ["--out", "{tmp}/d.xyz"]),
    ("project", ["--views", "7"]),
    ("visualize", ["{tmp}/missing.pth"]),
    ("visualize", ["{blocker}"]),
    ("plot", ["{tmp}/no_run"]),
    ("plot", ["{tmp}", "--out", "{blocker}/c.png"]),
    ("plot", ["{tmp}", "--smooth", "2"]),
]


@pytest.mark.parametrize("command,argv", BAD_ARGS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(BAD_ARGS)])
def test_bad_arguments_one_clear_line(command, argv, tmp_path, capsys):
    from i2pmae.cli.main import main

    blocker = tmp_path / "a_file.txt"
    blocker.write_text("not a folder, not a checkpoint\n")
    cloud = tmp_path / "cloud.npy"
    np.save(cloud, np.random.default_rng(0).normal(size=(300, 3)).astype(np.float32))
    args = [a.format(tmp=tmp_path, blocker=blocker, cloud=cloud) for a in argv]
    try:
        code = main([*command.split(), *args])
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    assert code not in (0, None)
    _error_line(capsys.readouterr().err, command)
