"""``build_dataset(cfg, split)``: one entry point for every format."""

from __future__ import annotations

import inspect
import logging
from typing import Any, Callable

from torch.utils.data import Dataset

from i2pmae.data.paths import resolve_data_path

log = logging.getLogger("i2pmae")

FORMATS = ("shapenet55", "modelnet40", "modelnet40_h5", "modelnet40_fewshot", "scanobjectnn", "shapenetpart",
           "folder", "procedural")
ALIASES = {"shapenet": "shapenet55", "shapenet-55": "shapenet55", "modelnet": "modelnet40",
           "modelnet40_svm": "modelnet40_h5", "modelnet40-h5": "modelnet40_h5", "fewshot": "modelnet40_fewshot",
           "modelnet40-fewshot": "modelnet40_fewshot", "scan": "scanobjectnn", "shapenet_part": "shapenetpart",
           "shapenet-part": "shapenetpart", "own": "folder"}
# keys build_dataset itself consumes (not passed to the dataset class)
GENERIC = {"format", "root", "fraction", "name"}


def dataset_class(fmt: str) -> Callable[..., Dataset]:
    fmt = canonical_format(fmt)
    if fmt == "shapenet55":
        from i2pmae.data.shapenet import ShapeNet55 as cls
    elif fmt == "modelnet40":
        from i2pmae.data.modelnet import ModelNet40 as cls
    elif fmt == "modelnet40_h5":
        from i2pmae.data.modelnet import ModelNet40H5 as cls
    elif fmt == "modelnet40_fewshot":
        from i2pmae.data.modelnet import ModelNet40FewShot as cls
    elif fmt == "scanobjectnn":
        from i2pmae.data.scanobjectnn import ScanObjectNN as cls
    elif fmt == "shapenetpart":
        from i2pmae.data.shapenetpart import ShapeNetPart as cls
    elif fmt == "procedural":
        from i2pmae.data.synth import ProceduralShapes as cls
    else:
        from i2pmae.data.folder import PointFolder as cls
    return cls


def canonical_format(fmt: Any) -> str:
    key = str(fmt).strip().lower()
    key = ALIASES.get(key, key)
    if key not in FORMATS:
        raise ValueError(f"unknown data format {fmt!r}; choose from {', '.join(FORMATS)}")
    return key


def build_dataset(cfg: dict, split: str, key: str = "data.dataset") -> Dataset:
    """A dataset of ``cfg['format']`` at ``cfg['root']`` for ``split``.

    Other keys are the format's options (``npoints``, ``variant``, ``way``/
    ``shot``/``fold``, ``on_bad_file``, ``seed``, ``cache_dir``...);
    ``fraction`` keeps a seeded random subset of the split (logged, naming
    ``key``.fraction). ``root`` may start with ``$I2PMAE_CACHE``. Unknown keys are
    an error, so a typo in a config does not go unnoticed.
    """
    if not isinstance(cfg, dict) or "format" not in cfg:
        raise ValueError(f"a dataset config needs 'format' and 'root', got {cfg!r}")
    cls = dataset_class(cfg["format"])
    generated = canonical_format(cfg["format"]) == "procedural"  # made on the fly: no root to read
    if "root" not in cfg and not generated:
        raise ValueError(f"a dataset config needs 'format' and 'root', got {cfg!r}")
    params = inspect.signature(cls.__init__).parameters
    opts = {k: v for k, v in cfg.items() if k not in GENERIC and v is not None}
    unknown = sorted(set(opts) - set(params))
    if unknown:
        allowed = sorted(k for k in params if k not in ("self", "root", "split"))
        raise ValueError(f"unknown option(s) {unknown} for format {canonical_format(cfg['format'])!r}; "
                         f"allowed: {allowed + ['fraction']}")
    root = resolve_data_path(cfg["root"]) if cfg.get("root") is not None else None
    ds = cls(root, split=split, **opts)
    if cfg.get("fraction") is not None:
        total = len(ds)
        ds.take_fraction(float(cfg["fraction"]), int(cfg.get("seed", 0)))
        if len(ds) < total:
            log.info("%s/%s: using %g%% of %d shapes: %d (%s.fraction=%s; set it to 1 to use all)",
                        canonical_format(cfg["format"]), split, 100 * float(cfg["fraction"]), total, len(ds),
                        key, cfg["fraction"])
    return ds
