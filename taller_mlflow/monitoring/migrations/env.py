"""Alembic's environment for the prediction log: always run by taller_mlflow.monitoring.migrate
on a connection it passes in (config.attributes["connection"]), never from a URL of its own."""

from alembic import context

from taller_mlflow.monitoring.migrate import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
