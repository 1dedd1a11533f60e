"""Metrics JSON lines, TensorBoard scalars, the i2pmae logger, progress bars."""

import json
import logging
import sys
import time

import numpy as np
import pytest
import torch

from i2pmae.engine import logging as elog
from i2pmae.engine.logging import MetricsLogger, progress_bar, read_metrics, setup_logging


def test_metrics_jsonl_and_tensorboard(tmp_path):
    with MetricsLogger(tmp_path) as logger:
        logger.log({"loss": torch.tensor(0.5), "lr": 1e-3, "acc": np.float64(91.0)}, step=1, epoch=0)
        logger.log({"acc": 92.5, "note": "x"}, step=10, epoch=0, prefix="eval/")
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    recs = [json.loads(line) for line in lines]
    assert recs[0]["step"] == 1 and recs[0]["epoch"] == 0 and recs[0]["loss"] == 0.5 and recs[0]["acc"] == 91.0
    assert recs[1]["eval/acc"] == 92.5 and recs[1]["eval/note"] == "x"
    assert all(abs(r["time"] - time.time()) < 60 for r in recs)
    assert read_metrics(tmp_path) == recs
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    assert set(acc.Tags()["scalars"]) == {"loss", "lr", "acc", "eval/acc"}
    assert [(e.step, e.value) for e in acc.Scalars("eval/acc")] == [(10, 92.5)]
    # appending on resume
    with MetricsLogger(tmp_path, tensorboard=False) as logger:
        logger.log({"loss": 0.25}, step=11, epoch=1)
    assert len(read_metrics(tmp_path)) == 3


def test_disabled_logger_writes_nothing(tmp_path):
    logger = MetricsLogger(tmp_path / "r1", enabled=False)
    logger.log({"loss": 1.0}, step=1)
    logger.close()
    assert not (tmp_path / "r1").exists()


def test_missing_tensorboard_warns_once_and_continues(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    logger = MetricsLogger(tmp_path)
    with pytest.warns(UserWarning, match="TensorBoard"):
        logger.log({"loss": 1.0}, step=1)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logger.log({"loss": 2.0}, step=2)
    logger.close()
    assert [r["loss"] for r in read_metrics(tmp_path)] == [1.0, 2.0]


def test_setup_logging_rank0_file_and_console(tmp_path, capsys):
    log = setup_logging(tmp_path, rank=0)
    log.info("hello %d", 1)
    setup_logging(tmp_path, rank=0)  # idempotent: no duplicate lines
    log.info("again")
    for h in log.handlers:
        h.flush()
    text = (tmp_path / "log.txt").read_text()
    assert text.count("hello 1") == 1 and text.count("again") == 1
    assert capsys.readouterr().err.count("again") == 1
    other = tmp_path / "rank1"
    log = setup_logging(other, rank=1)
    log.info("quiet")
    log.warning("loud")
    assert not (other / "log.txt").exists()
    err = capsys.readouterr().err
    assert "quiet" not in err and "[rank 1] WARNING loud" in err
    setup_logging(None, rank=0)
    for h in list(logging.getLogger("i2pmae").handlers):
        if getattr(h, elog._HANDLER_TAG, False):
            logging.getLogger("i2pmae").removeHandler(h)


def test_progress_bar(capsys):
    quiet = progress_bar(total=3, enabled=False, force=True)
    assert not quiet.active
    quiet.show(loss=1.0)
    quiet.update()
    quiet.close()
    assert not progress_bar(total=3).active  # stderr is not a terminal under pytest
    with progress_bar(total=3, desc="train 1/2", force=True) as bar:
        assert bar.active
        bar.update(1)
        bar.show(loss=0.12345, lr=5e-4, rate=321.0, acc=0.5)
        bar.set_postfix(x="1")
        bar.update(2)
    err = capsys.readouterr().err
    assert "train 1/2" in err


def test_progress_env_switch(monkeypatch):
    monkeypatch.setenv("I2PMAE_PROGRESS", "1")
    with progress_bar(total=2) as bar:  # forced on although stderr is not a terminal
        assert bar.active
    monkeypatch.setenv("I2PMAE_PROGRESS", "0")  # worker processes: every bar off, even forced ones
    assert not progress_bar(total=2, force=True).active
