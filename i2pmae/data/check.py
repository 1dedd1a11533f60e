"""``i2pmae data check``: read every item of a dataset once, before a long run.

Prints the counts per split and class and every bad file (or container row);
``bad`` is non-empty exactly when the command should fail.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from i2pmae.data.build import FORMATS, build_dataset, canonical_format
from i2pmae.data.paths import locate_dataset, resolve_data_path

SPLITS = {
    "shapenet55": ["train", "test"],
    "modelnet40": ["train", "test"],
    "modelnet40_h5": ["train", "test"],
    "modelnet40_fewshot": ["train", "test"],
    "scanobjectnn": ["train", "test"],
    "shapenetpart": ["train", "val", "test"],
    "folder": ["train", "test"],
}


@dataclass
class SplitReport:
    split: str
    count: int
    per_class: dict[str, int] = field(default_factory=dict)
    bad: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None  # the split could not be opened at all
    notes: list[str] = field(default_factory=list)  # layout warnings (ignored files...)


@dataclass
class CheckReport:
    format: str
    root: str
    splits: list[SplitReport]

    @property
    def bad(self) -> list[tuple[str, str]]:
        return [b for s in self.splits for b in s.bad]

    @property
    def ok(self) -> bool:
        return not self.bad and all(s.error is None for s in self.splits)

    def lines(self) -> list[str]:
        out = [f"{self.format} at {self.root}"]
        notes = list(dict.fromkeys(n for s in self.splits for n in s.notes))
        out += [f"warning: {n}" for n in notes]
        for s in self.splits:
            if s.error is not None:
                out.append(f"  {s.split}: ERROR {s.error}")
                continue
            out.append(f"  {s.split}: {s.count} good, {len(s.bad)} bad")
            for name, n in s.per_class.items():
                out.append(f"    {name}: {n} good")
        if self.bad:
            out.append(f"bad files ({len(self.bad)}):")
            out += [f"  {where}: {problem}" for where, problem in self.bad]
        good = sum(s.count for s in self.splits)
        out.append(f"{'OK' if self.ok else 'FAILED'}: {good} good, {len(self.bad)} bad"
                   + ("" if all(s.error is None for s in self.splits) else ", some splits could not be opened"))
        return out


def _folder_splits(cfg: dict) -> list[str]:
    root = resolve_data_path(cfg["root"])
    if (root / "train").is_dir() and (root / "test").is_dir():
        return ["train", "test"]
    return ["train", "test"] if cfg.get("val_fraction") else ["all"]


def check_dataset(cfg: dict[str, Any], splits: list[str] | None = None) -> CheckReport:
    """Open each split with ``on_bad_file: skip`` and load every item; collect counts and problems."""
    fmt = canonical_format(cfg["format"])
    if splits is None:
        splits = _folder_splits(cfg) if fmt == "folder" else SPLITS[fmt]
    reports = []
    quiet = logging.getLogger("i2pmae")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the report lists each skipped file once; no duplicate warnings
    try:
        for split in splits:
            try:
                ds = build_dataset({**cfg, "on_bad_file": "skip"}, split)
            except FileNotFoundError:
                if split == splits[0] or len(splits) == 1:
                    raise
                reports.append(SplitReport(split, 0, error="missing (see the expected layout above)"))
                continue
            except ValueError as exc:
                reports.append(SplitReport(split, 0, error=str(exc)))
                continue
            failing = ds.validate_items()
            labels = ds.labels()
            per_class: dict[str, int] = {}
            if labels is not None:  # good items only
                bad_pos = [i for i, _, _ in failing]
                counts = Counter(int(x) for x in np.delete(labels, bad_pos))
                names = list(getattr(ds, "classes", []) or [])
                for k in sorted(counts):
                    per_class[names[k] if 0 <= k < len(names) else str(k)] = counts[k]
            failing = [(where, problem) for _, where, problem in failing]
            reports.append(SplitReport(split, len(ds) - len(failing), per_class, list(ds.policy.bad) + failing,
                                       notes=list(getattr(ds, "notes", []))))
    finally:
        quiet.setLevel(level)
    return CheckReport(fmt, str(cfg["root"]), reports)


def detect_formats(root: str | Path) -> list[str]:
    """The published layouts found at ``root`` (the way their readers look), else ``['folder']`` when it
    holds mesh / point files, else []."""
    root = resolve_data_path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root {root}: " + ("not a folder" if root.exists() else "does not exist"))
    found = []
    for fmt in FORMATS:
        if fmt in ("folder", "procedural"):  # a folder is the fallback; procedural data have no files
            continue
        probes: list[dict[str, Any]] = [{}]
        if fmt == "scanobjectnn":
            probes = [{"variant": v} for v in ("obj_bg", "obj_only", "pb_t50_rs")]
        if fmt == "modelnet40_fewshot":
            probes = [{"way": int(d.name.split("way")[0]), "shot": int(d.name.split("_")[1][:-4]),
                       "fold": int(f.stem)}
                      for base in (root / "ModelNetFewshot", root) if base.is_dir()
                      for d in base.glob("*way_*shot") if d.is_dir() for f in sorted(d.glob("*.pkl"))[:1]
                      if f.stem.isdigit() and d.name.split("way")[0].isdigit()]
        for extra in probes:
            try:
                locate_dataset({"format": fmt, "root": str(root), **extra})
            except (FileNotFoundError, ValueError):
                continue
            found.append(fmt)
            break
    if not found:
        from i2pmae.data.folder import shape_files

        if shape_files(root):
            found.append("folder")
    return found


def detect_format(root: str | Path) -> str:
    """The one format of ``root``; a ValueError listing them when several or none are recognised."""
    found = detect_formats(root)
    if len(found) == 1:
        return found[0]
    if found:
        raise ValueError(f"{root} holds several dataset layouts ({', '.join(found)}); pass --format with one of them")
    raise ValueError(f"no dataset layout recognised in {root} and no mesh / point files in it; pass --format "
                     f"({', '.join(FORMATS)}) and see `i2pmae data layout FORMAT` for the expected tree")
