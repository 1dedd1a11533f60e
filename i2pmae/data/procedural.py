"""``format: procedural``: procedural shapes made on the fly, new every epoch, and the unseen-family test.

Two seed streams of their own, apart from the fixed draws of :mod:`i2pmae.data.synth` (entropy
``(seed, class, i)``) and the teacher's corpus (``(CORPUS_TAG, seed, batch)``):

- ``FRESH_TAG``: pre-training shapes of the 15 built-in classes; item ``i`` of epoch ``e`` comes from
  ``default_rng([FRESH_TAG, seed, e, i])``, so it is a pure function of (seed, epoch, index): a resumed run,
  DataLoader workers and DDP ranks all draw exactly the shapes one uninterrupted process draws.
- ``UNSEEN_TAG``: the transfer test, shapes of the 13 corpus families that are *not* among the 15
  pre-training classes (``synth_corpus.EXTRA_BUILDERS``), with the built-in pose rules (any turn about the
  up axis, a small tilt; no corpus deformation). 3D pre-training never sees these families; the stand-in 2D
  teacher's corpus does (it is meant to know more), from its own stream.

``i2pmae data synth --unseen-families --out DIR`` writes the unseen-family split to files (ModelNet40-HDF5
layout) for tools outside this package.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from i2pmae.data.base import PointCloudDataset, item
from i2pmae.data.synth import BUILDERS, CLASSES, resolve_classes, sample_shape
from i2pmae.data.synth_corpus import EXTRA_BUILDERS

FRESH_TAG = 0xF5E5  # the pre-training stream of format procedural
UNSEEN_TAG = 0x05EE  # the unseen-family transfer test
UNSEEN_FAMILIES: list[str] = list(EXTRA_BUILDERS)
FIXED_EPOCH = {"test": 2**31, "val": 2**31 + 1}  # evaluation splits: one pinned draw each, never a training epoch
OTHER_SPLIT_EPOCH = 2**31 + 2


def stream_entropy(tag: int, seed: int, epoch: int, index: int) -> list[int]:
    """The ``numpy.random.default_rng`` entropy of one procedural shape: its stream's tag first."""
    return [int(tag), int(seed), int(epoch), int(index)]


def resolve_unseen_families(classes: Sequence[str] | str | int | None) -> list[str]:
    """All 13 unseen families (None), the first K (int or digits), or named ones (list or comma-separated)."""
    return resolve_classes(classes, UNSEEN_FAMILIES, "unseen families",
                           lambda unknown: " (the 15 pre-training classes are not unseen)" if unknown & set(CLASSES) else "")


class ProceduralShapes(PointCloudDataset):
    """``data.*.format: procedural``: ``size`` procedural shapes per epoch, classes in turn (label = i mod K).

    The ``train`` split is drawn anew every epoch (the loop's ``set_epoch``; the epoch lives in shared memory
    so persistent workers see it too); ``test`` and ``val`` are one fixed draw each (``test_size`` shapes,
    default ``size``) from epochs no training run reaches, so an evaluation split never changes and never
    repeats a training shape. ``classes``: the built-in class names, a count K (the first K) or all 15 when
    omitted. ``unseen: true`` draws the 13 unseen families instead (``classes`` then picks among them) from
    the unseen stream. Nothing is read or written (``root`` is ignored).
    """

    format = "procedural"

    def __init__(self, root: object = None, split: str = "train", npoints: int = 1024, size: int = 1200,
                 seed: int = 0, classes: Sequence[str] | str | int | None = None, unseen: bool = False,
                 test_size: int | None = None) -> None:
        if int(npoints) < 1 or int(size) < 1 or (test_size is not None and int(test_size) < 1):
            raise ValueError(f"procedural: npoints, size and test_size must be >= 1, got {npoints}, {size} and "
                             f"{test_size}")
        if int(seed) < 0:
            raise ValueError(f"procedural: seed must be >= 0, got {seed}")
        super().__init__(str(split), int(seed))
        self.unseen = bool(unseen)
        if self.unseen:
            self.classes = resolve_unseen_families(classes)
            self.builders: Mapping[str, Callable] = EXTRA_BUILDERS
            self.tag, self.prefix = UNSEEN_TAG, "unseen"
        else:
            self.classes = resolve_classes(classes)
            self.builders, self.tag, self.prefix = BUILDERS, FRESH_TAG, "fresh"
        self.npoints = int(npoints)
        self.fresh_every_epoch = self.split == "train"
        n = int(size) if self.fresh_every_epoch or test_size is None else int(test_size)
        self._set_items(n, np.arange(n) % len(self.classes))
        if not self.fresh_every_epoch:
            self._epoch.fill_(FIXED_EPOCH.get(self.split, OTHER_SPLIT_EPOCH))

    @property
    def names(self) -> list[str]:
        return self.classes

    def set_epoch(self, epoch: int) -> None:
        """A new draw for the train split; an evaluation split keeps its one draw."""
        if self.fresh_every_epoch:
            super().set_epoch(epoch)

    def take_fraction(self, fraction: float, seed: int = 0) -> None:
        raise ValueError("format procedural has no fixed set to take a fraction of; set its size instead")

    def _get(self, j: int) -> dict[str, Any]:
        label = int(self._labels[j])
        rng = np.random.default_rng(stream_entropy(self.tag, self.seed, self.epoch, j))
        pts = sample_shape(self.classes[label], rng, self.npoints, builders=self.builders)
        pts = pts - pts.mean(axis=0)
        pts /= np.sqrt((pts ** 2).sum(axis=1).max())
        return item(pts, self._name(j), label)

    def _name(self, j: int) -> str:
        return f"{self.prefix}{self.epoch}-{j}"


def write_unseen_families(out: str | Path, per_class: int = 80, test_per_class: int = 30, seed: int = 0,
                          npoints: int = 1024, classes: Sequence[str] | str | int | None = None) -> dict:
    """Write the unseen-family split under ``out`` in the ModelNet40-HDF5 layout (``ply_data_train0.h5``,
    ``ply_data_test0.h5``, ``shape_names.txt``, ``unseen.json``): exactly the shapes of ``{format: procedural,
    unseen: true, size: per_class*K, test_size: test_per_class*K, seed, npoints}``, so either way of reading
    it gives the same benchmark."""
    import h5py

    if per_class < 1 or test_per_class < 1 or npoints < 1:
        raise ValueError(f"per_class, test_per_class and npoints must be >= 1, got {per_class}, {test_per_class} "
                         f"and {npoints}")
    k = len(resolve_unseen_families(classes))
    cfg = {"format": "procedural", "unseen": True, "size": per_class * k, "test_size": test_per_class * k,
           "seed": int(seed), "npoints": int(npoints)}
    if classes is not None:
        cfg["classes"] = classes
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split in ("train", "test"):
        ds = ProceduralShapes(None, split, **{key: v for key, v in cfg.items() if key != "format"})
        points = np.stack([ds[i]["points"].numpy() for i in range(len(ds))])
        with h5py.File(out / f"ply_data_{split}0.h5", "w") as f:
            f.create_dataset("data", data=points.astype(np.float32))
            f.create_dataset("label", data=ds.labels().reshape(-1, 1).astype(np.uint8))
        counts[split] = len(ds)
        classes_out = ds.classes
    (out / "shape_names.txt").write_text("\n".join(classes_out) + "\n")
    summary = {"families": classes_out, "train": counts["train"], "test": counts["test"], "seed": int(seed),
               "npoints": int(npoints), "same_as": cfg, "modelnet40_h5_root": str(out)}
    (out / "unseen.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
