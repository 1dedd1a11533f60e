"""Where data and caches live, and early checks of configured paths.

The locations themselves (the user cache directory, ``$I2PMAE_CACHE`` in config paths, dataset cache
folders) are in :mod:`i2pmae.data.locations`, which the readers use; this module re-exports them and adds
the checks of a config's dataset paths, which look formats up in :mod:`i2pmae.data.registry`. Imports go
one way: readers -> registry -> build / paths.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

from i2pmae.data.locations import (CACHE_ENV, builtin_data_root, dataset_cache_dir, resolve_data_path,
                                   user_cache_dir)
from i2pmae.data.registry import canonical_format, locate

__all__ = ["CACHE_ENV", "IMAGE_SUFFIXES", "builtin_data_root", "check_data_paths", "check_output_path",
           "dataset_cache_dir", "locate_dataset", "resolve_data_path", "user_cache_dir"]

IMAGE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


def check_output_path(path: str | os.PathLike, what: str = "--out", suffixes: tuple[str, ...] | None = None) -> Path:
    """``path`` as a Path once its folder exists (created if needed) and is writable (and its suffix is one of
    ``suffixes``); an error naming ``what`` otherwise. Called before any work so a long job never fails at
    its very end."""
    from i2pmae.io_errors import ensure_writable_dir

    out = Path(path).expanduser()
    if out.is_dir():
        raise ValueError(f"{what} {out}: is a folder; give a file name")
    if suffixes is not None and out.suffix.lower() not in suffixes:
        raise ValueError(f"{what} {out}: unsupported file type {out.suffix or '(none)'!r}; use {', '.join(suffixes)}")
    ensure_writable_dir(out.parent, what)  # one-line OutputError (a RuntimeError) when not writable
    if out.exists() and not os.access(out, os.W_OK):
        raise ValueError(f"{what} {out}: the file exists and is not writable")
    return out


# --------------------------------------------------------------------------- configured data paths


def _dataset_entries(cfg: dict) -> Iterable[tuple[str, dict]]:
    """(config key, dataset dict) of every dataset section under ``data``."""
    data = cfg.get("data") or {}
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        if isinstance(value, dict) and "root" in value and "format" in value:
            yield f"data.{key}", value


def locate_dataset(ds_cfg: dict[str, Any]) -> Path:
    """The folder/file a dataset config points at, found the way the reader finds it (cheap: no file is
    read); FileNotFoundError with the expected layout when absent."""
    return locate(ds_cfg["format"], resolve_data_path(ds_cfg["root"]), ds_cfg)


_SYNTH_FOLDERS = {"shapenet55": "ShapeNet55-34", "modelnet40_h5": "modelnet40_ply_hdf5_2048"}


def _synth_hint(ds_cfg: dict) -> str:
    """For the two layouts `i2pmae data synth` writes: the command that makes procedural shapes there."""
    try:
        sub = _SYNTH_FOLDERS.get(canonical_format(ds_cfg["format"]))
    except ValueError:
        return ""
    if sub is None:
        return ""
    root = resolve_data_path(ds_cfg["root"])
    out = root.parent if root.name == sub else root
    return f"; or make procedural stand-in shapes there with `i2pmae data synth --out {out}`"


def check_data_paths(cfg: dict, optional: Iterable[str] = ("svm",), keys: Iterable[str] | None = None) -> None:
    """Check that every dataset configured under ``data`` (or only those named in ``keys``, e.g. ``("svm",)``)
    is where the config says, before any work.

    Errors name the config key (``data.svm.root``), the path (and the working directory for a relative
    one); keys in ``optional`` (the pre-training SVM monitor) also say how to switch them off.
    """
    optional = set(optional)
    wanted = None if keys is None else {f"data.{k}" for k in keys}
    for key, ds_cfg in _dataset_entries(cfg):
        if ds_cfg.get("format") is None or ds_cfg.get("root") is None or (wanted is not None and key not in wanted):
            continue
        raw = str(ds_cfg["root"])
        try:
            locate_dataset(ds_cfg)
        except FileNotFoundError as exc:
            where = raw if Path(raw).is_absolute() or raw.startswith(("~", "$")) else \
                f"{raw} (relative to the working directory {Path.cwd()})"
            fmt = str(ds_cfg["format"])
            off = (f"; it is optional: switch it off with {key}=null, or point {key}.root at your data"
                   if key.split(".", 1)[1] in optional else f"; point {key}.root at your data")
            raise FileNotFoundError(f"{key}.root = {where}: no {fmt} data there{off} "
                                    f"(`i2pmae data layout {fmt}` shows the expected tree){_synth_hint(ds_cfg)}"
                                    f"\n{exc}") from None
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
