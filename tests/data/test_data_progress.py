"""Reading a dataset without a terminal (a log file, CI) gives a few progress lines, not tqdm's
carriage-return redraws (issue 20); training progress already works this way (ProgressLog)."""

from __future__ import annotations

import numpy as np

from i2pmae.data import build_dataset
from i2pmae.engine.logging import progress_iter, setup_logging


def _progress_lines(err: str, name: str) -> list[str]:
    return [line for line in err.splitlines() if name in line]


def test_folder_dataset_reading_logs_lines_when_stderr_is_not_a_terminal(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("I2PMAE_PROGRESS", raising=False)
    root = tmp_path / "clouds"
    rng = np.random.default_rng(0)
    for k in range(260):  # above the 200 files from which reading shows progress at all
        cls = root / ("a" if k % 2 else "b")
        cls.mkdir(parents=True, exist_ok=True)
        np.save(cls / f"{k:03d}.npy", rng.normal(size=(48, 3)).astype(np.float32))
    setup_logging(None)  # the console handler of every command, on the captured (non-terminal) stderr
    ds = build_dataset({"format": "folder", "root": str(root), "npoints": 32}, "train")
    assert len(ds) == 260
    err = capsys.readouterr().err
    assert "\r" not in err and "%|" not in err  # no tqdm bar
    lines = _progress_lines(err, "reading clouds/train file")
    assert 2 <= len(lines) <= 20, lines
    assert "file 260/260" in lines[-1] and "files/s" in lines[-1] and "ETA" in lines[-1]

    monkeypatch.setenv("I2PMAE_PROGRESS", "0")  # worker processes: nothing at all
    build_dataset({"format": "folder", "root": str(root), "npoints": 16}, "train")  # a new cache: read again
    assert "reading clouds" not in capsys.readouterr().err


def test_progress_iter_is_bounded_and_passes_every_item(monkeypatch, capsys):
    monkeypatch.delenv("I2PMAE_PROGRESS", raising=False)
    setup_logging(None)
    items = list(progress_iter((i * i for i in range(3000)), total=3000, desc="zeroshot", unit="batch"))
    assert items == [i * i for i in range(3000)]
    lines = _progress_lines(capsys.readouterr().err, "zeroshot batch")
    assert 15 <= len(lines) <= 16 and "batch 3000/3000" in lines[-1]
    # Small inputs below min_total: no progress at all.
    assert list(progress_iter(range(5), desc="tiny", min_total=200)) == list(range(5))
    assert "tiny" not in capsys.readouterr().err
