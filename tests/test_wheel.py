"""What `pip install i2pmae` gives (issue 20): the wheel built from these sources carries every file the
commands read at run time, and its console script works from a fresh venv, outside the checkout.

To stay cheap the fresh venv gets only the wheel (``--no-deps``); torch and the other dependencies come
from the development venv through a ``.pth`` line in the fresh venv's site-packages. A path line only adds
that folder to ``sys.path`` (the editable install's ``.pth`` finder inside it is not run), so the ``i2pmae``
the commands import is the wheel's, which the test checks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "i2pmae"


def _run(cmd: list, cwd: Path, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _can_build_offline() -> bool:
    """The venv's setuptools meets pyproject.toml's build requirement (>= 77; read, not imported here)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        major = int(version("setuptools").split(".")[0])
    except (PackageNotFoundError, ValueError):
        return False
    return major >= 77


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of a copy of the sources (no build/ leftovers of earlier builds can slip into it)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(PACKAGE, src / "i2pmae", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path_factory.mktemp("dist")
    # Offline with the venv's setuptools when it can; else an isolated build, as `make` installs (index).
    isolation = ["--no-build-isolation"] if _can_build_offline() else []
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", dist, src], cwd=src,
         timeout=300)
    wheels = list(dist.glob("i2pmae-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_holds_every_file_the_commands_read(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    # What issue 20 found missing (configs) and the bundled teacher (weights + its description).
    for needed in ("i2pmae/configs/quickstart.yaml", "i2pmae/configs/pretrain/i2p-mae.yaml",
                   "i2pmae/assets/teacher-tiny-vit.safetensors", "i2pmae/assets/teacher-tiny-vit.json",
                   "i2pmae/assets/teacher-tiny-cnn.safetensors", "i2pmae/assets/teacher-tiny-cnn.json"):
        assert needed in names, needed
    # Every shipped config, asset and module of the source tree.
    tracked = [p for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts
               and (p.suffix in (".py", ".yaml") or "assets" in p.relative_to(PACKAGE).parts)]
    missing = sorted(str(p.relative_to(REPO)) for p in tracked if p.relative_to(REPO).as_posix() not in names)
    assert missing == []
    assert any(n.endswith(".dist-info/entry_points.txt") for n in names)


def test_installed_wheel_runs_the_commands_outside_the_checkout(wheel, tmp_path):
    fresh = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", fresh], cwd=tmp_path)
    python = fresh / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel],
         cwd=tmp_path)
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=tmp_path).stdout.strip())
    (site / "zz_i2pmae_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "elsewhere"  # the working directory: no configs/ or i2pmae/ beside it
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(I2PMAE_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1",
               I2PMAE_PROGRESS="0")

    probe = ("import json, i2pmae; from i2pmae.engine.config import resolve_config_path, shipped_configs; "
             "print(json.dumps({'file': i2pmae.__file__, 'configs': shipped_configs(), "
             "'i2p': str(resolve_config_path('pretrain/i2p-mae'))}))")
    found = json.loads(_run([python, "-c", probe], cwd=work, env=env).stdout)
    assert Path(found["file"]).resolve().is_relative_to(fresh.resolve())  # the wheel's package, not the checkout
    assert Path(found["i2p"]).resolve().is_relative_to(fresh.resolve())
    assert {"quickstart", "pretrain/i2p-mae", "pretrain/w-o-2d", "svm/modelnet40"} <= set(found["configs"])

    script = fresh / "bin" / "i2pmae"
    info = _run([script, "info"], cwd=work, env=env).stdout
    assert "bundled weights: teacher-tiny-cnn.safetensors, teacher-tiny-vit.safetensors" in info
    assert "quickstart" in _run([script, "demo", "--help"], cwd=work, env=env).stdout

    # One optimiser step of the quickstart recipe (its network, the bundled teacher) on a small draw of the
    # procedural shapes, which the command makes itself in the fresh cache.
    out = tmp_path / "run"
    _run([script, "pretrain", "-c", "quickstart", "--out", out, "--device", "cpu", "train.epochs=1",
          "synth.per_class=2", "synth.test_per_class=1", "train.batch_size=8"], cwd=work, env=env, timeout=300)
    assert (tmp_path / "cache" / "procedural" / "synth.json").is_file()
    import torch

    last = torch.load(out / "last.pth", weights_only=True)
    assert last["loop"]["global_step"] == 1 and last["config"]["teacher"]["name"] == "tiny-cnn"
    assert not list(work.iterdir())  # nothing written into the working directory
