"""`make up`'s secrets: .env made with generated passwords, and refused while it holds placeholders.

    python3 taller_mlflow/local/envfile.py          # make up (docker.mk runs it; stdlib only)
    python3 taller_mlflow/local/envfile.py --fill   # make secrets

.env.example holds no secret anyone could reuse: each password, token, key or webhook secret is a
placeholder, `CHANGE-ME-<name>`, which the stack's parts refuse (start_mlflow.sh, mlflow-init,
JupyterLab) and `make up` refuses before it touches Docker. The same placeholder may appear in
several lines (MYSQL_PASSWORD and the DATA_URL built from it): it stands for one secret.

make up:
  - no .env: it is created from .env.example, mode 0600, with every placeholder replaced by a new
    random value (one per placeholder, so the URLs agree with the passwords), and the names of
    what was generated are printed: never a value;
  - a .env that still holds a placeholder, or a password .env.example published before it held
    placeholders: one line naming the variables and the fix (`make secrets`, or a value of your
    own), exit 2;
  - a .env without a secret that a newer .env.example added: the secret is generated and appended;
  - a .env others may read: made 0600.
make secrets does the same but replaces the placeholders it finds instead of refusing them. It
never changes a value already set: a database keeps the password it was first started with.
"""

import base64
import hashlib
import os
import re
import secrets
import stat
import sys
from pathlib import Path

PLACEHOLDER = re.compile(r"CHANGE-ME-[a-z0-9-]*[a-z0-9]")
ASSIGNMENT = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$")
# sha256 of the passwords and tokens .env.example published before it held placeholders: a .env
# copied from it then is as public as the placeholders are.
PUBLISHED = {
    "f75778f7425be4db0369d09af37a6c2b9a83dea0e53e7bd57412e4b060e607f7",
    "94aefb8be78b2b7c344d11d1ba8a79ef087eceb19150881f69460b8772753263",
    "9aaea57683cdbf269f4901fe15c4637c6d8af21d5baf4a822a2074306aa769b6",
    "f78fdd723eb20110dcbeb7bba3370fa296107e3b93ac8d3e2ac12ed7e337c881",
    "8e76343b6558ce6694c3060185fbd2d0060307eac24234d5244e623f1f6d93af",
}


def generate(placeholder: str) -> str:
    """A new secret for `placeholder`: a Fernet key (32 random bytes, URL-safe base64) for
    `CHANGE-ME-...-fernet`, else 32 URL-safe characters that start with a letter or digit (so no
    command line reads it as an option) and need no quoting in a URL, YAML or a shell."""
    if placeholder.endswith("-fernet"):
        return base64.urlsafe_b64encode(os.urandom(32)).decode()
    while True:
        value = secrets.token_urlsafe(24)
        if value[0].isalnum():
            return value


def entries(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        match = ASSIGNMENT.match(line.strip())
        if match:
            found[match["key"]] = match["value"].strip()
    return found


def secret_names(example: dict[str, str]) -> list[str]:
    """The variables that are a secret and nothing else: their example value is one placeholder."""
    return [key for key, value in example.items() if PLACEHOLDER.fullmatch(value)]


def is_published(value: str) -> bool:
    return hashlib.sha256(value.encode()).hexdigest() in PUBLISHED


def fill(text: str, values: dict[str, str]) -> str:
    """Every placeholder replaced by its value (made on first sight, shared by every line)."""

    def replace(match: re.Match) -> str:
        placeholder = match[0]
        if placeholder not in values:
            values[placeholder] = generate(placeholder)
        return values[placeholder]

    lines = []
    for line in text.splitlines(keepends=True):
        # Comments keep their placeholders: they show where a value goes, they set nothing.
        lines.append(line if line.lstrip().startswith("#") else PLACEHOLDER.sub(replace, line))
    return "".join(lines)


def write_private(path: Path, text: str) -> None:
    """Written as a new file with mode 0600 from the start, then moved over `path`."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def names_of(text: str, placeholders: set[str]) -> list[str]:
    """The variables whose lines hold one of `placeholders`."""
    return [
        key
        for key, value in entries(text).items()
        if any(p in PLACEHOLDER.findall(value) for p in placeholders)
    ]


def create(env: Path, example_text: str, say) -> None:
    values: dict[str, str] = {}
    text = fill(example_text, values)
    write_private(env, text)
    say(
        f"created {env.name} (mode 0600) from .env.example with generated secrets for "
        + ", ".join(names_of(example_text, set(values)))
        + f": they are in {env.resolve()} only (never printed); keep it private"
    )


def check(env: Path, example_text: str, fill_placeholders: bool, say) -> int:
    text = env.read_text()
    have = entries(text)
    example = entries(example_text)
    left = [key for key, value in have.items() if PLACEHOLDER.search(value)]
    published = [key for key in secret_names(example) if key in have and is_published(have[key])]
    if published:
        say(
            f"error: {', '.join(published)} in {env.name}: a password .env.example published "
            "before, which anyone can read; set a secret of your own there (for a database "
            "already started, change it in the database too, or `docker compose down -v`)"
        )
        return 2
    if left and not fill_placeholders:
        say(
            f"error: {', '.join(left)} in {env.name}: still .env.example's placeholder "
            "(CHANGE-ME-...); run `make secrets` to generate every one into .env (never printed), "
            "or set values of your own"
        )
        return 2
    values: dict[str, str] = {}
    if left:
        text = fill(text, values)
    missing = [key for key in secret_names(example) if key not in have]
    if missing:
        added = "".join(f"{key}={example[key]}\n" for key in missing)
        text = text + ("" if text.endswith("\n") or not text else "\n") + fill(added, values)
    if values:
        write_private(env, text)
        say(f"generated {', '.join(left + missing)} into {env.name} (never printed)")
    mode = stat.S_IMODE(env.stat().st_mode)
    if mode & 0o077:
        os.chmod(env, 0o600)
        say(f"{env.name} was readable by others (mode {mode:04o}): now 0600")
    return 0


def main(argv: list[str]) -> int:
    fill_placeholders = "--fill" in argv
    folder = Path(next((a for a in argv if not a.startswith("-")), "."))
    env, example = folder / ".env", folder / ".env.example"
    prefix = "make secrets" if fill_placeholders else "make up"

    def say(line: str) -> None:
        print(f"{prefix}: {line}", file=sys.stderr if line.startswith("error") else sys.stdout)

    example_text = example.read_text()
    if not env.exists():
        create(env, example_text, say)
        return 0
    return check(env, example_text, fill_placeholders, say)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
