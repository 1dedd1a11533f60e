"""Run logging: JSON-lines metrics, TensorBoard scalars, the ``i2pmae`` text log, progress bars.

Only the main process writes (pass ``enabled=is_main`` / ``rank``), so DDP runs
produce one ``metrics.jsonl`` and one ``log.txt``. ``metrics.jsonl`` is the
machine-readable record (plots, tests); TensorBoard is a convenience and is
skipped with one warning when the package is missing.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Mapping

LOGGER_NAME = "i2pmae"
_HANDLER_TAG = "_i2pmae_handler"


def _to_number(value: Any) -> Any:
    """Tensors / numpy scalars -> Python numbers; other JSON-able values as they are."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", 0) == 0:
        return item()
    return value


class MetricsLogger:
    """Appends ``{"step", "epoch", "time" (unix seconds), **metrics}`` lines to ``run_dir/metrics.jsonl``
    and writes the numeric ones as TensorBoard scalars under ``run_dir/tensorboard``."""

    def __init__(self, run_dir: str | os.PathLike, enabled: bool = True, tensorboard: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.path = self.run_dir / "metrics.jsonl"
        self._file = None
        self._tb_wanted = tensorboard
        self._tb = None
        if enabled:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def _writer(self):
        if self._tb is None and self._tb_wanted:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"))
            except Exception as exc:  # noqa: BLE001 - tensorboard missing or broken: keep training
                warnings.warn(f"TensorBoard logging disabled ({exc}); metrics still go to {self.path}", stacklevel=3)
                self._tb_wanted = False
        return self._tb

    def log(self, metrics: Mapping[str, Any], step: int, epoch: int | None = None, prefix: str = "") -> None:
        """Record one set of metrics at global ``step`` (keys get ``prefix``, e.g. ``eval/``)."""
        if not self.enabled or self._file is None:
            return
        values = {f"{prefix}{k}": _to_number(v) for k, v in metrics.items()}
        record = {"step": int(step), "epoch": None if epoch is None else int(epoch),
                  "time": round(time.time(), 3), **values}  # wall clock: comparable across resumes
        self._file.write(json.dumps(record, default=str) + "\n")
        self._file.flush()
        writer = self._writer()
        if writer is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                    writer.add_scalar(key, value, int(step))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def __enter__(self) -> "MetricsLogger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All records of a ``metrics.jsonl`` file (a run dir also works)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"metrics file not found: {path}")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def setup_logging(run_dir: str | os.PathLike | None, rank: int = 0, level: int = logging.INFO) -> logging.Logger:
    """Configure the ``i2pmae`` logger: console + ``run_dir/log.txt`` on rank 0; warnings only elsewhere.

    Calling it again (a second run in the same process) replaces the handlers it added before.
    """
    logger = logging.getLogger(LOGGER_NAME)
    for h in list(logger.handlers):
        if getattr(h, _HANDLER_TAG, False):
            logger.removeHandler(h)
            h.close()
    logger.propagate = False
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S")
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter(f"[rank {rank}] %(levelname)s %(message)s") if rank else fmt)
    setattr(console, _HANDLER_TAG, True)
    logger.addHandler(console)
    if rank == 0:
        logger.setLevel(level)
        if run_dir is not None:
            Path(run_dir).mkdir(parents=True, exist_ok=True)
            file_handler = logging.FileHandler(Path(run_dir) / "log.txt", encoding="utf-8")
            file_handler.setFormatter(fmt)
            setattr(file_handler, _HANDLER_TAG, True)
            logger.addHandler(file_handler)
    else:
        logger.setLevel(logging.WARNING)
    return logger


class ProgressBar:
    """A tqdm bar (or a silent stand-in) with a loss / lr / throughput postfix helper."""

    def __init__(self, bar: Any | None) -> None:
        self._bar = bar

    @property
    def active(self) -> bool:
        return self._bar is not None

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def set_postfix(self, **values: Any) -> None:
        if self._bar is not None:
            self._bar.set_postfix(**values, refresh=False)

    def show(self, loss: float | None = None, lr: float | None = None, rate: float | None = None,
             **extra: Any) -> None:
        """Postfix ``loss=0.1234 lr=5.00e-04 rate=123.4/s`` (whatever is given)."""
        values: dict[str, str] = {}
        if loss is not None:
            values["loss"] = f"{loss:.4f}"
        if lr is not None:
            values["lr"] = f"{lr:.2e}"
        if rate is not None:
            values["rate"] = f"{rate:.1f}/s"
        values.update({k: (f"{v:.4g}" if isinstance(v, float) else str(v)) for k, v in extra.items()})
        self.set_postfix(**values)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(total: int | None = None, initial: int = 0, desc: str = "", enabled: bool = True,
                 force: bool = False, unit: str = "step") -> ProgressBar:
    """A progress bar on stderr: off on non-main ranks (``enabled=False``) and when stderr is not a
    terminal (log files stay clean) unless ``force`` or the ``I2PMAE_PROGRESS=1`` environment variable;
    ``I2PMAE_PROGRESS=0`` turns every bar off (worker processes that share a terminal)."""
    env = os.environ.get("I2PMAE_PROGRESS", "")
    forced = force or env == "1"
    is_tty = bool(getattr(sys.stderr, "isatty", lambda: False)())
    if not enabled or env == "0" or not (is_tty or forced):
        return ProgressBar(None)
    from tqdm.auto import tqdm

    return ProgressBar(tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True, leave=False))
