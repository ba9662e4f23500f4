"""The committed OpenAPI document, generated from the app."""

from __future__ import annotations

import json
from pathlib import Path

from service.app import create_app
from service.settings import load_settings


def schema_json() -> str:
    """The app's OpenAPI document as stable, pretty JSON (no database needed)."""
    app = create_app(load_settings())
    return json.dumps(app.openapi_schema.to_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schema(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(schema_json())
