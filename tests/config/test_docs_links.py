"""The README and docs/ link only to what the project contains, and the code cites only
documents that exist."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
GUIDES = ["docs/api.md", "docs/operations.md", "docs/user-guide.md", "docs/architecture.md"]

_FENCE = re.compile(r"^(```|~~~).*?^\1", flags=re.S | re.M)
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", flags=re.M)
_SKIPPED_DIRS = {".venv", ".git", "var", "test-artifacts", "node_modules", "__pycache__"}


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(document: Path) -> set[str]:
    return {_slug(h) for h in _HEADING.findall(_FENCE.sub("", document.read_text()))}


def _relative_links(document: Path) -> list[str]:
    text = _FENCE.sub("", document.read_text())
    return [
        target
        for target in _LINK.findall(text)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto:
    ]


def test_docs_relative_links_point_to_existing_files_and_headings():
    broken = []
    for document in DOCUMENTS:
        for target in _relative_links(document):
            path, _, anchor = target.partition("#")
            resolved = (document.parent / path).resolve() if path else document
            if not resolved.exists() or ROOT not in (resolved, *resolved.parents):
                broken.append(f"{document.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
                broken.append(f"{document.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_readme_links_every_guide_in_docs():
    linked = {
        str((ROOT / target.partition("#")[0]).resolve().relative_to(ROOT))
        for target in _relative_links(ROOT / "README.md")
    }
    assert [guide for guide in GUIDES if guide not in linked] == []
    assert len((ROOT / "README.md").read_text().splitlines()) < 150


def test_code_cites_only_documents_the_project_contains():
    missing = []
    for source in ROOT.rglob("*.py"):
        if _SKIPPED_DIRS & set(source.relative_to(ROOT).parts):
            continue
        for cited in re.findall(r"(?<![\w/.-])([\w./-]*[A-Za-z]\.md)\b", source.read_text()):
            if not (ROOT / cited).exists() and not (ROOT / "docs" / cited).exists():
                missing.append(f"{source.relative_to(ROOT)}: {cited}")
    assert not missing, "\n".join(missing)
