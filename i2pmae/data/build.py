"""``build_dataset(cfg, split)``: one entry point for every format."""

from __future__ import annotations

import inspect
import logging

from torch.utils.data import Dataset

from i2pmae.data.locations import resolve_data_path
from i2pmae.data.registry import ALIASES, FORMATS, canonical_format, dataset_class, reads_files

__all__ = ["ALIASES", "FORMATS", "GENERIC", "build_dataset", "canonical_format", "dataset_class"]

log = logging.getLogger("i2pmae")

# keys build_dataset itself consumes (not passed to the dataset class)
GENERIC = {"format", "root", "fraction", "name"}


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
    if "root" not in cfg and reads_files(cfg["format"]):  # data made on the fly have no root to read
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
