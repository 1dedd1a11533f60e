"""Where data and caches live, and early checks of configured paths.

Built-in (procedural) data and every dataset cache go under one user cache
directory, never into the working directory or a user's dataset folder, so a
read-only dataset works and running a command inside a data folder writes
nothing there. The directory is ``$I2PMAE_CACHE``, else ``$XDG_CACHE_HOME/i2pmae``,
else ``~/.cache/i2pmae``. A config path may start with ``$I2PMAE_CACHE`` to point
into it (the quickstart's ``$I2PMAE_CACHE/procedural``).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any, Iterable

CACHE_ENV = "I2PMAE_CACHE"
_CACHE_PREFIX = re.compile(r"^\$(\{I2PMAE_CACHE\}|I2PMAE_CACHE)(?=/|\\|$)")


def user_cache_dir() -> Path:
    """``$I2PMAE_CACHE``, else ``$XDG_CACHE_HOME/i2pmae``, else ``~/.cache/i2pmae`` (not created here)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "i2pmae"


def builtin_data_root() -> Path:
    """Where the built-in procedural shapes are generated: ``<user cache>/procedural``."""
    return user_cache_dir() / "procedural"


def resolve_data_path(path: str | os.PathLike) -> Path:
    """A configured data path as a Path: a leading ``$I2PMAE_CACHE`` means :func:`user_cache_dir` (set or
    not), other ``$VARS`` and ``~`` are expanded; relative paths stay relative to the working directory."""
    text = os.fspath(path)
    text = _CACHE_PREFIX.sub(lambda _: str(user_cache_dir()), text, count=1)
    return Path(os.path.expandvars(text)).expanduser()


def dataset_cache_dir(data_folder: str | os.PathLike, name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """The folder for caches built from ``data_folder``: ``cache_dir`` when configured, else
    ``<user cache>/datasets/<name>/<hash of the folder's absolute path>``; created, never inside the data."""
    if cache_dir:
        out = resolve_data_path(cache_dir)
    else:
        tag = hashlib.sha1(str(Path(data_folder).expanduser().resolve()).encode()).hexdigest()[:12]
        out = user_cache_dir() / "datasets" / name / tag
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RuntimeError(f"cannot create the data cache folder {out} ({exc.strerror or exc}); set "
                           f"{CACHE_ENV} to a writable folder or data.*.cache_dir") from None
    return out


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
    from i2pmae.data.build import canonical_format
    from i2pmae.data.layouts import missing_root_error

    fmt = canonical_format(ds_cfg["format"])
    root = resolve_data_path(ds_cfg["root"])
    if fmt == "shapenet55":
        from i2pmae.data.shapenet import resolve_shapenet55

        return resolve_shapenet55(root)
    if fmt == "modelnet40":
        from i2pmae.data.modelnet import resolve_modelnet40

        return resolve_modelnet40(root, int(ds_cfg.get("num_category") or 40))
    if fmt == "modelnet40_h5":
        from i2pmae.data.modelnet import resolve_modelnet40_h5

        return resolve_modelnet40_h5(root)
    if fmt == "modelnet40_fewshot":
        from i2pmae.data.modelnet import resolve_fewshot

        return resolve_fewshot(root, int(ds_cfg.get("way", 5)), int(ds_cfg.get("shot", 10)),
                               int(ds_cfg.get("fold", 0)))
    if fmt == "scanobjectnn":
        from i2pmae.data.scanobjectnn import canonical_variant, resolve_scanobjectnn

        return resolve_scanobjectnn(root, canonical_variant(ds_cfg.get("variant") or "obj_bg"), "train")
    if fmt == "shapenetpart":
        from i2pmae.data.shapenetpart import resolve_shapenetpart

        return resolve_shapenetpart(root)
    if not root.is_dir():
        raise missing_root_error("folder", root)
    return root


_SYNTH_FOLDERS = {"shapenet55": "ShapeNet55-34", "modelnet40_h5": "modelnet40_ply_hdf5_2048"}


def _synth_hint(ds_cfg: dict) -> str:
    """For the two layouts `i2pmae data synth` writes: the command that makes procedural shapes there."""
    from i2pmae.data.build import canonical_format

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
