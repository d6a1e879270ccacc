"""The same round trip for `make run`'s layout: a real MLflow server on a SQLite backend with a
local artifact folder (as taller_mlflow.local.servers.mlflow_server runs it for make run), a
version @production with its serving artifact, a SQLite prediction log; a backup while the
server runs (SQLite's online backup); a restore into an empty folder; an MLflow server started
on the restored folder serves the same runs, versions, aliases, tags and artifacts.
"""

from types import SimpleNamespace

from taller_mlflow.backup.__main__ import main
from taller_mlflow.local.servers import free_port, mlflow_server
from tests.support.backup_checks import artifact_sums, fill_log, log_rows, registry_state
from tests.support.promotion import MODEL, log_version, registry_client

LOG_ROWS = 23


def _start(folder, log_name: str):
    port = free_port()
    server = mlflow_server(
        f"sqlite:///{folder / 'mlflow.db'}", str(folder / "artifacts"), port, folder / log_name, 1
    )
    server.start(timeout=120)
    return server, SimpleNamespace(tracking_uri=f"http://127.0.0.1:{port}")


def test_make_runs_folder_round_trips_through_backup_and_restore(tmp_path, capsys):
    run, restored = tmp_path / ".run", tmp_path / "restored" / ".run"
    run.mkdir()
    servers = []
    try:
        server, stack = _start(run, "mlflow.log")
        servers.append(server)
        version, _run = log_version(stack)
        client = registry_client(stack)
        client.set_registered_model_alias(MODEL, "production", version)
        client.set_model_version_tag(MODEL, version, "reviewed_by", "backup-test")
        fill_log(f"sqlite:///{run / 'monitoring.db'}", LOG_ROWS)
        before = registry_state(client)
        sums = artifact_sums(stack.tracking_uri, client, tmp_path / "before")

        archive = tmp_path / "run.tar.gz"
        assert main(["backup", str(archive), "--local", str(run)]) == 0  # the server still runs
        assert main(["restore", str(archive), "--local", str(restored)]) == 0
        assert "counts match the manifest" in capsys.readouterr().out
        assert log_rows(f"sqlite:///{restored / 'monitoring.db'}") == LOG_ROWS

        server, again = _start(restored, "mlflow-restored.log")
        servers.append(server)
        again_client = registry_client(again)
        assert registry_state(again_client) == before
        assert again_client.get_model_version_by_alias(MODEL, "production").version == version
        assert artifact_sums(again.tracking_uri, again_client, tmp_path / "after") == sums

        capsys.readouterr()
        assert main(["restore", str(archive), "--local", str(restored)]) == 1
        said = [line for line in capsys.readouterr().err.splitlines() if "restore:" in line]
        assert len(said) == 1 and "not empty" in said[0] and "--force" in said[0], said
        assert registry_state(again_client) == before  # the folder was left as it was
    finally:
        for server in servers:
            server.stop()
