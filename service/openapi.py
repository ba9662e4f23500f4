"""The OpenAPI document: how our Structs are rendered, and the committed copy generated from the app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

# Litestar's own Struct renderer; it exports no public name for it.
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema
    from litestar.typing import FieldDefinition


class ClosedStructSchemaPlugin(StructSchemaPlugin):
    """Renders a Struct with `forbid_unknown_fields` as `additionalProperties: false`.

    Litestar leaves the schema open although msgspec rejects (400) any field the Struct does not name.
    """

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        if msgspec.inspect.type_info(field_definition.type_).forbid_unknown_fields:
            schema.additional_properties = False
        return schema


def schema_json() -> str:
    """The app's OpenAPI document as stable, pretty JSON (no database needed)."""
    from service.app import create_app  # the app imports this module for the plugin above
    from service.settings import load_settings

    app = create_app(load_settings())
    return json.dumps(app.openapi_schema.to_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schema(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(schema_json())
