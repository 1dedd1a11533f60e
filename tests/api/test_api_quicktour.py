"""The README's Python API example (docs/examples/api_quicktour.py) runs as written, and `import i2pmae`
stays light: the API (and torch) load on first use of an attribute."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

import i2pmae

QUICKTOUR = Path(__file__).resolve().parents[2] / "docs" / "examples" / "api_quicktour.py"


def test_quicktour_runs_and_its_features_are_the_saved_encoders(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "quickstart"
    monkeypatch.setattr(sys, "argv", [str(QUICKTOUR), str(folder)])
    ns = runpy.run_path(str(QUICKTOUR), run_name="__main__")
    assert {p.name for p in folder.iterdir()} >= {"config.json", "model.safetensors", "README.md"}
    features = ns["features"]
    assert isinstance(features, torch.Tensor) and features.shape[0] == 4 and torch.isfinite(features).all()
    assert str(tuple(features.shape)) in capsys.readouterr().out
    # the printed features are those of the saved folder's encoder (given the clouds as a tensor this time)
    again = i2pmae.load_encoder(folder).embed(torch.from_numpy(ns["clouds"]))
    np.testing.assert_allclose(again.numpy(), features.numpy(), rtol=0, atol=1e-5)


def test_import_is_lazy():
    code = ("import sys, i2pmae; assert 'torch' not in sys.modules and 'i2pmae.api' not in sys.modules; "
            "assert callable(i2pmae.create_model) and 'i2pmae.api' in sys.modules; print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_readme_python_api_block_runs(tmp_path, monkeypatch):
    """The README's '## Python API' code block, as written, with its run checkpoint replaced by a tiny
    exported encoder (the block's other names are real)."""
    import re

    readme = (QUICKTOUR.parents[2] / "README.md").read_text()
    section = readme.split("## Python API", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    tiny = tmp_path / "tiny-encoder"
    i2pmae.save_pretrained(i2pmae.create_model("i2pmae-quickstart", encoder_depths=[1, 1, 1]), tiny)
    assert "runs/mine/last.pth" in block
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(block.replace("runs/mine/last.pth", str(tiny)), "README.md", "exec"), ns)  # noqa: S102
    assert tuple(ns["features"].shape) == (2, 192)  # the quickstart encoder's feature width
    assert (tmp_path / "my-classifier" / "model.safetensors").is_file()


def test_repo_id_from_a_prefilled_cache_with_the_hub_environment_variables(tmp_path):
    """HF_HUB_CACHE + HF_HUB_OFFLINE=1 as a user sets them (read when huggingface_hub is imported): a cached
    repo id loads the same network, an uncached one fails in one line naming it and what to do."""
    import os

    model = i2pmae.create_model("i2pmae-quickstart", encoder_depths=[1, 1, 1])
    repo = tmp_path / "hub" / "models--someone--tiny-i2pmae"
    i2pmae.save_pretrained(model, repo / "snapshots" / "4d5e6f")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("4d5e6f")
    clouds = np.random.default_rng(1).normal(size=(2, 300, 3)).astype(np.float32)
    np.save(tmp_path / "clouds.npy", clouds)
    code = ("import sys, numpy as np, i2pmae\n"
            "np.save(sys.argv[2], i2pmae.load_encoder('someone/tiny-i2pmae').embed(np.load(sys.argv[1])).numpy())\n"
            "try:\n    i2pmae.from_pretrained('someone/absent')\n"
            "except FileNotFoundError as exc:\n    print(exc)\n")
    env = dict(os.environ, HF_HUB_CACHE=str(tmp_path / "hub"), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "clouds.npy"), str(tmp_path / "f.npy")],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    want = i2pmae.load_encoder(repo / "snapshots" / "4d5e6f").embed(clouds)
    np.testing.assert_allclose(np.load(tmp_path / "f.npy"), want.numpy(), rtol=0, atol=1e-6)
    message = done.stdout.strip()
    assert message.startswith("someone/absent: not in the Hugging Face cache (" + str(tmp_path / "hub"))
    assert "HF_HUB_OFFLINE=0" in message and "local folder" in message and "\n" not in message
