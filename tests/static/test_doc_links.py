"""Every relative link in README.md and docs/**/*.md resolves: the file or folder exists, and an
anchor (#section, alone or after a .md file) names a heading of that file, slugged as GitHub
does (lowercase; punctuation dropped, letters of any alphabet, digits, '-' and '_' kept; each
space to '-'; a repeated heading gets -1, -2, ...). Links inside code (fenced or `inline`) are
not links; http(s) and mailto links are left to the reader."""

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from taller_mlflow.local.servers import ROOT

FENCE = re.compile(r"^\s{0,3}(```|~~~)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target "title") and ![alt](target); the target has no spaces (or is in <...>).
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"", re.IGNORECASE)
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def prose_lines(text: str):
    """(line number, line) outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if match:
            if fence is None:
                fence = match[1]
            elif match[1] == fence:
                fence = None
            continue
        if fence is None:
            yield number, line


def heading_text(raw: str) -> str:
    """What GitHub renders of a heading: links as their text, no code ticks, no emphasis stars."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", raw)
    text = re.sub(r"<[^>]+>", "", text)
    return text.replace("`", "").replace("*", "")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    kept = "".join(c for c in heading_text(heading).lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found, seen = set(), {}
    text = path.read_text()
    for _, line in prose_lines(text):
        match = HEADING.match(line)
        if match:
            base = slug(match[2])
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    found |= set(HTML_ANCHOR.findall(text))
    return found


def links(path: Path):
    """(line number, target) of every link in the file's prose."""
    for number, line in prose_lines(path.read_text()):
        line = INLINE_CODE.sub("", line)
        targets = [m[1] for m in LINK.finditer(line)]
        ref = REFERENCE.match(line)
        if ref:
            targets.append(ref[1])
        for target in targets:
            yield number, target.strip("<>")


def problem(path: Path, target: str) -> str | None:
    if EXTERNAL.match(target):
        return None
    file_part, _, anchor = target.partition("#")
    dest = (path.parent / unquote(file_part)).resolve() if file_part else path
    if not dest.exists():
        return f"no such file: {file_part}"
    if anchor and dest.suffix == ".md" and dest.is_file() and unquote(anchor) not in anchors(dest):
        where = dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest
        return f"no heading #{anchor} in {where}"
    return None


def test_the_slugs_are_githubs():
    assert slug("Promote, shadow, roll back") == "promote-shadow-roll-back"
    assert (
        slug("MLflow on the host: `mlflow_serv.service`") == "mlflow-on-the-host-mlflow_servservice"
    )
    assert slug("File by file (the workshop's order)") == "file-by-file-the-workshops-order"
    assert slug("¿Qué hago si el puerto está ocupado?") == "qué-hago-si-el-puerto-está-ocupado"
    assert slug("One row: /predict vs `mlflow models serve`, memory") == (
        "one-row-predict-vs-mlflow-models-serve-memory"
    )
    assert slug("A — B") == "a--b"
    assert slug("See [the docs](docs/x.md)") == "see-the-docs"


def test_links_in_code_are_not_links_and_repeated_headings_are_numbered(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# Same\n\n## Same\n\nsee [it](#same-1) and `[not](#nowhere)`\n\n"
        "```sh\n[not](missing.md)\n```\n[ref]: other.md#x\n"
    )
    assert anchors(page) == {"same", "same-1"}
    assert [t for _, t in links(page)] == ["#same-1", "other.md#x"]
    assert problem(page, "#same-1") is None
    assert problem(page, "other.md#x") == "no such file: other.md"
    assert problem(page, "#nope") == f"no heading #nope in {page}"


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(path):
    broken = [
        f"{path.relative_to(ROOT)}:{number}: ({target}) {why}"
        for number, target in links(path)
        if (why := problem(path, target))
    ]
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_readme_stays_a_page_a_newcomer_finishes():
    """At most 150 lines, opening with the two commands (the rest lives in docs/)."""
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines"
    first_block = lines[: next(i for i, line in enumerate(lines) if line.startswith("make test"))]
    assert any(line.startswith("make run ") for line in first_block)
