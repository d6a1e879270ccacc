"""The API as an ASGI app for uvicorn: `uvicorn app.main:app --port 8989`, or `python -m app`.

Building it reads the settings and nothing else; MLflow is configured and the registry is built
when the app starts (its lifespan), not at import.
"""

from app.factory import create_app

app = create_app()
