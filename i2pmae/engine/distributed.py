"""torch.distributed helpers that are no-ops in a single process.

``init_distributed`` reads torchrun's environment (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT): NCCL when the process uses a CUDA
device, gloo on CPU. Every collective below works unchanged when
torch.distributed is not initialised, so the same code runs with and without
torchrun.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping

import torch
import torch.distributed as dist
from torch import nn

log = logging.getLogger("i2pmae")


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: its rank, the number of processes, and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    is_main: bool = True

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer") from None


def is_dist() -> bool:
    """True when torch.distributed is initialised with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def is_main_process() -> bool:
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def _pick_device(device: str | torch.device | None, local_rank: int, world_size: int) -> torch.device:
    if device is None or str(device) == "auto":
        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            dev = torch.device(device)
        except RuntimeError as exc:
            raise ValueError(f"--device {device}: not a device; use cpu, cuda, cuda:1, ...") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device}: CUDA is not available in this process (no GPU, or a CPU-only "
                             "PyTorch); use --device cpu")
        if dev.index is not None and world_size == 1 and dev.index >= torch.cuda.device_count():
            raise ValueError(f"--device {device}: this machine has {torch.cuda.device_count()} GPU(s), "
                             f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
        if world_size > 1:  # torchrun: one GPU per local rank
            if dev.index is not None and dev.index != local_rank:
                log.warning("device %s ignored under torchrun: local rank %d uses cuda:%d", dev, local_rank, local_rank)
            dev = torch.device("cuda", local_rank % torch.cuda.device_count())
        elif dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(dev)
    return dev


def init_distributed(device: str | torch.device | None = None, timeout_minutes: float = 30.0) -> DistInfo:
    """Join the process group torchrun describes (if any) and pick this process's device."""
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"bad torchrun environment: RANK={rank}, WORLD_SIZE={world_size}")
    dev = _pick_device(device, local_rank, world_size)
    if world_size > 1 and not dist.is_initialized():
        if not dist.is_available():
            raise RuntimeError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
        backend = "nccl" if dev.type == "cuda" else "gloo"
        kwargs: dict[str, Any] = {"backend": backend, "timeout": timedelta(minutes=timeout_minutes)}
        if dev.type == "cuda":
            kwargs["device_id"] = dev
        dist.init_process_group(**kwargs)
        log.debug("joined process group: rank %d of %d (%s, %s)", rank, world_size, backend, dev)
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=dev, is_main=rank == 0)


def cleanup(synchronize: bool = True) -> None:
    """Leave the process group (safe to call when there is none).

    With ``synchronize`` every rank first waits for the others: a rank that tears its gloo connections
    down while another still uses them makes that one abort ("terminate called without an active
    exception"). Pass False on an error path, where the other ranks may never arrive.
    """
    if dist.is_available() and dist.is_initialized():
        if synchronize:
            dist.barrier()
        dist.destroy_process_group()


def barrier() -> None:
    if is_dist():
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def _comm_device(tensor: torch.Tensor) -> torch.device:
    """NCCL only moves CUDA tensors: CPU tensors travel through the current GPU and come back."""
    if dist.get_backend() == "nccl" and tensor.device.type != "cuda":
        return torch.device("cuda", torch.cuda.current_device())
    return tensor.device


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """The mean of ``tensor`` over all processes (a new tensor; the input unchanged)."""
    if not is_dist():
        return tensor
    out = tensor.detach().to(_comm_device(tensor), copy=True)
    if not out.is_floating_point():
        out = out.double()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return (out / dist.get_world_size()).to(tensor.device)


def reduce_dict(values: Mapping[str, float | torch.Tensor], device: torch.device | None = None,
                average: bool = True) -> dict[str, float]:
    """Sum or mean of scalar metrics over processes, in one collective (same keys on every rank)."""
    keys = sorted(values)
    if not is_dist():
        return {k: float(values[k]) for k in keys}
    if device is None:
        device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    if average:
        t /= dist.get_world_size()
    return {k: float(v) for k, v in zip(keys, t.tolist())}


def all_gather_tensors(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate every process's ``tensor`` along dim 0, in rank order.

    Sizes along dim 0 may differ between ranks (the last shard of a dataset):
    shapes are gathered first, each tensor is padded to the largest, and the
    padding is cut off again. Trailing dimensions (of non-empty shards), the
    number of dimensions and the dtype must agree.
    """
    if not is_dist():
        return tensor
    if tensor.ndim == 0:
        tensor = tensor.reshape(1)
    home, dtype = tensor.device, tensor.dtype
    tensor = tensor.detach().to(_comm_device(tensor))
    if dtype == torch.bool:
        tensor = tensor.to(torch.uint8)
    tensor = tensor.contiguous()
    world = dist.get_world_size()
    shape = torch.tensor(tensor.shape, dtype=torch.int64, device=tensor.device)
    shapes = [torch.zeros_like(shape) for _ in range(world)]
    dist.all_gather(shapes, shape)  # every rank sees every shape, so all raise (or not) together
    shapes_l = [tuple(int(v) for v in s.tolist()) for s in shapes]
    counts = [s[0] for s in shapes_l]
    trailing = {s[1:] for s in shapes_l if s[0] > 0}
    if len(trailing) > 1:
        raise ValueError(f"all_gather_tensors: trailing shapes differ between ranks: {shapes_l}")
    longest = max(counts)
    if longest == 0:
        return tensor.to(device=home, dtype=dtype)
    row = trailing.pop()
    if tensor.shape[0] == 0:  # an empty shard may have any trailing shape, e.g. (0, 0)
        tensor = tensor.new_zeros((0, *row))
    padded = tensor
    if tensor.shape[0] < longest:
        pad = tensor.new_zeros((longest - tensor.shape[0], *row))
        padded = torch.cat([tensor, pad], dim=0)
    gathered = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(gathered, padded)
    return torch.cat([g[:c] for g, c in zip(gathered, counts)], dim=0).to(device=home, dtype=dtype)


def wrap_ddp(model: nn.Module, info: DistInfo, sync_bn: bool = False,
             find_unused_parameters: bool = False) -> nn.Module:
    """DistributedDataParallel around ``model`` (returned unchanged in a single process).

    ``sync_bn`` converts BatchNorm layers to SyncBatchNorm in place (CUDA only:
    SyncBatchNorm has no CPU kernel, so on CPU it is skipped with a warning).
    """
    if info.world_size <= 1 or not is_dist():
        return model
    if sync_bn:
        if info.device.type == "cuda":
            converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            if converted is not model:
                raise ValueError("sync_bn: the model itself is a BatchNorm layer; wrap it in a module first")
        else:
            log.warning("sync_bn ignored: SyncBatchNorm needs CUDA, this process runs on %s", info.device)
    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids,
                                               find_unused_parameters=find_unused_parameters)
