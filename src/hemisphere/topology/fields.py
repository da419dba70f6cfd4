"""Field types of the install spec, each with a message that says what to write instead.

Pydantic's own messages ("String should match pattern '^[a-z]...'") tell a platform engineer
nothing; these validators raise `PydanticCustomError` with a `fix` in the context, which the
loader shows beside the file and line.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, ValidationInfo, WithJsonSchema
from pydantic_core import PydanticCustomError

from hemisphere.topology.countries import COUNTRY_CODES

__all__ = [
    "Cidr",
    "CountryCode",
    "DnsLabel",
    "Duration",
    "Hostname",
    "KubeconfigPath",
    "Quantity",
    "RegistryHost",
    "Version",
    "fail",
    "short",
]

_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})+$")
_DNS_LABEL_RE = re.compile(r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$")
_QUANTITY_RE = re.compile(r"^[1-9][0-9]*(Mi|Gi|Ti)$")
_DURATION_RE = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")
_VERSION_RE = re.compile(r"^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$")
_REGISTRY_RE = re.compile(
    rf"^({_LABEL}(\.{_LABEL})*|\[[0-9a-f:]+\])(:[0-9]{{1,5}})?(/[a-z0-9._/-]+)?$"
)


def fail(message: str, fix: str) -> PydanticCustomError:
    """An error for the loader: `message` says what is wrong, `fix` what to write instead."""
    return PydanticCustomError("spec", message, {"fix": fix})


def short(value: object, limit: int = 60) -> str:
    """`repr(value)`, cut to `limit` characters so a huge input cannot flood a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _need_str(value: Any, example: str) -> str:
    if not isinstance(value, str):
        raise fail(
            f"expected text, got {type(value).__name__} {short(value)}",
            f"write it as quoted text, e.g. {example}",
        )
    return value


def _hostname(value: Any) -> str:
    text = _need_str(value, '"dc1.example.com"')
    if not _HOSTNAME_RE.match(text):
        raise fail(
            f"{short(text)} is not a DNS name (lower-case labels of letters, digits and '-', "
            "separated by dots, at least two labels)",
            'write a fully qualified name such as "fra.dev.example.com"',
        )
    return text


def _dns_label(value: Any) -> str:
    text = _need_str(value, '"fra"')
    if not _DNS_LABEL_RE.match(text):
        raise fail(
            f"{short(text)} is not a short name (1-32 lower-case letters, digits or '-', "
            "starting with a letter)",
            'use a short lower-case name such as "fra" or "central"',
        )
    return text


def _country(value: Any) -> str:
    if isinstance(value, bool):
        raise fail(
            f"country code was read as {value} (YAML reads unquoted NO, YES, ON, OFF as booleans)",
            'quote the code, e.g. country_code: "NO"',
        )
    text = _need_str(value, '"DE"')
    if text.upper() not in COUNTRY_CODES:
        raise fail(
            f"{short(text)} is not an ISO 3166-1 alpha-2 country code",
            'use the two-letter code of the country, e.g. "DE", "FR", "US"',
        )
    return text.upper()


def _quantity(value: Any) -> str:
    text = _need_str(value, '"20Gi"')
    if not _QUANTITY_RE.match(text):
        raise fail(
            f"{short(text)} is not a storage size",
            'write a whole number with a binary unit, e.g. "20Gi", "512Mi" or "1Ti"',
        )
    return text


def _duration(value: Any) -> str:
    text = _need_str(value, '"24h"')
    if not _DURATION_RE.match(text):
        raise fail(
            f"{short(text)} is not a duration",
            'write a duration such as "24h", "90m" or "1h30m"',
        )
    return text


def _version(value: Any) -> str:
    if isinstance(value, float | int) and not isinstance(value, bool):
        raise fail(
            f"version {short(value)} was read as a number",
            f'quote it and give all three parts, e.g. version: "{value}.0"',
        )
    text = _need_str(value, '"1.67.0"')
    if not _VERSION_RE.match(text):
        raise fail(
            f"{short(text)} is not a version (MAJOR.MINOR.PATCH)",
            'write a version such as "1.67.0"',
        )
    return text


def _registry(value: Any) -> str:
    text = _need_str(value, '"registry.fra.internal:5000"')
    if "://" in text:
        raise fail(
            f"registry {short(text)} contains a URL scheme",
            "give only host[:port][/path], e.g. registry.fra.internal:5000/hemisphere",
        )
    if not _REGISTRY_RE.match(text):
        raise fail(
            f"{short(text)} is not a registry host",
            "give host[:port][/path], e.g. registry.fra.internal:5000/hemisphere",
        )
    return text


def _cidr(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return value
    text = _need_str(value, '"10.20.0.0/16"')
    if "/" not in text:
        raise fail(
            f"{short(text)} has no prefix length",
            'write a CIDR block with a prefix length, e.g. "10.20.0.0/16"',
        )
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise fail(f"{short(text)} is not a CIDR block", 'write e.g. "10.20.0.0/16"') from None
        raise fail(
            f"{short(text)} has host bits set",
            f'write the network address: "{network}"',
        ) from None


def _kubeconfig(value: Any, info: ValidationInfo) -> Path:
    if isinstance(value, Path):
        path = value
    else:
        text = _need_str(value, '"~/.kube/fra.yaml"')
        if not text.strip():
            raise fail("kubeconfig path is empty", 'give the path, e.g. "~/.kube/fra.yaml"')
        if "\x00" in text:
            raise fail("kubeconfig path contains a NUL byte", "remove it")
        path = Path(text)
    path = path.expanduser() if str(path).startswith("~") else path
    base = (info.context or {}).get("base_dir") if isinstance(info.context, dict) else None
    if not path.is_absolute() and isinstance(base, Path):
        path = base / path
    return path


def _str_schema(description: str, **extra: Any) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "description": description, **extra})


Hostname = Annotated[
    str, PlainValidator(_hostname), _str_schema("DNS name", examples=["fra.dev.example.com"])
]
DnsLabel = Annotated[
    str,
    PlainValidator(_dns_label),
    _str_schema("short lower-case name", pattern=_DNS_LABEL_RE.pattern),
]
CountryCode = Annotated[
    str, PlainValidator(_country), _str_schema("ISO 3166-1 alpha-2 code", examples=["DE"])
]
Quantity = Annotated[
    str, PlainValidator(_quantity), _str_schema("storage size", pattern=_QUANTITY_RE.pattern)
]
Duration = Annotated[
    str, PlainValidator(_duration), _str_schema("duration", pattern=_DURATION_RE.pattern)
]
Version = Annotated[
    str, PlainValidator(_version), _str_schema("MAJOR.MINOR.PATCH", pattern=_VERSION_RE.pattern)
]
RegistryHost = Annotated[
    str,
    PlainValidator(_registry),
    _str_schema("registry host[:port][/path]", examples=["registry.fra.internal:5000"]),
]
Cidr = Annotated[
    ipaddress.IPv4Network | ipaddress.IPv6Network,
    PlainValidator(_cidr),
    PlainSerializer(str, return_type=str),
    _str_schema("CIDR block", examples=["10.20.0.0/16"]),
]
KubeconfigPath = Annotated[
    Path,
    PlainValidator(_kubeconfig),
    PlainSerializer(str, return_type=str),
    _str_schema("path to a kubeconfig file (relative to the spec file)"),
]
