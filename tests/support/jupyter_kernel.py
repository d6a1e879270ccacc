"""Run a notebook through a running Jupyter server, as JupyterLab does: the contents API reads it,
the sessions API starts a kernel for it, and every code cell is sent as an execute_request on the
kernel's websocket (Jupyter's JSON message protocol). No papermill, no local kernel."""

import json
import time
import uuid
from dataclasses import dataclass, field

import requests
from websockets.sync.client import connect


@dataclass
class CellResult:
    index: int
    status: str
    text: str = ""
    error: dict = field(default_factory=dict)


class JupyterServer:
    def __init__(self, base_url: str, token: str):
        self.base, self.token = base_url.rstrip("/"), token
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"token {token}"

    def get(self, path: str, **kw) -> dict:
        resp = self.http.get(f"{self.base}{path}", timeout=60, **kw)
        resp.raise_for_status()
        return resp.json()

    def notebook(self, path: str) -> dict:
        return self.get(f"/api/contents/{path}", params={"content": 1})

    def start_session(self, path: str) -> dict:
        body = {"path": path, "type": "notebook", "name": "", "kernel": {"name": "python3"}}
        resp = self.http.post(f"{self.base}/api/sessions", json=body, timeout=120)
        resp.raise_for_status()
        return resp.json()

    def end_session(self, session_id: str) -> None:
        self.http.delete(f"{self.base}/api/sessions/{session_id}", timeout=60)

    def run_notebook(self, path: str, cell_timeout: float) -> list[CellResult]:
        """Execute the notebook's code cells in order in a new kernel; stop at the first error."""
        cells = [c for c in self.notebook(path)["content"]["cells"] if c["cell_type"] == "code"]
        session = self.start_session(path)
        kernel = session["kernel"]["id"]
        ws_url = self.base.replace("http", "ws", 1) + f"/api/kernels/{kernel}/channels"
        results = []
        try:
            with connect(f"{ws_url}?token={self.token}", max_size=None, open_timeout=60) as ws:
                for index, cell in enumerate(cells):
                    result = execute(
                        ws, session["id"], index, "".join(cell["source"]), cell_timeout
                    )
                    results.append(result)
                    if result.status != "ok":
                        break
        finally:
            self.end_session(session["id"])
        return results


def execute(ws, session: str, index: int, code: str, timeout: float) -> CellResult:
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps(execute_request(session, msg_id, code)))
    result = CellResult(index, "pending")
    deadline = time.monotonic() + timeout
    while result.status == "pending":
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            result.status = f"no reply within {timeout:.0f} s"
            break
        reply = json.loads(ws.recv(timeout=remaining))
        if reply.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        collect(result, reply)
    return result


def collect(result: CellResult, msg: dict) -> None:
    kind, content = msg["msg_type"], msg["content"]
    if kind == "stream":
        result.text += content["text"]
    elif kind in ("execute_result", "display_data"):
        result.text += content.get("data", {}).get("text/plain", "") + "\n"
    elif kind == "error":
        result.error = {k: content[k] for k in ("ename", "evalue", "traceback")}
    elif kind == "execute_reply":
        result.status = content["status"]
        if content["status"] == "error" and not result.error:
            result.error = {k: content.get(k) for k in ("ename", "evalue", "traceback")}


def execute_request(session: str, msg_id: str, code: str) -> dict:
    return {
        "channel": "shell",
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "session": session,
            "username": "test",
            "version": "5.3",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        "parent_header": {},
        "metadata": {},
        "content": {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
        "buffers": [],
    }
