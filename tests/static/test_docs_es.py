"""docs/es/ is the workshop in Spanish, with exactly the commands of its English twin.

The English set: each Spanish page has one English twin in docs/ (TWINS), written for it
(docs/workshop.md follows the workshop's order, as docs/es/taller.md does). Compared, per twin:

- the commands: every line of the ```sh, ```bash, ```powershell and ```ini blocks, with line
  continuations joined and shell comments dropped (comments are prose, and translated); same set
  and same order of first appearance;
- the quoted messages: every line of the ```text blocks, which quote what programs print (in
  English, as a student sees them), so they are not translated either.
```output blocks hold this project's own translated output (make doctor's), and are not compared;
a block with any other label, or none, fails, so no command can hide from the comparison.
docs/es/README.md, the index, may only use commands of the workshop.

The commands must also name real things: make targets and the variables they read, compose files,
Python modules, make run's flags, doctor's paths; and the workshop's per-file `up` commands and
API calls are the ones docs/docker.md gives."""

import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from taller_mlflow.local.servers import ROOT

TWINS = {"docs/es/taller.md": "docs/workshop.md", "docs/es/problemas.md": "docs/troubleshooting.md"}
INDEX = "docs/es/README.md"
COMMAND_LANGS = {"sh", "bash", "shell", "powershell", "ini"}
QUOTE_LANGS = {"text"}
LOCAL_LANGS = {"output"}
FENCE = re.compile(r"^\s{0,3}(```|~~~)\s*([\w+-]*)")


def fences(path: Path) -> list[tuple[str, list[str]]]:
    """(language, lines) of every fenced block."""
    blocks, current, lang, marker = [], None, "", ""
    for line in path.read_text().splitlines():
        match = FENCE.match(line)
        if current is None and match:
            current, lang, marker = [], match[2].lower(), match[1]
        elif current is not None and line.strip() == marker:
            blocks.append((lang, current))
            current = None
        elif current is not None:
            current.append(line)
    assert current is None, f"{path}: unclosed code block"
    return blocks


def normalize(line: str, lang: str) -> str:
    if lang == "ini":
        return line.strip()
    return shlex.join(shlex.split(line, comments=True))


def commands(path: Path) -> list[str]:
    found = []
    for lang, lines in fences(path):
        if lang not in COMMAND_LANGS:
            continue
        joined = "\n".join(lines).replace("\\\n", " ")
        for line in joined.splitlines():
            command = normalize(line, lang)
            if command and command not in found:
                found.append(command)
    return found


def quotes(path: Path) -> set[str]:
    return {
        line.strip()
        for lang, lines in fences(path)
        if lang in QUOTE_LANGS
        for line in lines
        if line.strip()
    }


def pages() -> list[str]:
    return sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs" / "es").glob("*.md"))


def test_every_spanish_page_has_its_english_twin():
    assert pages(), "docs/es/ is empty"
    assert set(pages()) == {*TWINS, INDEX}, "add the new page and its English twin to TWINS"
    for twin in TWINS.values():
        assert (ROOT / twin).is_file(), twin


@pytest.mark.parametrize("page", [*TWINS, *TWINS.values(), INDEX])
def test_every_block_is_labelled_commands_quotes_or_output(page):
    langs = {lang for lang, _ in fences(ROOT / page)}
    unknown = langs - COMMAND_LANGS - QUOTE_LANGS - LOCAL_LANGS
    assert not unknown, f"{page}: code blocks labelled {unknown or 'nothing'}"


@pytest.mark.parametrize("spanish, english", TWINS.items())
def test_the_spanish_page_runs_exactly_the_english_commands(spanish, english):
    es, en = commands(ROOT / spanish), commands(ROOT / english)
    assert en, f"{english} has no commands"
    only_es = [c for c in es if c not in en]
    only_en = [c for c in en if c not in es]
    assert not only_es and not only_en, (
        f"only in {spanish}: {only_es}\nonly in {english}: {only_en}"
    )
    assert es == en, f"same commands, another order:\n{spanish}: {es}\n{english}: {en}"


@pytest.mark.parametrize("spanish, english", TWINS.items())
def test_the_spanish_page_quotes_the_same_messages(spanish, english):
    assert quotes(ROOT / spanish) == quotes(ROOT / english)


def test_the_index_uses_the_workshops_commands():
    index = commands(ROOT / INDEX)
    assert index and set(index) <= set(commands(ROOT / "docs/workshop.md"))


# --- the commands name real things ------------------------------------------------------------


def make_text() -> str:
    return (ROOT / "Makefile").read_text() + (ROOT / "docker.mk").read_text()


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-zA-Z][\w-]*):", make_text(), re.MULTILINE))


def english_commands() -> list[str]:
    return [c for twin in TWINS.values() for c in commands(ROOT / twin)]


def test_make_targets_and_their_variables_exist():
    targets, text = make_targets(), make_text()
    checked = 0
    for command in english_commands():
        words = shlex.split(command)
        if "make" not in words:
            continue
        for word in words[words.index("make") + 1 :]:
            if "=" in word:
                var = word.split("=", 1)[0]
                assert f"$({var})" in text or f"{var} ?=" in text, f"{command}: make reads no {var}"
            else:
                assert word in targets, f"{command}: no make target {word}"
                checked += 1
    assert checked >= 8


def test_files_modules_and_flags_the_commands_name_exist():
    embedded = (ROOT / "taller_mlflow/local/embedded.py").read_text()
    from taller_mlflow.local import doctor

    for command in english_commands():
        words = shlex.split(command)
        for flag, value in zip(words, words[1:], strict=False):
            if flag in ("-f", "-c") and not value.startswith("-"):
                assert (ROOT / value).is_file(), f"{command}: no file {value}"
            if flag == "-m" and words[0].startswith("python"):
                assert importlib.util.find_spec(value), f"{command}: no module {value}"
        if words[:2] in (["sudo", "cp"], ["cp"]):
            source = words[2] if words[0] == "sudo" else words[1]
            assert (ROOT / source).exists(), f"{command}: no file {source}"
        for word in words:
            if word.startswith("RUN_ARGS="):
                for flag in shlex.split(word.split("=", 1)[1])[::2]:
                    assert f'"{flag}"' in embedded, f"{command}: make run takes no {flag}"
            if word.startswith("FOR="):
                assert word[4:] in (*doctor.PATHS, "all"), command


def test_the_workshops_per_file_and_api_commands_are_docker_mds():
    docker_md = commands(ROOT / "docs/docker.md")
    for command in commands(ROOT / "docs/workshop.md"):
        words = shlex.split(command)
        per_file_up = words[:3] == ["docker", "compose", "-f"] and "up" in words
        if per_file_up or command.startswith("curl -s localhost:8989"):
            assert command in docker_md, f"docs/docker.md does not say: {command}"
