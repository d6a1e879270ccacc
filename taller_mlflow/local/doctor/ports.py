"""The ports each path needs, and who holds one that is busy."""

from __future__ import annotations

import json

from taller_mlflow.local import preflight
from taller_mlflow.local.doctor.common import (
    JUPYTER_PORT,
    OK,
    PROBLEM,
    RUN_PORTS,
    UNIT_PORT,
    WARN,
    M,
    Options,
    Result,
)
from taller_mlflow.local.doctor.machine import (
    Probe,
)


def holder_text(probe: Probe, port: int) -> M:
    found = probe.holders(port)
    if not found:
        return M.of(
            "a process this user cannot see (sudo ss -ltnp 'sport = :{port}' names it)", port=port
        )
    shown = ", ".join(f"{name} (pid {pid})" for name, pid in found[:3])
    if any(
        name in ("docker-proxy", "com.docker.backend", "vpnkit", "rootlesskit") for name, _ in found
    ):
        return M.of("{holder}: a Docker container publishes it (docker ps)", holder=shown)
    return M.of("{text}", text=shown)


def a_free_port(probe: Probe, host: str, port: int) -> int:
    for candidate in range(port + 1, port + 20):
        if candidate < 65536 and not probe.port_busy(host, candidate):
            return candidate
    return preflight.suggest(host, port)


def check_run_ports(probe: Probe, opts: Options) -> list[Result]:
    needed = frozenset({"run"})
    wanted = [(opts.mlflow_port, *RUN_PORTS[0][1:]), (opts.api_port, *RUN_PORTS[1][1:])]
    if not opts.no_jupyter:
        wanted.append((opts.jupyter_port, *JUPYTER_PORT[1:]))
    results = []
    for port, what, flag in wanted:
        if not probe.port_busy("127.0.0.1", port):
            continue
        found = M.of(
            "port {port} ({what}) is in use by {holder}",
            port=port,
            what=f"make run, {what}",
            holder=holder_text(probe, port),
        )
        if flag == "--jupyter-port":
            fix = M.of("stop it, or leave JupyterLab off: make run JUPYTER=0")
        else:
            free = a_free_port(probe, "127.0.0.1", port)
            fix = M.of(
                'stop it, or move make run\'s {what}: make run RUN_ARGS="{flag} {free}"',
                what=what,
                flag=flag,
                free=free,
            )
        results.append(Result(PROBLEM, "ports", found, fix, needed))
    if not results:
        shown = ", ".join(str(port) for port, _, _ in wanted)
        results.append(
            Result(OK, "ports", M.of("{ports} free (make run)", ports=shown), None, needed)
        )
    return results


def compose_config_args(probe: Probe, opts: Options) -> list[str]:
    """`make up` creates .env from .env.example; before it has, read the example (it is what
    .env will hold) so the compose files' required variables resolve."""
    if not probe.exists(probe.root / ".env") and probe.exists(probe.root / ".env.example"):
        return [*opts.compose, "--env-file", str(probe.root / ".env.example")]
    return list(opts.compose)


def published_ports(probe: Probe, opts: Options) -> tuple[list | None, str]:
    ran = probe.run([*compose_config_args(probe, opts), "config", "--format", "json"], 5)
    if ran.code != 0:
        return None, " ".join((ran.err.strip() or ran.out.strip() or "no output").split())
    try:
        return preflight.published(json.loads(ran.out)), ""
    except ValueError as exc:
        return None, str(exc)


def own_ports(probe: Probe, opts: Options) -> set[int]:
    """Host ports this project's running containers publish (none when the engine cannot say).
    Compose prints a JSON array, or one JSON object per line (2.21 and later)."""
    ran = probe.run([*opts.compose, "ps", "--format", "json"], 3)
    text = ran.out.strip()
    if ran.code != 0 or not text:
        return set()
    try:
        rows = json.loads(text)
    except ValueError:
        try:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError:
            return set()
    rows = rows if isinstance(rows, list) else [rows]
    return {
        int(p["PublishedPort"])
        for row in rows
        for p in row.get("Publishers") or []
        if p.get("PublishedPort")
    }


def check_up_ports(probe: Probe, opts: Options, compose_ok: bool, published=None) -> list[Result]:
    needed = frozenset({"up"})
    if not compose_ok:
        return [
            Result(
                WARN,
                "ports",
                M.of("not checked: {what} is missing (see above)", what="Compose v2"),
                None,
                needed,
            )
        ]
    rows, error = published if published is not None else published_ports(probe, opts)
    if rows is None:
        found = M.of("cannot read the compose files' ports: {detail}", detail=error)
        fix = M.of(
            "fix the error above in .env or the compose files (docker compose config shows it)"
        )
        return [Result(PROBLEM, "ports", found, fix, needed)]
    busy = [row for row in rows if probe.port_busy(row[1], row[2])]
    ours = own_ports(probe, opts) if busy else set()
    variables = probe.port_variables()
    results = []
    for service, host_ip, port, target in busy:
        if port in ours:
            continue
        var = variables.get(target, f"the {service} port variable")
        found = M.of(
            "port {port} ({what}) is in use by {holder}",
            port=port,
            what=f"make up, {service}, {host_ip}",
            holder=holder_text(probe, port),
        )
        fix = M.of(
            "stop it, or set {var} in .env to a free port, e.g. {var}={free}",
            var=var,
            free=preflight.suggest(host_ip, port),
        )
        results.append(Result(PROBLEM, "ports", found, fix, needed))
    if results:
        return results
    shown = ", ".join(str(port) for port in sorted({row[2] for row in rows} - ours))
    if shown:
        results.append(
            Result(OK, "ports", M.of("{ports} free (make up)", ports=shown), None, needed)
        )
    if ours:
        mine = ", ".join(str(p) for p in sorted(ours))
        found = M.of(
            "{ports} already published by this project's running stack (make up updates it)",
            ports=mine,
        )
        results.append(Result(OK, "ports", found, None, needed))
    return results


def check_unit_port(probe: Probe, opts: Options) -> list[Result]:
    needed = frozenset({"unit"})
    if not probe.port_busy("127.0.0.1", UNIT_PORT):
        return [
            Result(
                OK, "ports", M.of("{port} free (mlflow_serv.service)", port=UNIT_PORT), None, needed
            )
        ]
    found = M.of(
        "port {port} ({what}) is in use by {holder}",
        port=UNIT_PORT,
        what="mlflow_serv.service",
        holder=holder_text(probe, UNIT_PORT),
    )
    fix = M.of(
        "stop it, or set MLFLOW_PORT in the unit's .env (and the clients' MLFLOW_TRACKING_URI)"
    )
    return [Result(PROBLEM, "ports", found, fix, needed)]
