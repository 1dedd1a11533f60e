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
from typing import Any, Iterable, Iterator, Mapping, TypeVar

from i2pmae.io_errors import describe_os_error, output_error

LOGGER_NAME = "i2pmae"
T = TypeVar("T")
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
            try:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
            except OSError as exc:
                raise output_error(exc, self.path) from exc
            self.lines = _count_lines(self.path)
        else:
            self.lines = 0

    def truncate(self, keep_lines: int | None = None, max_step: int | None = None) -> int:
        """Drop the records a resumed run is about to redo: keep the first ``keep_lines`` lines (the count
        its checkpoint saw), else those with ``step <= max_step``; return how many lines were dropped."""
        if not self.enabled or self._file is None:
            return 0
        rows = self.path.read_text(encoding="utf-8").splitlines(keepends=True)
        if keep_lines is not None:
            kept = rows[: int(keep_lines)]
        elif max_step is not None:
            kept = [r for r in rows if not r.strip() or _step_of(r) <= int(max_step)]
        else:
            return 0
        if len(kept) == len(rows):
            return 0
        self._file.close()
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            tmp.write_text("".join(kept), encoding="utf-8")
            os.replace(tmp, self.path)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise output_error(exc, self.path) from exc
        self.lines = len(kept)
        return len(rows) - len(kept)

    def _writer(self):
        if self._tb is None and self._tb_wanted:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"))
            except OSError:
                raise
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
        try:
            self._file.write(json.dumps(record, default=str) + "\n")
            self._file.flush()
        except OSError as exc:
            raise output_error(exc, self.path) from exc
        self.lines += 1
        try:
            writer = self._writer()
            if writer is not None:
                for key, value in values.items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                        writer.add_scalar(key, value, int(step))
        except OSError as exc:
            raise output_error(exc, self.run_dir / "tensorboard") from exc

    def close(self) -> None:
        file, tb = self._file, self._tb
        self._file = self._tb = None
        try:
            if file is not None:
                file.close()
            if tb is not None:
                tb.close()
        except OSError as exc:
            raise output_error(exc, self.run_dir) from exc

    def __enter__(self) -> "MetricsLogger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def _step_of(line: str) -> float:
    try:
        return float(json.loads(line).get("step", -1))
    except (ValueError, AttributeError, TypeError):
        return -1.0


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
    # Tracebacks go to log.txt only: the console shows one line per message (the CLI's --debug re-raises).
    console.setFormatter(_OneLineFormatter(f"[rank {rank}] %(levelname)s %(message)s" if rank else fmt._fmt,
                                           datefmt="%Y-%m-%d %H:%M:%S"))
    setattr(console, _HANDLER_TAG, True)
    logger.addHandler(console)
    if rank == 0:
        logger.setLevel(level)
        if run_dir is not None:
            try:
                Path(run_dir).mkdir(parents=True, exist_ok=True)
                file_handler = _RunLogHandler(Path(run_dir) / "log.txt", encoding="utf-8")
            except OSError as exc:
                raise output_error(exc, Path(run_dir) / "log.txt") from exc
            file_handler.setFormatter(fmt)
            setattr(file_handler, _HANDLER_TAG, True)
            logger.addHandler(file_handler)
    else:
        logger.setLevel(logging.WARNING)
    return logger


class _OneLineFormatter(logging.Formatter):
    """A record's message without its traceback (the console of a CLI run stays one line per event)."""

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info:
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None,
                                            "stack_info": None})
        return super().format(record)


class _RunLogHandler(logging.FileHandler):
    """log.txt that, when the disk fills up or turns read-only, warns once on stderr and stops writing
    (instead of printing logging's '--- Logging error ---' traceback for every later message)."""

    failed = False

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's API
        exc = sys.exc_info()[1]
        if not self.failed:
            self.failed = True
            why = describe_os_error(exc, self.baseFilename) if isinstance(exc, OSError) else repr(exc)
            print(f"i2pmae: warning: {why}; the log file is no longer written", file=sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        if not self.failed:
            super().emit(record)


PROGRESS_LOGGER_NAME = LOGGER_NAME + ".progress"  # progress lines: worker processes let them reach the console


class ProgressLog:
    """Progress as log lines when no bar is shown (stdout/stderr not a terminal, ``I2PMAE_PROGRESS=0``):
    one line every ``every`` steps -- by default ~15 lines per run -- and at least every ``max_gap_s``."""

    def __init__(self, name: str, total_steps: int, done: int = 0, every: int | None = None,
                 max_gap_s: float = 60.0, logger: logging.Logger | None = None, unit: str = "step") -> None:
        self.name = name
        self.unit = unit  # "step": training lines ("NAME step 3/10: loss ..., 12.0 shapes/s"); else e.g. "file"
        self.total = max(int(total_steps), 1)
        self.every = max(int(every), 1) if every else max(math.ceil(self.total / 15), 1)
        self.max_gap_s = max_gap_s
        self.log = logger or logging.getLogger(PROGRESS_LOGGER_NAME)
        self.start_step = int(done)
        self.t0 = self.last_t = time.perf_counter()
        self.samples = 0

    def update(self, step: int, samples: int, **values: float) -> bool:
        """Record global ``step`` (``samples`` shapes since the last call); True when a line was logged."""
        now = time.perf_counter()
        self.samples += samples
        due = step % self.every == 0 or step >= self.total or now - self.last_t >= self.max_gap_s
        if not due:
            return False
        self.last_t = now
        elapsed = max(now - self.t0, 1e-9)
        done_here = max(step - self.start_step, 1)
        eta = (self.total - step) * elapsed / done_here
        parts = [f"{k} {v:.4g}" if k != "lr" else f"lr {v:.2e}" for k, v in values.items()]
        rate = "shapes" if self.unit == "step" else f"{self.unit}s"
        parts += [f"{self.samples / elapsed:.1f} {rate}/s", f"ETA {_duration(eta)}"]
        self.log.info("%s %s %d/%d: %s", self.name, self.unit, step, self.total, ", ".join(parts))
        return True


def _duration(seconds: float) -> str:
    seconds = int(round(max(seconds, 0)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


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


def progress_iter(items: Iterable[T], total: int | None = None, desc: str = "", unit: str = "item",
                  min_total: int = 0) -> Iterator[T]:
    """``items`` with progress for long reads (dataset caches, zero-shot batches): a tqdm bar on a terminal,
    as :func:`progress_bar`; otherwise (logs, pipes, CI) :class:`ProgressLog` lines, ~15 per pass, never
    tqdm's carriage-return redraws. Nothing below ``min_total`` items or with ``I2PMAE_PROGRESS=0``."""
    total = len(items) if total is None else int(total)  # type: ignore[arg-type]
    env = os.environ.get("I2PMAE_PROGRESS", "")
    if env == "0" or total < max(min_total, 1):
        yield from items
        return
    if env == "1" or bool(getattr(sys.stderr, "isatty", lambda: False)()):
        from tqdm.auto import tqdm

        yield from tqdm(items, total=total, desc=desc, unit=unit, dynamic_ncols=True, leave=False)
        return
    lines = ProgressLog(desc, total, unit=unit)
    for i, item in enumerate(items, 1):
        yield item
        lines.update(i, 1)  # after the caller has processed the item


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
