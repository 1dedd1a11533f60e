"""Bad-file policy: every dataset reports unusable files the same way.

A bad file (or a bad row of an HDF5/pickle container) is either fatal
(``on_bad_file: error``, the default, so a long run never starts on broken
data) or skipped (``on_bad_file: skip``): each one is logged on the
``"i2pmae"`` logger and a count is logged when the scan ends, so nothing is
dropped silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("i2pmae")

POLICIES = ("error", "skip")


class BadFileError(ValueError):
    """A data file (or one row of a container file) that cannot be used."""

    def __init__(self, path: str | Path, problem: str, index: int | None = None) -> None:
        self.path = str(path)
        self.problem = problem
        self.index = index
        super().__init__(f"{self.where}: {problem}")

    @property
    def where(self) -> str:
        """The file, plus ``[row]`` for one entry of a container file."""
        return self.path if self.index is None else f"{self.path}[{self.index}]"


@dataclass
class BadFilePolicy:
    """Raises or records bad files; ``bad`` keeps (where, problem) of every skipped one."""

    mode: str = "error"
    context: str = "dataset"
    bad: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.mode not in POLICIES:
            raise ValueError(f"on_bad_file must be one of {POLICIES}, got {self.mode!r}")

    def handle(self, err: BadFileError) -> None:
        """Raise ``err`` under 'error'; log and record it under 'skip'."""
        if self.mode == "error":
            raise err
        self.bad.append((err.where, err.problem))
        log.warning("%s: skipping bad file %s: %s", self.context, err.where, err.problem)

    def report(self, scanned: int) -> None:
        """Log how many files were skipped out of ``scanned`` (called once a scan ends)."""
        if self.bad:
            log.warning("%s: skipped %d bad file(s)/row(s) out of %d; run `i2pmae data check` for the list",
                        self.context, len(self.bad), scanned)
