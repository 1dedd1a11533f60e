"""``build_loader``: a DataLoader set up to keep up with training and to be reproducible."""

from __future__ import annotations

import random

import numpy as np
import torch
import torch.distributed as torch_dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler


def _seed_worker(worker_id: int) -> None:
    """Seed numpy/random in each worker from torch's per-worker seed (datasets use their own seeded rngs)."""
    seed = torch.initial_seed() % 2 ** 32
    np.random.seed(seed)
    random.seed(seed)


def build_loader(dataset: Dataset, batch_size: int, shuffle: bool = False, num_workers: int = 0,
                 distributed: bool | None = None, seed: int = 0, drop_last: bool = False,
                 prefetch_factor: int | None = None) -> DataLoader:
    """DataLoader with pinned memory (CUDA only), persistent workers and a seeded shuffle.

    ``distributed=None`` uses a DistributedSampler exactly when torch.distributed is
    initialised. Call :func:`set_loader_epoch` at each epoch start so the shuffle
    and the datasets' per-item draws change with the epoch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if distributed is None:
        distributed = torch_dist.is_available() and torch_dist.is_initialized()
    sampler = None
    generator = torch.Generator().manual_seed(int(seed))
    if distributed:
        sampler = DistributedSampler(dataset, shuffle=shuffle, seed=int(seed), drop_last=drop_last)
        shuffle = False
    kwargs = {}
    if num_workers > 0:
        kwargs.update(persistent_workers=True, worker_init_fn=_seed_worker)
        if prefetch_factor:
            kwargs["prefetch_factor"] = prefetch_factor
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, sampler=sampler, num_workers=num_workers,
                      pin_memory=torch.cuda.is_available(), drop_last=drop_last, generator=generator, **kwargs)


def set_loader_epoch(loader: DataLoader, epoch: int) -> None:
    """Tell the sampler (distributed shuffle) and the dataset (per-item draws) which epoch starts."""
    if isinstance(loader.sampler, DistributedSampler):
        loader.sampler.set_epoch(epoch)
    dataset = loader.dataset
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
