"""The README is the front door and docs/ the manual: the README stays short enough to read, keeps the
two commands, and every relative link or repository path the documents give leads somewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]

# [text](target) and ![alt](target); the target ends at the first space or closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
# A backticked name that reads as a path in this repository: a Python file, or anything under one of
# its top-level directories.
CODE_SPAN = re.compile(r"`([^`\s]+)`")
REPOSITORY_DIRECTORIES = ("api/", "activities/", "bench/", "docs/", "scripts/", "switchboard/", "tests/", "workflows/")


def prose_lines(document: Path) -> list[str]:
    """The document's lines outside fenced code blocks."""
    lines: list[str] = []
    fenced = False
    for line in document.read_text().splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def anchors(document: Path) -> set[str]:
    """The anchors GitHub gives the document's headings: lower case, punctuation dropped, spaces as
    hyphens, a repeated one numbered."""
    seen: dict[str, int] = {}
    for line in prose_lines(document):
        heading = HEADING.match(line)
        if heading is None:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).replace("`", "").lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        if count:
            seen[f"{slug}-{count}"] = 1
    return set(seen)


def relative_links(document: Path) -> list[str]:
    return [
        target
        for line in prose_lines(document)
        for target in LINK.findall(line)
        if not re.match(r"[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto: ...
    ]


def test_the_readme_is_short_and_keeps_the_two_commands() -> None:
    size = len(README.read_bytes())
    assert size < 15_000, f"README.md is {size} bytes; move reference material into docs/"
    text = README.read_text()
    assert "```sh\n./scripts/dev\n```" in text
    assert "```sh\n./scripts/test\n```" in text


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading(document: Path) -> None:
    broken: list[str] = []
    for target in relative_links(document):
        path, _, anchor = target.partition("#")
        linked = (document.parent / path).resolve() if path else document
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no such heading")
    assert not broken, f"{document.relative_to(ROOT)}: {broken}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_repository_path_named_exists(document: Path) -> None:
    missing = [
        name
        for line in prose_lines(document)
        for name in CODE_SPAN.findall(line)
        if (name.endswith(".py") or name.startswith(REPOSITORY_DIRECTORIES)) and not (ROOT / name).exists()
    ]
    assert not missing, f"{document.relative_to(ROOT)} names paths that do not exist: {missing}"
