"""Every document the code cites is in the repository, with the cited section.

Code, configs, tests and benchmarks cite the project's documents as ``docs/<name>.md §N`` (or ``§N.M``,
ranges ``§4-5``, lists ``§1.2, §3``). A user's clone must be able to follow each one, so a missing file,
a section with no heading of that number, or a citation of a document that is not in the repository
(the bare ``DATA.md`` / ``SPEC.md`` of our internal notes) fails here.
"""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NUM = r"\d+(?:\.\d+)?"
CITATION = re.compile(rf"docs/([\w.-]+?\.md)((?:(?:,|, | / | and | )§{NUM}(?:-{NUM})?)*)")
SECTION = re.compile(rf"§({NUM})(?:-({NUM}))?")
BARE = re.compile(r"(?<![\w/])(?:DATA|SPEC)\.md|(?<![\w/])SPEC(?= (?:section|\d))")
SUFFIXES = {".py", ".yaml", ".yml", ".sh", ".md", ".toml"}


def headings(doc: Path) -> set[str]:
    """Section numbers of a markdown file's headings: '## 3. Foo' -> '3', '### 1.2 Bar' -> '1.2'."""
    found = set()
    for line in doc.read_text().splitlines():
        m = re.match(rf"#+\s+({NUM})\.?\s", line)
        if m:
            found.add(m.group(1))
    return found


def citation_problems(repo: Path, roots: list[str]) -> list[str]:
    """One line per broken citation under ``roots`` (files or folders relative to ``repo``)."""
    problems = []
    files = []
    for r in roots:
        p = repo / r
        files += [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in SUFFIXES)
    for f in files:
        if f.resolve() == Path(__file__).resolve():
            continue
        for n, line in enumerate(f.read_text(errors="ignore").splitlines(), 1):
            where = f"{f.relative_to(repo)}:{n}"
            if BARE.search(line):
                problems.append(f"{where}: cites a document that is not in the repository: {line.strip()}")
            for m in CITATION.finditer(line):
                doc = repo / "docs" / m.group(1)
                if not doc.is_file():
                    problems.append(f"{where}: docs/{m.group(1)} does not exist")
                    continue
                have = headings(doc)
                for s in SECTION.finditer(m.group(2)):
                    for number in filter(None, s.groups()):
                        if number not in have:
                            problems.append(f"{where}: docs/{m.group(1)} has no section §{number}")
    return problems


def test_checker_finds_each_kind_of_broken_citation(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "method.md").write_text("# Title\n## 1. Tokens\n### 1.2 Merging\n## 2. Views\n")
    src = tmp_path / "pkg"
    src.mkdir()
    (src / "good.py").write_text('"""Tokens (docs/method.md §1, §1.2) and views (docs/method.md §1-2)."""\n')
    (src / "bad.py").write_text(
        "# docs/method.md §3\n"           # no such section
        "# docs/other.md §1\n"            # no such file
        "# see DATA.md 2 and SPEC 4\n"    # bare internal notes, two on one line count once
        "# docs/method.md §1.2-1.5\n"     # the range's end does not exist
    )
    problems = citation_problems(tmp_path, ["pkg"])
    assert not any("good.py" in p for p in problems)
    assert [p.split(":")[1] for p in problems] == ["1", "2", "3", "4"]
    assert "no section §3" in problems[0] and "does not exist" in problems[1]
    assert "not in the repository" in problems[2] and "no section §1.5" in problems[3]


def test_every_citation_in_the_repository_resolves():
    roots = ["i2pmae", "tests", "benchmarks", "docs", "README.md"]
    cited = sum(len(CITATION.findall(f.read_text(errors="ignore")))
                for r in ("i2pmae", "tests", "benchmarks") for f in (REPO / r).rglob("*.py"))
    assert cited >= 40  # the package cites its documents; a checker that matches nothing proves nothing
    assert citation_problems(REPO, roots) == []


def test_the_method_document_states_the_deviations_from_the_authors_code():
    text = (REPO / "docs" / "method.md").read_text()
    assert "token 0" in text and "1e-3" in text and "Where we differ from the authors' code" in text
