"""Run directories, configs and pretrained weights: what every command does first."""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import torch

from i2pmae.engine import checkpoint as ckpt_io
from i2pmae.engine.config import load_config, save_config
from i2pmae.engine.distributed import DistInfo, init_distributed
from i2pmae.engine.logging import LOGGER_NAME, setup_logging
from i2pmae.engine.seeding import seed_everything
from i2pmae.io_errors import ensure_writable_dir

log = logging.getLogger("i2pmae")

LOCK_NAME = ".lock"
# Files a run folder holds before its first training step; a folder with nothing else was never started.
_SETUP_FILES = {"config.yaml", "log.txt", LOCK_NAME, "metrics.jsonl"}
_HELD_LOCKS: set[Path] = set()  # run folders this process holds the lock of
LAST_RUN: Path | None = None  # the run folder of the latest start_run (for the CLI's resume hint)
# (run folder, outermost folder made for it) of the folders this process created: removed again if the
# command fails before its first step
_CREATED: list[tuple[Path, Path]] = []


def start_run(
    config: str | None,
    overrides: list[str],
    out: str | None,
    resume: str | None,
    kind: str,
    device: str | None = None,
) -> tuple[dict[str, Any], Path, DistInfo]:
    """Resolve the config, create (or reopen) the run directory, start logging and DDP.

    With ``resume`` the run's own saved config is used (overrides still apply),
    so a resumed run cannot silently change its recipe; its ``train.max_steps`` is dropped
    unless given again, so ``--resume`` finishes a run stopped early on purpose.
    Everything that can be checked without data is checked first (config keys and types, device,
    a writable run folder, no other live process in it); the folder is locked until the process ends
    (:func:`end_runs`), and leftover temp files of interrupted writes are removed.
    """
    if resume:
        run_dir = Path(resume)
        saved = run_dir / "config.yaml"
        if not saved.is_file():
            raise FileNotFoundError(f"--resume {run_dir}: no config.yaml there; is it a run directory?")
        cfg = load_config(saved, overrides)
        # train.max_steps stops one invocation early (smoke runs); the resumed run goes on unless asked again.
        if not any(o.split("=", 1)[0].strip() == "train.max_steps" for o in overrides):
            cfg.get("train", {}).pop("max_steps", None)
    else:
        if config is None:
            raise ValueError(f"{kind}: give --config FILE (or a shipped name such as pretrain/i2p-mae)")
        cfg = load_config(config, overrides)
        stem = Path(str(config)).stem
        run_dir = Path(out) if out else Path("runs") / f"{kind}-{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    dist = init_distributed(device)
    seed_everything(int(cfg.get("train", {}).get("seed", 0)))  # same initial weights on every rank and rerun
    stale: list[Path] = []
    if dist.is_main:
        top = run_dir  # the outermost folder this run creates (runs/ for the default run name)
        while not top.parent.exists() and top.parent != top:
            top = top.parent
        if ensure_writable_dir(run_dir, "--resume" if resume else "--out"):
            _CREATED.append((run_dir, top))
        acquire_run_lock(run_dir)
        stale = ckpt_io.clean_stale_temps(run_dir)
        save_config(cfg, run_dir / "config.yaml")
    setup_logging(run_dir, dist.rank)
    global LAST_RUN
    LAST_RUN = run_dir
    if dist.is_main and stale:
        log.info("removed %d temp file(s) of interrupted writes: %s", len(stale), ", ".join(p.name for p in stale))
    log.info("%s run directory: %s (device %s, %d process%s)", kind, run_dir, dist.device, dist.world_size,
             "" if dist.world_size == 1 else "es")
    return cfg, run_dir, dist


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:
        return False
    return True


def _read_lock(lock: Path) -> dict | None:
    try:
        data = json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None


def acquire_run_lock(run_dir: str | os.PathLike) -> Path:
    """Take ``RUN/.lock`` (PID, host, start time) or raise RuntimeError naming the live holder.

    A lock left by a dead process on this host is taken over with a warning; this process may
    take its own lock again (a second command in the same Python session).
    """
    run_dir = Path(run_dir)
    lock = run_dir / LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(5):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            holder = _read_lock(lock)
            if holder is None:  # empty or unreadable: a writer between open and write, or garbage
                age = time.time() - lock.stat().st_mtime if lock.exists() else 0.0
                if age < 2.0:
                    time.sleep(0.2)
                    continue
                log.warning("%s: unreadable lock file %s taken over", run_dir, lock)
            elif holder.get("host") == me["host"] and holder["pid"] == me["pid"]:
                pass  # our own (a previous command of this process)
            elif holder.get("host") not in (None, me["host"]):
                raise RuntimeError(
                    f"{run_dir} is in use by process {holder['pid']} on {holder['host']} (started "
                    f"{holder.get('started', '?')}); wait for it or stop it (if it is gone, delete {lock})")
            elif _pid_alive(holder["pid"]):
                raise RuntimeError(f"{run_dir} is in use by process {holder['pid']} (started "
                                   f"{holder.get('started', '?')}); wait for it or stop it")
            else:
                log.warning("%s: taking over the stale lock of process %d (started %s), which is no longer "
                            "running", run_dir, holder["pid"], holder.get("started", "?"))
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(me) + "\n")
        _HELD_LOCKS.add(run_dir)
        return lock
    raise RuntimeError(f"{run_dir}: could not take the lock {lock}; is another process starting there?")


def release_run_lock(run_dir: str | os.PathLike) -> None:
    """Remove ``RUN/.lock`` if this process holds it."""
    run_dir = Path(run_dir)
    lock = run_dir / LOCK_NAME
    holder = _read_lock(lock)
    if holder is not None and holder["pid"] == os.getpid() and holder.get("host") == socket.gethostname():
        lock.unlink(missing_ok=True)
    _HELD_LOCKS.discard(run_dir)


def run_started(run_dir: str | os.PathLike) -> bool:
    """Whether a run folder holds anything a training step or evaluation wrote (checkpoints, metrics, results)."""
    for path in Path(run_dir).rglob("*"):
        if path.is_dir():
            continue
        if path.name.endswith(".tmp") and path.name.startswith("."):
            continue
        if path.name not in _SETUP_FILES or (path.name == "metrics.jsonl" and path.stat().st_size > 0):
            return True
    return False


def end_runs(failed: bool) -> list[Path]:
    """At the end of a command: release its locks; after a failure, remove the run folders it created
    that never got to a first step (bad config, missing data), so failed starts leave nothing behind.
    Returns the folders removed."""
    removed = []
    if failed:
        for run_dir, top in list(_CREATED):
            if run_dir.is_dir() and not run_started(run_dir):
                _close_file_logs(run_dir)
                shutil.rmtree(run_dir, ignore_errors=True)
                removed.append(run_dir)
                for parent in run_dir.parents:  # folders made for it (e.g. runs/), when nothing else is inside
                    if top == run_dir or not parent.is_relative_to(top):
                        break
                    try:
                        parent.rmdir()
                    except OSError:
                        break
    _CREATED.clear()
    for run_dir in list(_HELD_LOCKS):
        release_run_lock(run_dir)
    return removed


@atexit.register
def _release_all_locks() -> None:
    for run_dir in list(_HELD_LOCKS):
        try:
            release_run_lock(run_dir)
        except OSError:
            pass


def _close_file_logs(run_dir: Path) -> None:
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        name = getattr(handler, "baseFilename", None)
        if name and Path(name).parent.resolve() == run_dir.resolve():
            logger.removeHandler(handler)
            handler.close()


def model_config_from_checkpoint(path: str | os.PathLike) -> dict | None:
    """The ``model:`` section of the config stored in one of our checkpoints (None for the authors' files,
    which hold none, and for .safetensors)."""
    if Path(path).suffix == ".safetensors":
        return None
    ckpt = ckpt_io.load_checkpoint(path, map_location="cpu")
    cfg = ckpt.get("config")
    model = cfg.get("model") if isinstance(cfg, dict) else None
    return dict(model) if isinstance(model, dict) else None


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A model state dict from one of our checkpoints or the authors' (`base_model`), `module.` stripped."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        if not path.is_file():
            raise FileNotFoundError(f"weights file not found: {path}")
        return load_file(str(path))
    return ckpt_io.extract_model_state(ckpt_io.load_checkpoint(path, map_location="cpu"))


def build_teacher_from_config(cfg: dict, device: torch.device):
    """The frozen 2D model named in ``cfg['teacher']`` (None when the model needs none)."""
    from i2pmae.teachers import build_teacher

    model_cfg = cfg.get("model", {})
    tcfg = cfg.get("teacher") or {}
    # Random masking ("w/o 2D guidance") has no 2D loss; only feature fusion would still need 2D features.
    if model_cfg.get("masking", "2d_guided") == "random" and model_cfg.get("fusion", "none") in (None, "none"):
        return None
    from i2pmae.teachers import resolve_dtype

    dtype = resolve_dtype(tcfg.get("dtype", "auto"), device)  # 'auto': fp16 CUDA, bf16 native-bf16 CPU
    extra = {"arch_overrides": dict(tcfg["arch_overrides"])} if tcfg.get("arch_overrides") else {}
    return build_teacher(tcfg.get("name", "clip-vit-b16"), weights=tcfg.get("weights"), device=device, dtype=dtype,
                         **extra)
