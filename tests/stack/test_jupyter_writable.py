"""The stack's JupyterLab lets a student save the notebook, whoever owns the checkout.

The jupyter service of docker-compose-jupyter.yaml runs on a copy of the notebook folder owned by
root, then by an ordinary user (UID 1234), as docker.mk's `make up` starts it (the user comes
from docker.mk, from the folder's owner). The notebook is saved through the Jupyter server's
contents API (PUT /api/contents/...) and must land on the host, still owned by that owner; a
request without the token is refused (403)."""

import json
import os
import secrets
import shutil
import subprocess

import pytest
import requests

from taller_mlflow.local.servers import NOTEBOOK, ROOT, free_port
from tests.support import wait_for
from tests.support.compose import clean_env, compose_cmd
from tests.support.standins import images

pytestmark = pytest.mark.timeout(2400)

OWNERS = {"root": (0, 0), "an ordinary user": (1234, 1234)}


def docker_mk_user(workdir) -> tuple[int, int]:
    """The JUPYTER_UID/JUPYTER_GID `make up` exports for this checkout."""
    out = subprocess.run(
        ["make", "-s", "--no-print-directory", "-f", "docker.mk",
         "--eval", "print-%: ; @echo $($*)", "print-JUPYTER_UID", "print-JUPYTER_GID",
         f"JUPYTER_WORKDIR={workdir}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=clean_env(),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    uid, gid = out.stdout.split()
    return int(uid), int(gid)


class JupyterService:
    def __init__(self, tmp_path, workdir):
        self.project = f"taller-jupyter-{secrets.token_hex(4)}"
        self.port, self.token = free_port(), secrets.token_hex(8)
        uid, gid = docker_mk_user(workdir)
        settings = {
            "JUPYTER_TOKEN": self.token,
            "MYSQL_PASSWORD": "unused",
            "MLFLOW_TRAINER_PASSWORD": "unused-here",
            "JUPYTER_HOST_PORT": str(self.port),
            "JUPYTER_CONTAINER_NAME": f"{self.project}_jupyter",
            "NETWORK_NAME": f"{self.project}_net",
            "JUPYTER_WORKDIR": str(workdir),
            "JUPYTER_UID": str(uid),
            "JUPYTER_GID": str(gid),
            "PYTHON_IMAGE": images(["PYTHON_IMAGE"]).get("PYTHON_IMAGE", "python:3.11-slim"),
        }
        self.env_file = tmp_path / f"{self.project}.env"
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))

    def compose(self, *args, timeout=600) -> subprocess.CompletedProcess:
        cmd = [*compose_cmd(), "-p", self.project, "--env-file", str(self.env_file)]
        cmd += ["-f", str(ROOT / "docker-compose-jupyter.yaml"), *args]
        out = subprocess.run(cmd, cwd=ROOT, env=clean_env(), capture_output=True, text=True,
                             timeout=timeout)  # fmt: skip
        assert out.returncode == 0, f"{' '.join(args)}: {out.stderr[-3000:]}"
        return out

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answers(self) -> bool:
        try:
            return requests.get(self.url("/api"), timeout=5).ok
        except requests.RequestException:
            return False


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The jupyter image, built once from the repository as `make up` builds it."""
    tmp = tmp_path_factory.mktemp("jupyter-build")
    JupyterService(tmp, ROOT).compose("build", "jupyter", timeout=1800)


def checkout_owned_by(tmp_path, uid: int, gid: int):
    workdir = tmp_path / "checkout"
    (workdir / "JupyterLab").mkdir(parents=True)
    shutil.copy(ROOT / NOTEBOOK, workdir / NOTEBOOK)
    try:
        for path in [workdir, workdir / "JupyterLab", workdir / NOTEBOOK]:
            os.chown(path, uid, gid)
    except PermissionError:
        pytest.fail("this test chowns a folder to root and to UID 1234: run it as root")
    return workdir


@pytest.mark.parametrize("owner", OWNERS, ids=["owned-by-root", "owned-by-uid-1234"])
def test_the_notebook_saves_through_the_contents_api(built, tmp_path, owner):
    uid, gid = OWNERS[owner]
    workdir = checkout_owned_by(tmp_path, uid, gid)
    service = JupyterService(tmp_path, workdir)
    service.compose("up", "-d", "--no-build", "jupyter")
    try:
        assert wait_for(service.answers, 180, interval=1), service.compose("logs").stdout[-3000:]
        auth = {"Authorization": f"token {service.token}"}
        url = service.url(f"/api/contents/{NOTEBOOK}")
        assert requests.get(url, timeout=30).status_code == 403  # no token, no notebook
        model = requests.get(url, headers=auth, params={"content": 1}, timeout=30).json()
        assert model["writable"], f"Jupyter opens the notebook read-only ({owner})"
        notebook = model["content"]
        notebook["cells"].append(
            {"cell_type": "markdown", "metadata": {}, "source": "saved by a student"}
        )
        body = {"type": "notebook", "format": "json", "content": notebook}
        saved = requests.put(url, headers=auth, json=body, timeout=60)
        assert saved.status_code == 200, saved.text
        on_disk = json.loads((workdir / NOTEBOOK).read_text())
        assert "".join(on_disk["cells"][-1]["source"]) == "saved by a student"
        stat = (workdir / NOTEBOOK).stat()
        assert (stat.st_uid, stat.st_gid) == (uid, gid)
    finally:
        service.compose("down", "-v", "--remove-orphans")
