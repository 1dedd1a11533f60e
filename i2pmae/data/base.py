"""Common base of the readers: seeded per-item randomness, subsets and bad-file skipping.

Per-item randomness comes from ``numpy.random.default_rng((seed, epoch, index))``
so an item is the same whatever worker loads it and a resumed run sees the
same data as an uninterrupted one. The epoch lives in a shared-memory tensor,
so ``set_epoch`` also reaches persistent DataLoader workers.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from i2pmae.data.errors import BadFileError, BadFilePolicy

log = logging.getLogger("i2pmae")


class PointCloudDataset(Dataset):
    """Subclasses fill ``_num`` (underlying items) and implement ``_get(j) -> dict``."""

    format: str = ""

    def __init__(self, split: str, seed: int = 0, on_bad_file: str = "error") -> None:
        self.split = split
        self.seed = int(seed)
        self.policy = BadFilePolicy(on_bad_file, context=f"{self.format}/{split}")
        self.classes: list[str] = []
        self.notes: list[str] = []  # warnings about the layout (ignored files...), also shown by `data check`
        self._epoch = torch.zeros((), dtype=torch.int64)
        try:
            self._epoch.share_memory_()
        except (RuntimeError, OSError):  # no shared memory available: fine without workers
            pass
        self._index = np.zeros(0, dtype=np.int64)
        self._labels: np.ndarray | None = None

    # ----------------------------------------------------------------- set-up helpers
    def _set_items(self, num: int, labels: np.ndarray | None = None) -> None:
        self._index = np.arange(num, dtype=np.int64)
        self._labels = None if labels is None else np.asarray(labels, dtype=np.int64)

    def _drop(self, bad: set[int]) -> None:
        """Remove underlying items (bad rows found at load) from the visible index."""
        if bad:
            self._index = np.array([j for j in self._index if int(j) not in bad], dtype=np.int64)

    def take_fraction(self, fraction: float, seed: int = 0) -> None:
        """Keep a seeded random ``fraction`` of the items (in their original order)."""
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        if fraction == 1 or len(self._index) == 0:
            return
        k = max(1, int(round(fraction * len(self._index))))
        rng = np.random.default_rng([int(seed), 0xF4AC])
        self._index = np.sort(rng.choice(self._index, size=k, replace=False))

    # ----------------------------------------------------------------- epoch / randomness
    def set_epoch(self, epoch: int) -> None:
        """Called by the engine at each epoch start: changes the per-item random draws."""
        self._epoch.fill_(int(epoch))

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def rng(self, j: int) -> np.random.Generator:
        """The random source of underlying item ``j`` for the current (seed, epoch)."""
        return np.random.default_rng([self.seed & 0xFFFFFFFF, self.epoch, int(j)])

    # ----------------------------------------------------------------- Dataset protocol
    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        j = int(self._index[i])
        try:
            return self._get(j)
        except BadFileError as err:
            self.policy.handle(err)  # raises under 'error'
        # 'skip': the file went bad after the dataset was built; serve the next good item instead
        for step in range(1, len(self)):
            k = int(self._index[(i + step) % len(self)])
            try:
                return self._get(k)
            except BadFileError as err:
                self.policy.handle(err)
        raise BadFileError(self.format, f"every item of split {self.split!r} is unreadable")

    def _get(self, j: int) -> dict[str, Any]:
        raise NotImplementedError

    # ----------------------------------------------------------------- inspection
    def labels(self) -> np.ndarray | None:
        """Class label of every visible item (None for unlabelled data); no file is read."""
        return None if self._labels is None else self._labels[self._index]

    def item_names(self) -> list[str]:
        return [str(self._name(int(j))) for j in self._index]

    def _name(self, j: int) -> str:
        return str(j)

    def validate_items(self) -> list[tuple[int, str, str]]:
        """Load every visible item once; (position, where, problem) of each that fails."""
        problems = []
        for i, j in enumerate(self._index):
            try:
                self._get(int(j))
            except BadFileError as err:
                problems.append((i, err.where, err.problem))
        return problems

    def validate_all(self) -> list[tuple[str, str]]:
        """Load every visible item once; (where, problem) of each that fails (for `i2pmae data check`)."""
        return [(where, problem) for _, where, problem in self.validate_items()]


def item(points: np.ndarray, name: str, label: int | None = None, **extra: Any) -> dict[str, Any]:
    """The contract's item dict: float32 (N,3) points, int64 scalar label, name."""
    out: dict[str, Any] = {"points": torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32))}
    if label is not None:
        out["label"] = torch.tensor(int(label), dtype=torch.int64)
    out["name"] = name
    out.update(extra)
    return out
