"""Datasets, augmentations and loaders (docs/data.md §1 and §2).

``build_dataset(cfg, split)`` opens any supported format; every item is a dict
with ``points`` (N, 3) float32, ``label`` int64 (classification), ``category``
and ``seg`` (part segmentation) and ``name``.
"""

from i2pmae.data.build import FORMATS, build_dataset
from i2pmae.data.errors import BadFileError
from i2pmae.data.loader import build_loader, set_loader_epoch

__all__ = ["FORMATS", "BadFileError", "build_dataset", "build_loader", "set_loader_epoch"]
