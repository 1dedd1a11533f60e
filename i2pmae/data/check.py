"""``i2pmae data check``: read every item of a dataset once, before a long run.

Prints the counts per split and class and every bad file (or container row);
``bad`` is non-empty exactly when the command should fail.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from i2pmae.data.build import build_dataset, canonical_format

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
        for s in self.splits:
            if s.error is not None:
                out.append(f"  {s.split}: ERROR {s.error}")
                continue
            out.append(f"  {s.split}: {s.count} item(s), {len(s.bad)} bad")
            for name, n in s.per_class.items():
                out.append(f"    {name}: {n}")
        if self.bad:
            out.append(f"bad files ({len(self.bad)}):")
            out += [f"  {where}: {problem}" for where, problem in self.bad]
        out.append("OK" if self.ok else "FAILED")
        return out


def _folder_splits(cfg: dict) -> list[str]:
    from pathlib import Path

    root = Path(cfg["root"]).expanduser()
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
            failing = ds.validate_all()
            labels = ds.labels()
            per_class: dict[str, int] = {}
            if labels is not None:
                counts = Counter(int(x) for x in labels)
                names = list(getattr(ds, "classes", []) or [])
                for k in sorted(counts):
                    per_class[names[k] if 0 <= k < len(names) else str(k)] = counts[k]
            reports.append(SplitReport(split, len(ds) - len(failing), per_class, list(ds.policy.bad) + failing))
    finally:
        quiet.setLevel(level)
    return CheckReport(fmt, str(cfg["root"]), reports)
