"""Runs behave under a demanding user: unwritable / full disks, locks, signals, resumes, corrupt files (issue 14)."""

from __future__ import annotations

import errno
import json
import logging
import os
import pickle
import signal
import stat
import subprocess
import sys

import pytest
import torch

from helpers_tiny_task import run_tiny, tiny_cfg
from i2pmae.engine import runs
from i2pmae.engine.checkpoint import load_checkpoint, save_checkpoint
from i2pmae.engine.logging import ProgressLog, read_metrics, setup_logging
from i2pmae.engine.loop import RunInterrupted
from i2pmae.io_errors import OutputError, describe_load_error, ensure_writable_dir


@pytest.fixture(autouse=True)
def release_runs():
    yield
    runs.end_runs(False)
    logger = logging.getLogger("i2pmae")
    for handler in list(logger.handlers):
        if getattr(handler, "_i2pmae_handler", False):
            logger.removeHandler(handler)
            handler.close()


def _enospc_on_call(monkeypatch, fail_at: int) -> dict:
    """torch.save writes half of the file and then fails with ENOSPC on its ``fail_at``-th call."""
    real_save, calls = torch.save, {"n": 0}

    def save(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] < fail_at:
            return real_save(obj, f, *args, **kwargs)
        real_save(obj, f, *args, **kwargs)
        f.seek(0)
        f.truncate(f.tell() // 2 + 7)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", save)
    return calls


def test_full_disk_keeps_previous_last_pth_resumable(tmp_path, monkeypatch):
    run = tmp_path / "run"
    _enospc_on_call(monkeypatch, fail_at=3)  # checkpoints after steps 1 and 2 succeed, the third fails
    with pytest.raises(OutputError) as err:
        run_tiny(run, tiny_cfg(checkpoint_every_steps=1))
    msg = str(err.value)
    assert str(run / "last.pth") in msg and "no space left" in msg and "ENOSPC" in msg and "--out" in msg
    assert "enforce fail" not in msg and "\n" not in msg
    monkeypatch.undo()
    assert load_checkpoint(run / "last.pth")["loop"]["global_step"] == 2  # intact
    assert not list(run.glob(".*.tmp"))  # the half-written temp file is gone
    summary = run_tiny(run, tiny_cfg(checkpoint_every_steps=1), resume=True)
    assert summary["global_step"] == 8


def test_first_checkpoint_failing_says_none_was_written(tmp_path, monkeypatch, caplog):
    run = tmp_path / "run"
    _enospc_on_call(monkeypatch, fail_at=1)
    with caplog.at_level(logging.ERROR, logger="i2pmae"), pytest.raises(OutputError):
        run_tiny(run, tiny_cfg(checkpoint_every_steps=1))
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "no checkpoint was written yet" in text and "the last checkpoint is" not in text
    assert not (run / "last.pth").exists() and not list(run.glob(".*.tmp"))


def test_unwritable_out_is_refused_before_any_work(tmp_path, monkeypatch):
    import i2pmae.io_errors as io_errors

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(io_errors.tempfile, "mkstemp", read_only)
    with pytest.raises(OutputError, match=r"--out .*out is not writable: read-only file system \(EROFS\); "
                                          "choose another --out"):
        ensure_writable_dir(tmp_path / "out")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        ensure_writable_dir(blocker)


def test_files_follow_the_umask_and_stale_temps_are_cleaned(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    stale = run / ".last.pth.abc123.tmp"
    stale.write_bytes(b"half of an interrupted write")
    config = tmp_path / "c.yaml"
    config.write_text("train: {epochs: 1}\n")
    old = os.umask(0o022)
    try:
        runs.start_run(str(config), [], str(run), None, "tiny", "cpu")
        save_checkpoint(run / "last.pth", {"loop": {"epoch": 1}})
    finally:
        os.umask(old)
    for name in ("last.pth", "config.yaml"):
        assert stat.S_IMODE((run / name).stat().st_mode) == 0o644, name
    assert not stale.exists()


def test_random_bytes_and_code_are_told_apart(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(ValueError) as err:
        load_checkpoint(junk)
    assert str(err.value).startswith(f"{junk}: corrupt or not a checkpoint (")
    assert "weights_only" not in str(err.value) and "holds objects" not in str(err.value)

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as f:
        pickle.dump({"model": Evil()}, f, protocol=2)
    torch.save({"model": Evil()}, tmp_path / "evil_zip.pth")
    for path in (evil, tmp_path / "evil_zip.pth"):
        with pytest.raises(ValueError) as err:
            load_checkpoint(path)
        msg = str(err.value)
        assert "posix.system" in msg and "refused" in msg and "weights_only=False" not in msg and "False" not in msg
    assert "corrupt" in describe_load_error("x.pth", EOFError("Ran out of input"))


def test_lock_refuses_a_live_holder_and_takes_over_a_dead_one(tmp_path, caplog):
    run = tmp_path / "run"
    run.mkdir()
    lock = run / runs.LOCK_NAME
    import socket

    host = socket.gethostname()
    lock.write_text(json.dumps({"pid": os.getppid(), "host": host, "started": "2026-01-01 10:00:00"}))
    with pytest.raises(RuntimeError, match=rf"{run} is in use by process {os.getppid()} \(started 2026-01-01 "
                                           r"10:00:00\); wait for it or stop it"):
        runs.acquire_run_lock(run)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(json.dumps({"pid": dead.pid, "host": host, "started": "2026-01-01 10:00:00"}))
    with caplog.at_level(logging.WARNING, logger="i2pmae"):
        runs.acquire_run_lock(run)
    assert "stale lock" in caplog.text and str(dead.pid) in caplog.text
    assert json.loads(lock.read_text())["pid"] == os.getpid()
    runs.end_runs(False)
    assert not lock.exists()  # released at the end of the command


def test_resume_logs_each_step_once(tmp_path):
    run = tmp_path / "run"

    def crash(k):
        if k == 4:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        run_tiny(run, tiny_cfg(checkpoint_every_steps=2), on_step=crash)  # step 3 logged, checkpoint at 2
    assert [r["step"] for r in read_metrics(run)] == [1, 2, 3]
    run_tiny(run, tiny_cfg(checkpoint_every_steps=2), resume=True)
    steps = [r["step"] for r in read_metrics(run)]
    assert steps == list(range(1, 9)), steps


def test_sigterm_checkpoints_then_exits_143_and_resumes(tmp_path):
    run = tmp_path / "run"
    setup_logging(run, 0)
    with pytest.raises(RunInterrupted) as err:
        run_tiny(run, tiny_cfg(), on_step=lambda k: k == 3 and os.kill(os.getpid(), signal.SIGTERM))
    assert err.value.exit_code == 143 and not err.value.aborted
    assert "stopped by SIGTERM" in str(err.value) and str(run / "last.pth") in str(err.value)
    assert load_checkpoint(run / "last.pth")["loop"]["global_step"] == 3
    assert f"resume with --resume {run}" in (run / "log.txt").read_text()
    assert run_tiny(run, tiny_cfg(), resume=True)["global_step"] == 8


def test_double_ctrl_c_aborts_with_130_and_logs_it(tmp_path):
    setup_logging(tmp_path / "run", 0)

    def twice(k):
        if k == 5:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(RunInterrupted) as err:
        run_tiny(tmp_path / "run", tiny_cfg(checkpoint_every_steps=2), on_step=twice)
    assert err.value.exit_code == 130 and err.value.aborted
    log_txt = (tmp_path / "run" / "log.txt").read_text()
    assert "aborted by a second SIGINT" in log_txt and "global step 4" in log_txt
    assert f"resume with --resume {tmp_path / 'run'}" in log_txt
    assert load_checkpoint(tmp_path / "run" / "last.pth")["loop"]["global_step"] == 4


def test_progress_lines_without_a_terminal(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("I2PMAE_PROGRESS", "0")
    with caplog.at_level(logging.INFO, logger="i2pmae"):
        run_tiny(tmp_path / "run", tiny_cfg(epochs=10), n=8)  # 20 steps
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("tiny step ")]
    assert 10 <= len(lines) <= 20, lines
    assert lines[-1].startswith("tiny step 20/20:")
    assert all("loss" in ln and "lr" in ln and "shapes/s" in ln and "ETA" in ln for ln in lines)


def test_progress_log_logs_at_least_every_max_gap(caplog):
    log = ProgressLog("x", total_steps=1000, every=500, max_gap_s=0.0)
    with caplog.at_level(logging.INFO, logger="i2pmae"):
        assert log.update(1, 4, loss=1.0)  # not a multiple of 500, but the time gap is due
    assert "x step 1/1000" in caplog.text
