"""The HTTP API (FastAPI): ``create_app(bot)`` serves the JSON API, the demo page and the widget."""

from .app import create_app

__all__ = ["create_app"]
