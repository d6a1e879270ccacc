"""Disk and memory for each path."""

from __future__ import annotations

import re

from taller_mlflow.local.doctor.common import (
    DISK_MARGIN,
    GIB,
    OK,
    PROBLEM,
    RUN_DISK_EXISTING,
    RUN_DISK_NEW,
    RUN_MEMORY,
    RUN_MEMORY_WARN,
    UP_DISK,
    UP_MEMORY,
    UP_MEMORY_WARN,
    WARN,
    M,
    Options,
    Result,
    path_kind,
)
from taller_mlflow.local.doctor.engine import (
    Engine,
)
from taller_mlflow.local.doctor.machine import (
    Probe,
)


def size(n: int) -> str:
    return f"{n / GIB:.1f} GiB"


def check_disk(probe: Probe, opts: Options, engine: Engine) -> list[Result]:
    results = []
    if "run" in opts.paths or "unit" in opts.paths:
        needed = frozenset(p for p in opts.paths if p in ("run", "unit"))
        has_venv = probe.exists(probe.root / ".venv" / ".run-installed")
        need = RUN_DISK_EXISTING if has_venv else RUN_DISK_NEW
        why = M.of("the run's data") if has_venv else M.of(".venv and pip's downloads")
        free = probe.disk_free(probe.root)
        if free is not None:
            found = M.of(
                "{free} free at {where}; {path_kind} needs about {need} ({why})",
                free=size(free),
                where=str(probe.root),
                path_kind=path_kind(needed),
                need=size(need),
                why=why,
            )
            fix = M.of(
                "free space on that disk, or clone the repository onto a disk with more room"
            )
            results.append(grade(free, need, need + DISK_MARGIN, "disk", found, fix, needed))
    if "up" in opts.paths and engine.version:
        needed = frozenset({"up"})
        where = engine.root or "/var/lib/docker"
        free = probe.disk_free(where) if probe.exists(where) else None
        if free is None:
            found = M.of(
                "Docker's data root {where} is not visible here (Docker Desktop keeps it in its VM)",
                where=where,
            )
            results.append(Result(OK, "disk", found, None, needed))
        else:
            found = M.of(
                "{free} free at {where}; {path_kind} needs about {need} ({why})",
                free=size(free),
                where=where,
                path_kind=M.of("make up"),
                need=size(UP_DISK),
                why=M.of("the images, ~3.4 GB"),
            )
            fix = M.of(
                "free space there: docker system prune removes unused images and build cache"
            )
            results.append(
                grade(free, UP_DISK, UP_DISK + 2 * DISK_MARGIN, "disk", found, fix, needed)
            )
    return results


def grade(
    value: int, problem_below: int, warn_below: int, name: str, found: M, fix: M, needed
) -> Result:
    if value < problem_below:
        return Result(PROBLEM, name, found, fix, needed)
    if value < warn_below:
        return Result(WARN, name, found, fix, needed)
    return Result(OK, name, found, None, needed)


def mem_available(probe: Probe) -> int | None:
    """MemAvailable from /proc/meminfo (Linux, WSL), else the total (macOS: sysctl hw.memsize)."""
    text = probe.read("/proc/meminfo")
    if text:
        match = re.search(r"^MemAvailable:\s+(\d+) kB", text, re.MULTILINE)
        if match:
            return int(match[1]) * 1024
    if probe.system()[0] == "Darwin":
        ran = probe.run(["sysctl", "-n", "hw.memsize"], 2)
        if ran.code == 0 and ran.out.strip().isdigit():
            return int(ran.out.strip())
    return None


def check_memory(probe: Probe, opts: Options, engine: Engine) -> list[Result]:
    needed = frozenset(p for p in opts.paths if p in ("run", "up"))
    available = mem_available(probe)
    fix = M.of("close other programs (browser tabs, IDEs), or add memory")
    if available is None:
        return [
            Result(WARN, "memory", M.of("cannot tell how much memory is free here"), None, needed)
        ]
    results = []
    if "up" in opts.paths:
        need, warn = UP_MEMORY, UP_MEMORY_WARN
        kind = M.of("make up")
    else:
        need, warn = RUN_MEMORY, RUN_MEMORY_WARN
        kind = M.of("make run") if "run" in opts.paths else M.of("the unit path")
    found = M.of(
        "{free} available; {path_kind} uses about {need} at its peak",
        free=size(available),
        path_kind=kind,
        need=size(need + GIB // 2),
    )
    results.append(grade(available, need, warn, "memory", found, fix, needed))
    if "up" in opts.paths and engine.mem_total and engine.mem_total < UP_MEMORY_WARN:
        found = M.of(
            "the Docker engine has {total} in all; the stack uses about {need}",
            total=size(engine.mem_total),
            need=size(UP_MEMORY + GIB // 2),
        )
        fix = M.of(
            "give Docker more memory: Docker Desktop > Settings > Resources (WSL: memory= in %UserProfile%\\.wslconfig)"
        )
        results.append(
            grade(
                engine.mem_total,
                UP_MEMORY,
                UP_MEMORY_WARN,
                "memory",
                found,
                fix,
                frozenset({"up"}),
            )
        )
    return results
