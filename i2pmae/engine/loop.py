"""The one training loop shared by pre-training, fine-tuning and segmentation.

A task supplies its model, training set, a loss function and an optional
per-epoch evaluation; this loop does everything else: seeded step-wise batches,
gradient accumulation, mixed precision, ``torch.compile`` (``train.compile``), clipping, the cosine schedule,
checkpoints (last / best, written atomically), exact resume, logging, DDP.

Randomness inside a step (masking, drop-path, augmentation) is re-seeded from
(seed, global step, shard) before every micro-batch, so a resumed run and a
run split across DDP ranks draw exactly what one uninterrupted process draws.
"""

from __future__ import annotations

import logging
import math
import signal
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from i2pmae.engine import checkpoint as ckpt_io
from i2pmae.engine.distributed import DistInfo, all_reduce_mean, barrier
from i2pmae.engine.logging import MetricsLogger, ProgressLog, progress_bar
from i2pmae.engine.optim import build_optimizer
from i2pmae.engine.sampler import StepBatchSampler, mix_seed
from i2pmae.engine.schedule import CosineSchedule
from i2pmae.engine.seeding import capture_rng_state, restore_rng_state

log = logging.getLogger("i2pmae")

LossFn = Callable[[nn.Module, dict, torch.Generator], tuple[torch.Tensor, dict[str, float]]]
EvalFn = Callable[[nn.Module], dict[str, float]]


@dataclass
class Task:
    """What differs between pre-training, fine-tuning and segmentation."""

    name: str
    model: nn.Module
    train_set: Dataset
    loss_fn: LossFn
    evaluate: EvalFn | None = None
    best_metric: str | None = None  # a key of evaluate()'s result, higher is better


def resolve_amp(amp: str | None, device: torch.device) -> torch.dtype | None:
    """Autocast dtype of the 3D network: 'auto' = bf16 on a CUDA device that supports it, else full precision.

    On CPU 'auto' = bf16 where the CPU has native bf16 (:func:`i2pmae.teachers.cpu_native_bf16`, the rule
    ``teacher.dtype: auto`` follows), fp32 elsewhere: on the miniature (``benchmarks/amp_miniature.py``,
    dev draw, 3 seeds) bf16 training kept the loss curve and both probes within seed noise of fp32, and
    the 3D network's step is faster (``benchmarks/pretrain_step.py``). Losses, Chamfer, kNN, farthest-point
    sampling and the token embedding's BatchNorm stay fp32 under autocast. ``train.amp: none`` forces fp32.
    The choice is logged once.
    """
    amp = (amp or "none").lower()
    if amp == "auto":
        from i2pmae.teachers.base import cpu_native_bf16, log_precision_choice

        if device.type == "cuda":
            ok = torch.cuda.is_bf16_supported()
            choice, why = (torch.bfloat16, "CUDA device with bf16") if ok else (None, "CUDA device without bf16")
        elif device.type == "cpu":
            native, why = cpu_native_bf16()
            choice = torch.bfloat16 if native else None
        else:
            choice, why = None, f"{device.type} device"
        log_precision_choice("train.amp", choice, why)
        return choice
    if amp in ("none", "fp32", "off", "false"):
        return None
    if amp == "bf16":
        return torch.bfloat16
    if amp == "fp16":
        return torch.float16
    raise ValueError(f"train.amp must be auto | bf16 | fp16 | none, got {amp!r}")


def move_batch(batch: dict, device: torch.device) -> dict:
    non_blocking = device.type == "cuda"
    return {k: v.to(device, non_blocking=non_blocking) if torch.is_tensor(v) else v for k, v in batch.items()}


class RunInterrupted(BaseException):
    """Training stopped by SIGTERM / SIGINT: the checkpoint is written (or the abort logged) and the
    command must exit non-zero (128 + signal: 143 for SIGTERM, 130 for Ctrl-C), so that
    ``i2pmae pretrain && i2pmae svm`` does not carry on with a half-trained model.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` treats it as a failure.
    """

    def __init__(self, signum: int, run_dir: Path, checkpoint: Path | None, where: str, aborted: bool = False) -> None:
        self.signum = int(signum)
        self.run_dir = Path(run_dir)
        self.checkpoint = checkpoint
        self.aborted = aborted
        self.exit_code = 128 + self.signum
        name = signal.Signals(self.signum).name if self.signum in signal.Signals._value2member_map_ else str(signum)
        if aborted:
            saved = f"the last checkpoint is {checkpoint}" if checkpoint else "no checkpoint was written"
            text = f"aborted by a second {name} at {where}; {saved}"
        else:
            text = f"stopped by {name} at {where}; checkpoint written to {checkpoint}"
        super().__init__(text)


class _StopFlag:
    """Turns SIGTERM/SIGINT into 'checkpoint at the end of this step, then stop'; a second one aborts at once."""

    def __init__(self) -> None:
        self.requested = False
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "_StopFlag":
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread
                pass
        return self

    def _handle(self, signum, frame) -> None:  # noqa: ANN001
        if self.requested:  # second signal: stop now
            self.signum = signum
            raise KeyboardInterrupt
        log.warning("signal %d received: stopping after this step with a checkpoint (a second one aborts now)",
                    signum)
        self.requested = True
        self.signum = signum

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def train(task: Task, cfg: dict, run_dir: Path, dist: DistInfo, resume: bool = False) -> dict[str, Any]:
    """Run (or resume) training as ``cfg["train"]`` says; return a summary dict."""
    tcfg = cfg["train"]
    device = dist.device
    run_dir = Path(run_dir)
    seed = int(tcfg.get("seed", 0))
    epochs = int(tcfg["epochs"])
    accum = int(tcfg.get("accum_steps", 1))
    amp_dtype = resolve_amp(tcfg.get("amp", "auto"), device)
    clip = tcfg.get("grad_clip")
    ckpt_every = int(tcfg.get("checkpoint_every_steps", 0) or 0)
    eval_every = int(tcfg.get("eval_every", 1) or 0)
    max_steps = tcfg.get("max_steps")  # stop early (tests, smoke runs); the schedule is unchanged

    model = task.model.to(device)
    if bool(tcfg.get("compile", False)):  # in place: parameters and state_dict names stay the model's own
        from i2pmae.engine.compile import compile_model

        compile_model(model)
    optimizer = build_optimizer(model, tcfg)
    sampler = StepBatchSampler(
        len(task.train_set), int(tcfg["batch_size"]), accum, dist.rank, dist.world_size, seed,
        shuffle=bool(tcfg.get("shuffle", True)),
    )
    steps_per_epoch = sampler.steps_per_epoch
    schedule = CosineSchedule.from_config(tcfg, steps_per_epoch)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    ddp_model = _wrap(model, dist, tcfg)

    state = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "best": None, "best_epoch": None}
    last_path, best_path = run_dir / "last.pth", run_dir / "best.pth"
    if resume:
        found = ckpt_io.find_resume_checkpoint(run_dir)
        if found is None:
            raise FileNotFoundError(f"--resume {run_dir}: no last.pth checkpoint there to resume from")
        saved = ckpt_io.load_checkpoint(found, map_location="cpu")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scaler.load_state_dict(saved["scaler"])
        state.update(saved["loop"])
        restore_rng_state(saved["rng"])
        log.info("resumed from %s at epoch %d step %d", found, state["epoch"], state["step_in_epoch"])

    saved_step = {"last": state["global_step"] if resume else None}  # global step of the newest last.pth

    def save(path: Path, with_training_state: bool = True) -> None:
        if not dist.is_main:
            return
        state["metrics_lines"] = logger.lines  # a resume drops the metrics lines written after this point
        payload: dict[str, Any] = {"model": model.state_dict(), "loop": dict(state), "config": cfg}
        if with_training_state:
            payload.update(optimizer=optimizer.state_dict(), scaler=scaler.state_dict(), rng=capture_rng_state())
        ckpt_io.save_checkpoint(path, payload)
        if path == last_path:
            saved_step["last"] = state["global_step"]

    def where() -> str:
        return f"epoch {state['epoch']} step {state['step_in_epoch']}/{steps_per_epoch} (global step " \
               f"{state['global_step']})"

    def checkpoint_note() -> str:
        if saved_step["last"] is None:
            return "no checkpoint was written yet"
        return f"the last checkpoint is {last_path} (global step {saved_step['last']}; resume with --resume {run_dir})"

    loader = DataLoader(
        task.train_set,
        batch_sampler=sampler,
        num_workers=int(tcfg.get("num_workers", 0)),
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )
    logger = MetricsLogger(run_dir, enabled=dist.is_main)
    if resume:  # steps after the checkpoint are redone: their lines would otherwise appear twice
        dropped = logger.truncate(keep_lines=state.get("metrics_lines"), max_step=state["global_step"])
        if dropped:
            log.info("metrics.jsonl: dropped %d line(s) logged after the checkpoint (those steps are redone)",
                     dropped)
    total_steps = epochs * steps_per_epoch
    if max_steps is not None:
        total_steps = min(total_steps, int(max_steps))
    progress_log: ProgressLog | None = None
    summary: dict[str, Any] = {"stopped_early": False}
    history: list[dict[str, float]] = []
    stop = _StopFlag()
    try:
        with stop:
            while state["epoch"] < epochs:
                epoch = state["epoch"]
                sampler.set_epoch(epoch, state["step_in_epoch"])
                if hasattr(task.train_set, "set_epoch"):
                    task.train_set.set_epoch(epoch)
                model.train()
                bar = progress_bar(
                    total=steps_per_epoch, initial=state["step_in_epoch"],
                    desc=f"{task.name} {epoch + 1}/{epochs}", enabled=dist.is_main,
                )
                if not bar.active and dist.is_main and progress_log is None:  # no terminal: log lines instead
                    progress_log = ProgressLog(task.name, total_steps, state["global_step"], tcfg.get("log_every"))
                micro_batches: list[dict] = []
                t0, seen = time.perf_counter(), 0
                for batch in loader:
                    micro_batches.append(batch)
                    if len(micro_batches) < accum:
                        continue
                    lr = schedule.lr(epoch, state["step_in_epoch"])
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    metrics = _optimizer_step(
                        task, model, ddp_model, micro_batches, optimizer, scaler, amp_dtype, clip, device, dist,
                        seed, state["global_step"],
                    )
                    step_samples = sum(len(next(iter(b.values()))) for b in micro_batches) * dist.world_size
                    seen += step_samples
                    micro_batches = []
                    state["step_in_epoch"] += 1
                    state["global_step"] += 1
                    rate = seen / max(time.perf_counter() - t0, 1e-9)
                    bar.set_postfix(loss=f"{metrics['loss']:.4f}", lr=f"{lr:.2e}", rate=f"{rate:.1f}/s")
                    bar.update(1)
                    if progress_log is not None:
                        progress_log.update(state["global_step"], step_samples, loss=metrics["loss"], lr=lr)
                    logger.log({**metrics, "lr": lr, "samples_per_s": rate}, step=state["global_step"], epoch=epoch)
                    stop_now = stop.requested or (max_steps is not None and state["global_step"] >= int(max_steps))
                    if stop_now or (ckpt_every and state["global_step"] % ckpt_every == 0):
                        save(last_path)
                    if stop.requested:
                        bar.close()
                        exc = RunInterrupted(stop.signum or signal.SIGTERM, run_dir, last_path, where())
                        log.warning("%s %s; resume with --resume %s", task.name, exc, run_dir)
                        raise exc
                    if stop_now:
                        bar.close()
                        summary["stopped_early"] = True
                        log.info("stopped at epoch %d step %d; resume with --resume %s",
                                 epoch, state["step_in_epoch"], run_dir)
                        return _finish(summary, state, history, logger)
                bar.close()
                state["epoch"] += 1
                state["step_in_epoch"] = 0
                evaluated: dict[str, float] = {}
                if task.evaluate is not None and eval_every and (state["epoch"] % eval_every == 0 or state["epoch"] == epochs):
                    evaluated = task.evaluate(model)
                    logger.log(evaluated, step=state["global_step"], epoch=epoch, prefix="eval/")
                    history.append({"epoch": epoch, **evaluated})
                    if dist.is_main:
                        log.info("epoch %d: %s", epoch, ", ".join(f"{k} {v:.4f}" for k, v in evaluated.items()))
                    key = task.best_metric
                    if key is not None and key in evaluated and (state["best"] is None or evaluated[key] > state["best"]):
                        state["best"], state["best_epoch"] = float(evaluated[key]), epoch
                        save(best_path, with_training_state=False)
                save(last_path)
                barrier()
    except KeyboardInterrupt:  # a second signal (or Ctrl-C without the handler): no checkpoint now
        exc = RunInterrupted(stop.signum or signal.SIGINT, run_dir, last_path if saved_step["last"] is not None
                             else None, where(), aborted=True)
        if saved_step["last"] is not None:
            log.error("%s %s; resume with --resume %s", task.name, exc, run_dir)
        else:
            log.error("%s %s", task.name, exc)
        _close_quietly(logger)
        raise exc from None
    except RunInterrupted:
        _close_quietly(logger)
        raise
    except Exception as exc:
        log.error("%s failed at %s: %s; %s", task.name, where(), str(exc).splitlines()[0] if str(exc) else
                  type(exc).__name__, checkpoint_note(), exc_info=True)
        _close_quietly(logger)
        raise
    return _finish(summary, state, history, logger)


def _close_quietly(logger: MetricsLogger) -> None:
    try:
        logger.close()
    except Exception:  # noqa: BLE001 - the error being raised matters more than a failed close
        pass


def _finish(summary: dict, state: dict, history: list, logger: MetricsLogger) -> dict:
    logger.close()
    summary.update(
        epochs_done=state["epoch"], global_step=state["global_step"], best=state["best"],
        best_epoch=state["best_epoch"], history=history,
    )
    return summary


def _wrap(model: nn.Module, dist: DistInfo, tcfg: dict) -> nn.Module:
    if dist.world_size == 1:
        return model
    from i2pmae.engine.distributed import wrap_ddp

    return wrap_ddp(model, dist, sync_bn=bool(tcfg.get("sync_bn", False)),
                    find_unused_parameters=bool(tcfg.get("find_unused_parameters", False)))


def _optimizer_step(
    task: Task,
    model: nn.Module,
    ddp_model: nn.Module,
    micro_batches: list[dict],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    amp_dtype: torch.dtype | None,
    clip: float | None,
    device: torch.device,
    dist: DistInfo,
    seed: int,
    global_step: int,
) -> dict[str, float]:
    optimizer.zero_grad(set_to_none=True)
    accum = len(micro_batches)
    totals: dict[str, float] = {}
    for micro, batch in enumerate(micro_batches):
        shard = dist.rank * accum + micro
        step_seed = mix_seed(seed, global_step, shard)
        torch.manual_seed(step_seed)
        gen = torch.Generator().manual_seed(step_seed)
        batch = move_batch(batch, device)
        sync = nullcontext() if (micro == accum - 1 or ddp_model is model) else ddp_model.no_sync()
        with sync:
            with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                loss, parts = task.loss_fn(ddp_model, batch, gen)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss {loss.item()} at step {global_step}: {parts}")
            scaler.scale(loss / accum).backward()
        for k, v in {"loss": float(loss.detach()), **parts}.items():
            totals[k] = totals.get(k, 0.0) + float(v) / accum
    if clip:
        scaler.unscale_(optimizer)
        totals["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(model.parameters(), float(clip)))
    scaler.step(optimizer)
    scaler.update()
    if dist.world_size > 1:
        keys = sorted(totals)
        reduced = all_reduce_mean(torch.tensor([totals[k] for k in keys], device=device, dtype=torch.float64))
        totals = {k: float(v) for k, v in zip(keys, reduced)}
    if not math.isfinite(totals["loss"]):
        raise FloatingPointError(f"non-finite loss at step {global_step}: {totals}")
    return totals
