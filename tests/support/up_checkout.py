"""A copy of what `make -f docker.mk up` reads, in a temporary folder: docker.mk, .env.example,
the compose files, every script docker.mk runs by path and every package it runs with -m (the
doctor), so its recipes run there against a fake docker."""

import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def copy_up_checkout(into: Path) -> Path:
    for path in [ROOT / "docker.mk", ROOT / ".env.example", *ROOT.glob("docker-compose*.yaml")]:
        shutil.copy(path, into / path.name)
    (into / "taller_mlflow" / "local").mkdir(parents=True)
    (into / "JupyterLab").mkdir()
    recipe = (ROOT / "docker.mk").read_text()
    for script in set(re.findall(r"taller_mlflow/local/\w+\.py", recipe)):
        shutil.copy(ROOT / script, into / script)
    for module in set(re.findall(r" -m (taller_mlflow[\w.]*)", recipe)):
        folder = Path(*module.split("."))
        if not (ROOT / folder).is_dir():  # a module run in an image (promote_run), not here
            continue
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / folder, into / folder, ignore=ignore, dirs_exist_ok=True)
        for parent in folder.parents:
            if (ROOT / parent / "__init__.py").exists():
                shutil.copy(ROOT / parent / "__init__.py", into / parent / "__init__.py")
    return into
