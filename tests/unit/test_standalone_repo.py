"""A clone stands alone: nothing in the repository reads the team's shared folder next
to the checkout (a person who clones the repository has none)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The folder's relative path written out, or a path built from the repo's parent and
# its name. Spelled in parts so that this file does not match itself.
SHARED = "sha" + "red"
OUTSIDE = re.compile(rf"\.\./{SHARED}\b|parent\s*/\s*[\"']{SHARED}[\"']")


def test_no_file_reads_outside_the_repository() -> None:
    offenders = []
    for folder in ("console", "adapters", "chaos", "tests", "bench", "runbooks", "docs"):
        for path in (REPO / folder).rglob("*"):
            if path.suffix not in {".py", ".md", ".yaml", ".yml", ".toml"}:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if OUTSIDE.search(line):
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    for name in ("Makefile", "README.md", "pyproject.toml", ".ci/run"):
        text = (REPO / name).read_text(encoding="utf-8")
        offenders += [f"{name}: {line}" for line in text.splitlines() if OUTSIDE.search(line)]
    assert offenders == []


def test_every_fixture_folder_says_where_its_payloads_came_from() -> None:
    folders = {p.parent for p in (REPO / "tests" / "fixtures").rglob("*.json")}
    assert folders, "tests/fixtures holds the official payloads"
    assert sorted(str(f.relative_to(REPO)) for f in folders if not (f / "SOURCE.md").exists()) == []
