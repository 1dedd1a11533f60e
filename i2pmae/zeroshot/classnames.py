"""Class names for the prompts: from the dataset's own names file, or a file given with ``--classes``.

ModelNet40 (``modelnet40_shape_names.txt``), ModelNet40-h5 (``shape_names.txt``), ScanObjectNN (its 15
fixed names) and the ``folder`` format (class folder names) carry names; ShapeNet-55's classes are WordNet
synset ids, named by a ``synsets.txt`` next to the data (lines ``02691156 airplane``, or
``02691156,airplane,aeroplane``: the first name is used) or by ``--classes``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

__all__ = ["read_class_file", "dataset_class_names", "SYNSET_FILES"]

SYNSET_FILES = ("synsets.txt", "ShapeNet-55/synsets.txt")
_SYNSET = re.compile(r"^\d{8}$")


def _lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _pair(line: str) -> tuple[str, str] | None:
    """``'02691156 airplane'`` / ``'02691156,airplane,plane'`` / ``'02691156\tairplane'`` -> (id, first name)."""
    parts = re.split(r"[,\t ]+", line, maxsplit=1)
    if len(parts) == 2 and parts[1].strip():
        return parts[0], parts[1].split(",")[0].strip()
    return None


def read_class_file(path: str | Path, dataset_classes: Sequence[str]) -> list[str]:
    """Names for ``dataset_classes`` (the dataset's label order) from ``path``: either ``ID NAME`` lines
    covering every class id (e.g. ShapeNet synsets), or one name per line in label order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"class names file not found: {path}")
    lines = _lines(path)
    pairs = [_pair(ln) for ln in lines]
    mapping = {p[0]: p[1] for p in pairs if p is not None}
    if dataset_classes and all(c in mapping for c in dataset_classes):
        return [mapping[c] for c in dataset_classes]
    if dataset_classes and len(lines) != len(dataset_classes):
        raise ValueError(f"{path}: {len(lines)} class names, but the data has {len(dataset_classes)} classes "
                         f"({', '.join(dataset_classes[:5])}{', ...' if len(dataset_classes) > 5 else ''}); give one "
                         "name per line in label order, or 'ID NAME' lines covering every class id")
    return lines


def dataset_class_names(dataset: object, root: str | Path | None = None, classes_file: str | Path | None = None
                        ) -> list[str]:
    """Prompt names of a dataset's classes (label order). Raises ValueError when only ids are known."""
    ids = list(getattr(dataset, "classes", []) or [])
    if classes_file is not None:
        return read_class_file(classes_file, ids)
    if not ids:
        raise ValueError("the data has no class names; give them with --classes names.txt (one per line, label order)")
    if all(_SYNSET.match(c) for c in ids):  # ShapeNet-55: synset ids
        folders = [Path(p) for p in (getattr(dataset, "folder", None), root) if p is not None]
        for folder in folders:
            for rel in SYNSET_FILES:
                if (folder / rel).is_file():
                    return read_class_file(folder / rel, ids)
        looked = [str(f / rel) for f in folders for rel in SYNSET_FILES]
        raise ValueError(f"the classes are ShapeNet synset ids ({ids[0]}, ...) without names: give --classes "
                         f"synsets.txt (lines '02691156 airplane') or put it at one of {looked}")
    if all(re.fullmatch(r"class_\d+", c) for c in ids):
        raise ValueError(f"the data names its classes only by index ({ids[0]}, ...): give --classes names.txt "
                         "(one name per line, label order)")
    return ids
