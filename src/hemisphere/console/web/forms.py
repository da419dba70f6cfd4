"""Turning the API's error `detail` into messages next to form fields.

The API writes validation problems as `field[0].path: message` joined by `; `
(webapi/problems.py),
and domain errors as `field: message` when a field is to blame. A form knows which wire field
each of its inputs feeds; messages for other fields, or for none, go to the top of the form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.datastructures import FormData

GENERAL = "_form"
_NEXT_FIELD = re.compile(r"; (?=[\w.\[\]]+: )")
# "env[0].name" → env; "[0].name" or "0.name" (a list body) → name
_WIRE_FIELD = re.compile(r"^(?:\[?\d+\]?\.?)*([A-Za-z_]\w*)")


@dataclass
class FormErrors:
    by_field: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        self.by_field.setdefault(name, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.by_field)

    def of(self, name: str) -> str:
        return " ".join(self.by_field.get(name, []))

    @property
    def general(self) -> str:
        return self.of(GENERAL)


def errors_from_detail(detail: str | None, fields: Mapping[str, str]) -> FormErrors:
    """Split `detail` over the form's inputs; `fields` maps a wire field to an input name."""
    errors = FormErrors()
    # Split only where the next message names a field: messages themselves may contain "; ".
    for part in _NEXT_FIELD.split(detail or "the request failed"):
        where, sep, message = part.partition(": ")
        found = _WIRE_FIELD.match(where) if sep and " " not in where else None
        wire = found.group(1) if found else ""
        if sep and wire in fields:
            errors.add(fields[wire], message[:1].upper() + message[1:])
        else:
            errors.add(GENERAL, part[:1].upper() + part[1:])
    return errors


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def checked(form: FormData, name: str) -> bool:
    return form.get(name) in ("on", "true", "1", "yes")


def parse_env(lines: str) -> tuple[list[dict[str, str]], str | None]:
    """`NAME=value` per line (blank lines and `#` comments ignored); an error names the line."""
    pairs: list[dict[str, str]] = []
    for number, raw in enumerate(lines.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            return [], f"Line {number} is not NAME=value: {line[:40]!r}"
        pairs.append({"name": name.strip(), "value": value})
    return pairs, None
