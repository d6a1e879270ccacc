"""Run the checks side by side, print one line each, exit 1 on a problem."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor

from taller_mlflow.local.doctor.common import (
    DEFAULT_PATHS,
    OK,
    PATHS,
    PROBLEM,
    WARN,
    M,
    Options,
    Result,
    language,
)
from taller_mlflow.local.doctor.engine import (
    Engine,
    check_compose,
    check_docker,
    compose_version,
    docker_info,
)
from taller_mlflow.local.doctor.machine import (
    Probe,
)
from taller_mlflow.local.doctor.platform_checks import check_platform, check_systemd
from taller_mlflow.local.doctor.ports import (
    check_run_ports,
    check_unit_port,
    check_up_ports,
    published_ports,
)
from taller_mlflow.local.doctor.python_env import check_python, check_venv
from taller_mlflow.local.doctor.resources import (
    check_disk,
    check_memory,
)

ORDER = ("platform", "python", "venv", "docker", "compose", "ports", "disk", "memory", "systemd")


def diagnose(probe: Probe, opts: Options) -> list[Result]:
    """Every check the chosen paths call for, side by side (commands wait on Docker, ss, ...),
    in ORDER; nothing is skipped silently."""
    paths = set(opts.paths)
    wants_docker = bool(paths & {"up", "unit"})
    with ThreadPoolExecutor(max_workers=8) as pool:
        engine_f = pool.submit(docker_info, probe, opts) if wants_docker else None
        compose_f = pool.submit(compose_version, probe, opts) if wants_docker else None
        up_ports = "up" in paths and "ports" not in opts.skip
        # The compose files' ports do not wait for Compose's version: both at once, within 5 s.
        published_f = pool.submit(published_ports, probe, opts) if up_ports else None
        jobs = [pool.submit(check_platform, probe, opts)]
        if paths & {"run", "unit"}:
            jobs.append(pool.submit(check_python, probe, opts))
        if "run" in paths:
            jobs.append(pool.submit(check_venv, probe, opts))
        if "run" in paths and "ports" not in opts.skip:
            jobs.append(pool.submit(check_run_ports, probe, opts))
        if "unit" in paths and "ports" not in opts.skip:
            jobs.append(pool.submit(check_unit_port, probe, opts))
        jobs.append(pool.submit(check_systemd, probe, opts))
        engine = engine_f.result() if engine_f else Engine()
        if wants_docker:
            compose = compose_f.result()
            jobs.append(pool.submit(check_docker, probe, opts, engine))
            jobs.append(pool.submit(check_compose, probe, opts, compose))
            if up_ports:
                published = published_f.result()
                jobs.append(
                    pool.submit(check_up_ports, probe, opts, compose[0] is not None, published)
                )
        jobs.append(pool.submit(check_disk, probe, opts, engine))
        jobs.append(pool.submit(check_memory, probe, opts, engine))
        results = [r for job in jobs for r in job.result() if r.name not in opts.skip]
    return sorted(results, key=lambda r: ORDER.index(r.name))


LABEL_WIDTH = 9


def render(result: Result, lang: str) -> str:
    label = M.of(result.severity).render(lang)
    name = M.of(result.name).render(lang)
    line = f"  {label:<{LABEL_WIDTH}}{name:<11}{result.found.render(lang)}"
    if result.fix is not None and result.severity != OK:
        line += f" -> {M.of('fix').render(lang)}: {result.fix.render(lang)}"
    return line


def shown(results: list[Result], opts: Options, quiet: bool) -> list[Result]:
    """All results; with --quiet, only the warnings and problems of checks the chosen path needs."""
    if not quiet:
        return results
    return [r for r in results if r.severity != OK and (r.severity == PROBLEM or r.needed_by)]


def printable(text: str, stream) -> str:
    """Accents dropped where the terminal cannot show them (LANG=es_CO.UTF-8 with no such locale)."""
    try:
        text.encode(stream.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return text


def parse_args(argv: list[str] | None) -> tuple[Options, bool, str | None]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--for",
        dest="paths",
        action="append",
        default=[],
        metavar="PATH",
        help="run, up, unit or all (repeat, or separate with commas or spaces; default: run and up)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="print only warnings and problems, then one line"
    )
    parser.add_argument(
        "--python",
        help="the interpreter make run creates .venv with (default: python3.11, else python3)",
    )
    parser.add_argument("--docker", default="docker", help="the docker command (default: docker)")
    parser.add_argument(
        "--compose", default="docker compose", help="the compose command (default: docker compose)"
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        help="a check to leave out (e.g. ports: make up leaves them to preflight.py)",
    )
    parser.add_argument("--lang", choices=["en", "es"], help="the language (default: from LANG)")
    # make run's own flags, so `make doctor RUN_ARGS=...` and `make run` check the same ports;
    # the rest of make run's flags (--quick, --stop-with-parent, ...) are ignored.
    parser.add_argument("--mlflow-port", type=int, default=5000)
    parser.add_argument("--api-port", type=int, default=8989)
    parser.add_argument("--jupyter-port", type=int, default=8888)
    parser.add_argument("--no-jupyter", action="store_true")
    args, _ = parser.parse_known_args(argv)
    chosen: list[str] = []
    for value in args.paths or [" ".join(DEFAULT_PATHS)]:
        for word in re.split(r"[,\s]+", value.strip()):
            if word == "all":
                chosen.extend(PATHS)
            elif word in PATHS:
                chosen.append(word)
            elif word:
                parser.error(f"--for {word}: choose run, up, unit or all")
    paths = tuple(p for p in PATHS if p in chosen) or DEFAULT_PATHS
    opts = Options(
        paths=paths,
        python=args.python or None,
        docker=args.docker,
        compose=tuple(shlex.split(args.compose)),
        mlflow_port=args.mlflow_port,
        api_port=args.api_port,
        jupyter_port=args.jupyter_port,
        no_jupyter=args.no_jupyter,
        skip=frozenset(args.skip),
    )
    return opts, args.quiet, args.lang


def main(argv: list[str] | None = None, probe: Probe | None = None, env=None, out=None) -> int:
    t0 = time.monotonic()
    opts, quiet, lang = parse_args(argv)
    lang = lang or language(os.environ if env is None else env)
    out = out or sys.stdout
    probe = probe or Probe()
    results = diagnose(probe, opts)
    problems = sum(r.severity == PROBLEM for r in results)
    listed = shown(results, opts, quiet)
    warnings = sum(r.severity == WARN for r in listed)
    elapsed = time.monotonic() - t0
    lines = []
    names = ", ".join(opts.paths)
    again = opts.paths[0] if len(opts.paths) == 1 else '"' + " ".join(opts.paths) + '"'
    if not quiet:
        system, release, machine = probe.system()
        head = M.of(
            "make doctor for {paths}: {system}", paths=names, system=f"{system} {release} {machine}"
        )
        lines.append(head.render(lang))
    lines += [render(r, lang) for r in listed]
    if quiet and not listed:
        summary = M.of(
            "ready for {paths} ({seconds:.1f} s; details: make doctor FOR={first})",
            paths=names,
            seconds=elapsed,
            first=again,
        )
        lines.append("doctor: " + summary.render(lang))
    else:
        summary = M.of(
            "{problems} problem(s), {warnings} warning(s) in {seconds:.1f} s",
            problems=problems,
            warnings=warnings,
            seconds=elapsed,
        )
        lines.append("doctor: " + summary.render(lang))
    for line in lines:
        print(printable(line, out), file=out)
    out.flush()
    return 1 if problems else 0
