"""PostgreSQL through its own tools: pg_dump (a consistent snapshot, custom format), pg_restore
and psql, run on this machine or inside the database's container (`exec_prefix`, e.g.
`docker compose exec -T -e PGPASSWORD postgres`, so the tools match the server's version).

The password never reaches a command line: it goes in PGPASSWORD, and the URL handed to the
tools has none.
"""

import os
import shlex
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from taller_mlflow.backup.inventory import BackupError

TIMEOUT_SECONDS = 3600


class Postgres:
    """One database: `url` as SQLAlchemy or libpq spells it (postgresql[+driver]://...)."""

    def __init__(self, url: str, exec_prefix: str = ""):
        try:
            parsed = make_url(url)
        except Exception:
            raise BackupError(f"not a database URL: {url!r}") from None
        if not parsed.drivername.startswith("postgresql") or not parsed.database:
            raise BackupError(f"not a PostgreSQL database URL: {parsed.render_as_string()}")
        self.password = parsed.password or ""
        self.database = parsed.database
        self.dsn = parsed.set(drivername="postgresql", password=None).render_as_string(False)
        self.prefix = shlex.split(exec_prefix)

    def _env(self) -> dict[str, str]:
        return dict(os.environ, PGPASSWORD=self.password, PGCONNECT_TIMEOUT="10")

    def _run(self, args: list[str], stdin=None, stdout=subprocess.PIPE) -> str:
        env = self._env()
        try:
            done = subprocess.run(
                [*self.prefix, *args],
                stdin=stdin,
                stdout=stdout,
                stderr=subprocess.PIPE,
                env=env,
                timeout=TIMEOUT_SECONDS,
            )
        except FileNotFoundError as exc:
            raise BackupError(f"{exc.filename} not found: install PostgreSQL's client") from None
        if done.returncode != 0:
            last = (done.stderr or b"").decode(errors="replace").strip().splitlines()
            raise BackupError(f"{args[0]} on {self.database} failed: {last[-1] if last else ''}")
        return (done.stdout or b"").decode() if stdout is subprocess.PIPE else ""

    def dump(self, path: Path, tables: dict[str, str]) -> dict[str, int]:
        """pg_dump of the whole database into `path`, and the counts of `tables` in the very
        snapshot it dumped: a psql session exports its REPEATABLE READ snapshot, counts in it,
        and holds it open while pg_dump --snapshot reads the same one."""
        try:
            session = subprocess.Popen(
                [*self.prefix, *self._psql()],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._env(),
                text=True,
            )
        except FileNotFoundError as exc:
            raise BackupError(f"{exc.filename} not found: install PostgreSQL's client") from None
        try:
            session.stdin.write(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n"
                f"SELECT pg_export_snapshot();\nSELECT {_counting(tables)};\n"
            )
            session.stdin.flush()
            snapshot, values = session.stdout.readline().strip(), session.stdout.readline()
            if not values:
                raise BackupError(f"psql on {self.database} failed: {self._last(session)}")
            args = ["pg_dump", "--no-password", "--format=custom", f"--snapshot={snapshot}"]
            args.append(f"--dbname={self.dsn}")
            with path.open("wb") as out:
                self._run(args, stdout=out)
            session.stdin.write("COMMIT;\n")
            session.stdin.close()
            session.wait(60)
        finally:
            if session.poll() is None:
                session.kill()
                session.wait()
        return dict(zip(tables, map(int, values.strip().split("|")), strict=True))

    @staticmethod
    def _last(session: subprocess.Popen) -> str:
        session.kill()
        lines = session.stderr.read().strip().splitlines()
        return lines[-1] if lines else f"exit {session.wait()}"

    def restore(self, path: Path) -> None:
        """Into this database, in one transaction: objects the dump holds are dropped first
        (--clean), so tables `mlflow server` created at its start do not stop it."""
        args = ["pg_restore", "--no-password", "--clean", "--if-exists", "--single-transaction"]
        args += ["--exit-on-error", f"--dbname={self.dsn}"]
        with path.open("rb") as dump:
            self._run(args, stdin=dump)

    def _psql(self) -> list[str]:
        return ["psql", "-X", "-w", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", self.dsn]

    def counts(self, tables: dict[str, str]) -> dict[str, int]:
        """count name -> rows of its table; 0 where the table does not exist."""
        out = self._run([*self._psql(), "-c", f"SELECT {_counting(tables)}"])
        return dict(zip(tables, map(int, out.strip().split("|")), strict=True))


def _counting(tables: dict[str, str]) -> str:
    """One SELECT list counting each table, 0 for a table that does not exist (CASE evaluates
    query_to_xml only for one that does)."""
    return ", ".join(
        f"CASE WHEN to_regclass('public.{t}') IS NULL THEN 0 ELSE (xpath('/row/c/text()', "
        f"query_to_xml('SELECT count(*) AS c FROM public.{t}', false, true, '')))[1]::text::bigint END"
        for t in tables.values()
    )
