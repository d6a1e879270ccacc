"""What every phase shares: the settings, the cores, the work directory, wrk, the tracking stack,
the registered versions, and every server started (stopped at the end, however the run ends)."""

from dataclasses import dataclass, field
from pathlib import Path

from bench import MODEL, ROOT, harness, say
from bench.harness import Cores, TrackingStack
from bench.wrk import Wrk
from taller_mlflow.local.servers import Server


@dataclass
class Context:
    args: object
    cores: Cores
    workdir: Path
    wrk: Wrk
    checkout: Path = ROOT
    stack: TrackingStack | None = None
    servers: list[Server] = field(default_factory=list)

    # --- the registry ---------------------------------------------------------------------------

    @property
    def tracking_uri(self) -> str:
        return self.stack.tracking_uri

    def versions(self) -> list[str]:
        found = self.stack.client().search_model_versions(f"name='{MODEL}'")
        return sorted((v.version for v in found), key=int)

    def production(self) -> str:
        return str(self.stack.client().get_model_version_by_alias(MODEL, "production").version)

    def other_version(self) -> str:
        """A registered version other than production's (the newest such)."""
        prod = self.production()
        return next(v for v in reversed(self.versions()) if v != prod)

    def ensure_versions(self, count: int) -> None:
        """At least `count` versions, each from a real tracked training run (untimed)."""
        from bench.training import train_once

        while len(self.versions()) < count:
            say(f"training a version (untimed; {len(self.versions())} of {count} registered)")
            train_once(self, "tracked")

    # --- servers --------------------------------------------------------------------------------

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def api(self, workers: int, name: str, env: dict | None = None, start: bool = True) -> Server:
        """The API under test, pinned to the server cores; started and healthy unless start=False."""
        server = harness.api_server(self.checkout, self.tracking_uri, workers, self.log(name), env)
        self.servers.append(server)
        if start:
            harness.start(server, self.cores.servers)
            harness.wait_settled(server.base_url)
        return server

    def serve(self, workers: int, name: str, start: bool = True) -> Server:
        """`mlflow models serve` on production's version, pinned to the server cores."""
        uri = f"models:/{MODEL}/{self.production()}"
        server = harness.mlflow_serve(uri, self.tracking_uri, workers, self.log(name))
        self.servers.append(server)
        if start:
            harness.start(server, self.cores.servers)
        return server

    def stop(self, server: Server) -> None:
        server.stop()
        if server in self.servers:
            self.servers.remove(server)

    def close(self) -> None:
        harness.stop_all(self.servers)
        self.servers.clear()
        if self.stack:
            self.stack.close()
