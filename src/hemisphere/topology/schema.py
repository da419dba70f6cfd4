"""The JSON Schema of the install spec, for editor completion (`hemisphere spec schema`).

Editors that understand the `# yaml-language-server: $schema=...` comment complete and check
field names as the user types; the loader remains the authority (it also checks the rules).
"""

from __future__ import annotations

from typing import Any

from hemisphere.topology.spec import InstallSpec

__all__ = ["SCHEMA_ID", "json_schema"]

SCHEMA_ID = "https://hemisphere.dev/schemas/install-spec.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an install spec."""
    schema = InstallSpec.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
