"""A user's clone has no ../shared beside it: nothing shipped may read it."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_nothing_reads_the_shared_folder():
    offenders = []
    roots = [REPO / d for d in ("i2pmae", "tests", "benchmarks", "configs", ".ci")] + [REPO / "Makefile"]
    for root in roots:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for f in files:
            if f.suffix not in {".py", ".yaml", ".sh", ".toml", ".cfg", ""} or f == Path(__file__):
                continue
            text = f.read_text(errors="ignore")
            if "../shared" in text or "shared/reference" in text or "shared/SPEC" in text:
                offenders.append(str(f.relative_to(REPO)))
    assert offenders == []


def test_reference_state_dicts_are_committed():
    ref = REPO / "tests/models/reference/official_state_dicts.json"
    assert ref.is_file() and ref.stat().st_size > 10_000
