"""Every data format in one table: its reader class and how to find its files.

Imports go one way: readers -> registry -> build / paths. The reader modules (shapenet, modelnet,
scanobjectnn, shapenetpart, folder, procedural) import nothing from here, from :mod:`i2pmae.data.build` or from
:mod:`i2pmae.data.paths` (only :mod:`i2pmae.data.locations` and their own helpers); this module names them
and imports one only when its format is used, so ``import i2pmae.data`` stays cheap (no h5py).
:mod:`i2pmae.data.build` (``build_dataset``) and :mod:`i2pmae.data.paths` (``check_data_paths``) look
formats up here. A new format is one entry in ``REGISTRY``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


@dataclass(frozen=True)
class Format:
    """A data format: ``reader`` is ``"module:Class"``; ``locate(root, cfg)`` returns the folder or file the
    reader would open (FileNotFoundError with the expected layout otherwise); ``reads_files`` is False for
    data made on the fly (no root)."""

    reader: str
    locate: Callable[[Path, dict], Path] | None = None
    reads_files: bool = True


def _reader_function(target: str) -> Callable[..., Any]:
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def _locate_shapenet55(root: Path, cfg: dict) -> Path:
    return _reader_function("i2pmae.data.shapenet:resolve_shapenet55")(root)


def _locate_modelnet40(root: Path, cfg: dict) -> Path:
    return _reader_function("i2pmae.data.modelnet:resolve_modelnet40")(root, int(cfg.get("num_category") or 40))


def _locate_modelnet40_h5(root: Path, cfg: dict) -> Path:
    return _reader_function("i2pmae.data.modelnet:resolve_modelnet40_h5")(root)


def _locate_fewshot(root: Path, cfg: dict) -> Path:
    return _reader_function("i2pmae.data.modelnet:resolve_fewshot")(
        root, int(cfg.get("way", 5)), int(cfg.get("shot", 10)), int(cfg.get("fold", 0)))


def _locate_scanobjectnn(root: Path, cfg: dict) -> Path:
    variant = _reader_function("i2pmae.data.scanobjectnn:canonical_variant")(cfg.get("variant") or "obj_bg")
    return _reader_function("i2pmae.data.scanobjectnn:resolve_scanobjectnn")(root, variant, "train")


def _locate_shapenetpart(root: Path, cfg: dict) -> Path:
    return _reader_function("i2pmae.data.shapenetpart:resolve_shapenetpart")(root)


def _locate_folder(root: Path, cfg: dict) -> Path:
    if not root.is_dir():
        from i2pmae.data.layouts import missing_root_error

        raise missing_root_error("folder", root)
    return root


REGISTRY: dict[str, Format] = {
    "shapenet55": Format("i2pmae.data.shapenet:ShapeNet55", _locate_shapenet55),
    "modelnet40": Format("i2pmae.data.modelnet:ModelNet40", _locate_modelnet40),
    "modelnet40_h5": Format("i2pmae.data.modelnet:ModelNet40H5", _locate_modelnet40_h5),
    "modelnet40_fewshot": Format("i2pmae.data.modelnet:ModelNet40FewShot", _locate_fewshot),
    "scanobjectnn": Format("i2pmae.data.scanobjectnn:ScanObjectNN", _locate_scanobjectnn),
    "shapenetpart": Format("i2pmae.data.shapenetpart:ShapeNetPart", _locate_shapenetpart),
    "folder": Format("i2pmae.data.folder:PointFolder", _locate_folder),
    "procedural": Format("i2pmae.data.procedural:ProceduralShapes", None, reads_files=False),
}
FORMATS: tuple[str, ...] = tuple(REGISTRY)
ALIASES = {"shapenet": "shapenet55", "shapenet-55": "shapenet55", "modelnet": "modelnet40",
           "modelnet40_svm": "modelnet40_h5", "modelnet40-h5": "modelnet40_h5", "fewshot": "modelnet40_fewshot",
           "modelnet40-fewshot": "modelnet40_fewshot", "scan": "scanobjectnn", "shapenet_part": "shapenetpart",
           "shapenet-part": "shapenetpart", "own": "folder"}


def canonical_format(fmt: Any) -> str:
    """The format's name in ``FORMATS`` (aliases and case folded); ValueError listing the formats otherwise."""
    key = str(fmt).strip().lower()
    key = ALIASES.get(key, key)
    if key not in FORMATS:
        raise ValueError(f"unknown data format {fmt!r}; choose from {', '.join(FORMATS)}")
    return key


def dataset_class(fmt: str) -> Callable[..., Any]:
    """The reader class of ``fmt`` (its module imported now)."""
    return _reader_function(REGISTRY[canonical_format(fmt)].reader)


def reads_files(fmt: str) -> bool:
    """Whether ``fmt`` reads a dataset folder (False for data made on the fly, which need no root)."""
    return REGISTRY[canonical_format(fmt)].reads_files


def locate(fmt: str, root: Path, cfg: dict) -> Path:
    """The folder/file a ``fmt`` reader opens under ``root`` (``cfg``: the dataset's options); cheap (no
    file is read); FileNotFoundError with the expected layout when absent. A format without files returns
    ``root`` as given."""
    found = REGISTRY[canonical_format(fmt)].locate
    return root if found is None else found(Path(root), cfg)
