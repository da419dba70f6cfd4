"""Load an install spec from YAML, reporting every problem at once with its file and line.

Three passes, each collecting instead of stopping at the first problem:
1. YAML → plain data plus a map from field path to line (our own walk over PyYAML's node tree,
   which also refuses duplicate keys, merge keys and custom tags that PyYAML would accept);
2. the pydantic models (each error translated into what is wrong and how to fix it);
3. the seed's rules (`rules.py`), run when the fields themselves are valid.

No input makes this raise anything but `SpecError`.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from hemisphere.topology.errors import Problem, SpecError
from hemisphere.topology.fields import short
from hemisphere.topology.rules import check
from hemisphere.topology.spec import InstallSpec

__all__ = ["format_path", "load_spec", "parse_spec"]

Loc = tuple[str | int, ...]

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser when present (several times faster); the same nodes, marks and errors."""
_MAX_NODES = 200_000
_LINE_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # what YAML counts as a new line
_MAX_BYTES = 8 * 1024 * 1024
_KINDS = {
    "list": "a list",
    "int": "a number",
    "float": "a number",
    "str": "plain text",
    "bool": "a boolean",
    "NoneType": "empty",
}
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


class _Reject(Exception):
    """A problem found while walking the YAML tree (converted to a Problem)."""

    def __init__(self, line: int, loc: Loc, message: str, fix: str) -> None:
        super().__init__(message)
        self.line, self.loc, self.message, self.fix = line, loc, message, fix


def format_path(loc: Sequence[str | int]) -> str:
    """`("datacenters", 1, "database")` → `datacenters[1].database`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class _Walker:
    """Builds plain data from a composed YAML node and records the line of every path."""

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self.loader = loader
        self.lines: dict[Loc, int] = {}
        self.nodes = 0

    def walk(self, node: yaml.Node, loc: Loc) -> Any:
        self.nodes += 1
        line = node.start_mark.line + 1
        if self.nodes > _MAX_NODES:
            raise _Reject(
                line,
                loc,
                "the document expands to too many values (aliases?)",
                "write the spec out without anchors and aliases",
            )
        self.lines.setdefault(loc, line)
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP_TAG:
                raise _Reject(line, loc, f"unsupported tag {short(node.tag)}", "remove the tag")
            data: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode):
                    raise _Reject(
                        key_line,
                        loc,
                        "a key is a mapping or list, not a name",
                        "use plain names as keys",
                    )
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise _Reject(
                        key_line,
                        loc,
                        "merge keys (<<) are not supported in install specs",
                        "write the keys out in full",
                    )
                key = str(self.loader.construct_object(key_node))
                if key in data:
                    raise _Reject(
                        key_line,
                        (*loc, key),
                        f"key {short(key)} appears twice (the first line is "
                        f"{self.lines.get((*loc, key), line)})",
                        "keep one of them",
                    )
                self.lines[(*loc, key)] = key_line
                data[key] = self.walk(value_node, (*loc, key))
            return data
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ_TAG:
                raise _Reject(line, loc, f"unsupported tag {short(node.tag)}", "remove the tag")
            return [self.walk(item, (*loc, i)) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node)


def _yaml_problem(filename: str, exc: yaml.YAMLError, text: str) -> Problem:
    line = 1
    detail = str(exc)
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        if mark is not None:
            line = mark.line + 1
        detail = " ".join(p for p in (exc.context, exc.problem) if p) or detail
    elif isinstance(exc, yaml.reader.ReaderError):
        line = len(_LINE_BREAKS.split(text[: max(exc.position, 0)]))
        detail = f"character {exc.character!r} is not allowed in YAML"
    return Problem(
        filename,
        min(line, len(_LINE_BREAKS.split(text))),  # libyaml may point past the last line
        "",
        f"not valid YAML: {detail}",
        "fix the YAML syntax at this line (indentation, quotes, colons)",
    )


def _to_data(text: str, filename: str) -> tuple[Any, dict[Loc, int]]:
    try:
        loader = _Loader(text)
    except yaml.YAMLError as exc:
        raise SpecError([_yaml_problem(filename, exc, text)]) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError(
                [
                    Problem(
                        filename,
                        1,
                        "",
                        "the file is empty",
                        "start from `hemisphere spec init --scenario NAME`",
                    )
                ]
            )
        walker = _Walker(loader)
        data = walker.walk(node, ())
    except yaml.YAMLError as exc:
        raise SpecError([_yaml_problem(filename, exc, text)]) from None
    except _Reject as exc:
        raise SpecError(
            [Problem(filename, exc.line, format_path(exc.loc), exc.message, exc.fix)]
        ) from None
    except RecursionError:
        raise SpecError(
            [
                Problem(
                    filename,
                    1,
                    "",
                    "the document is nested too deeply",
                    "an install spec is a few levels deep; check the indentation",
                )
            ]
        ) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise SpecError(
            [
                Problem(
                    filename,
                    node.start_mark.line + 1,
                    "",
                    f"the document is {_KINDS.get(type(data).__name__, 'a single value')}, not a "
                    "mapping of fields",
                    "start from `hemisphere spec init --scenario NAME`",
                )
            ]
        )
    return data, walker.lines


def _locate(data: Any, loc: Loc, lines: Mapping[Loc, int]) -> tuple[Loc, int]:
    """Drop pydantic's union tags from `loc` and find the line of the deepest known part."""
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
            path.append(part)
        elif last:
            path.append(part)
        else:
            continue  # a union tag or validator name pydantic put in the location
    found = tuple(path)
    while found and found not in lines:
        found = found[:-1]
    return tuple(path), lines.get(found, 1)


def _unwrap(annotation: Any) -> list[type[BaseModel]]:
    """The models a field annotation may hold (through Optional, unions, tuples, Annotated)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType, tuple, list):
        return [m for arg in typing.get_args(annotation) for m in _unwrap(arg)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _fields_at(loc: Loc) -> list[str]:
    """Field names the models allow at `loc` (for 'did you mean')."""
    models: list[type[BaseModel]] = [InstallSpec]
    for part in loc:
        if isinstance(part, int):
            continue
        nxt: list[type[BaseModel]] = []
        for model in models:
            field = model.model_fields.get(part)
            if field is not None:
                nxt.extend(_unwrap(field.annotation))
        if not nxt:
            # a union tag such as "cloudnativepg": keep the members named by it
            tagged = [
                m
                for m in models
                if "type" in m.model_fields and part in str(m.model_fields["type"].annotation)
            ]
            nxt = tagged or models
        models = nxt
    return sorted({name for m in models for name in m.model_fields})


def _fix_for(err: ErrorDetails, path: Loc) -> str:
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    kind = err["type"]
    field = str(path[-1]) if path else ""
    parent = format_path(path[:-1]) or "the top level"
    if "fix" in ctx:
        return str(ctx["fix"])
    if kind == "missing":
        return f"add `{field}:` under {parent}"
    if kind == "extra_forbidden":
        allowed = _fields_at(err["loc"][:-1])
        close = difflib.get_close_matches(field, allowed, n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        return f"{hint}remove `{field}`; allowed here: {', '.join(allowed)}"
    if kind == "literal_error":
        return f"use one of: {ctx.get('expected', '')}"
    if kind == "union_tag_invalid":
        return f"set type to one of: {ctx.get('expected_tags', '')}"
    if kind == "union_tag_not_found":
        return "add `type:` (cloudnativepg or external)"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "write a whole number without quotes"
    if kind in ("bool_type", "bool_parsing"):
        return "write true or false"
    if kind in ("greater_than_equal", "greater_than"):
        return f"use a value of at least {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"use a value of at most {ctx.get('le', ctx.get('lt'))}"
    if kind in ("too_short", "string_too_short"):
        return f"give at least {ctx.get('min_length', 1)} (it may not be empty)"
    if kind in ("too_long", "string_too_long"):
        return f"give at most {ctx.get('max_length')}"
    if kind in ("string_type",):
        return "write it as text, in quotes"
    if kind in ("tuple_type", "list_type"):
        return "write a list: one `- item` per line"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        allowed = _fields_at(err["loc"])
        return f"write a mapping with keys such as: {', '.join(allowed)}"
    if kind == "string_pattern_mismatch":
        return f"match the pattern {ctx.get('pattern', '')}"
    return "see `hemisphere spec schema` for the expected form"


def _message(err: ErrorDetails) -> str:
    if err["type"] == "spec":
        return err["msg"]
    if err["type"] == "extra_forbidden":
        return "unknown field"
    if err["type"] == "missing":
        return "required field is missing"
    return err["msg"]


def parse_spec(text: str, filename: str = "<spec>") -> InstallSpec:
    """Parse an install spec from YAML text; relative paths are taken from `filename`'s folder.

    Raises `SpecError` listing every problem found.
    """
    if len(text) > _MAX_BYTES:
        raise SpecError(
            [
                Problem(
                    filename,
                    1,
                    "",
                    "the file is larger than 8 MiB",
                    "an install spec is a few kilobytes; check the file name",
                )
            ]
        )
    data, lines = _to_data(text, filename)
    is_file = bool(filename) and not filename.startswith("<")
    base_dir = Path(filename).absolute().parent if is_file else Path.cwd()
    try:
        spec = InstallSpec.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        problems = []
        errors = exc.errors(include_url=False)
        failed_items = {
            tuple(e["loc"][:i])
            for e in errors
            for i, part in enumerate(e["loc"])
            if isinstance(part, int)
        }
        for err in errors:
            loc = tuple(err["loc"])
            if err["type"] == "too_short" and loc in failed_items:
                continue  # "0 items after validation": its items' own errors say why
            if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
                loc = (*loc, "type")
            path, line = _locate(data, loc, lines)
            problems.append(
                Problem(filename, line, format_path(path), _message(err), _fix_for(err, path))
            )
        raise SpecError(sorted(set(problems))) from None
    violations = check(spec)
    if violations:
        problems = []
        for rule, v in violations:
            path, line = _locate(data, v.path, lines)
            problems.append(
                Problem(filename, line, format_path(path), f"{v.message} [{rule.id}]", v.fix)
            )
        raise SpecError(sorted(set(problems)))
    return spec


def load_spec(path: Path) -> InstallSpec:
    """Read and parse the install spec at `path`. Raises `SpecError`."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(
            [
                Problem(
                    name,
                    0,
                    "",
                    f"cannot read the file: {exc.strerror or exc}",
                    "check the path and its permissions",
                )
            ]
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise SpecError(
            [Problem(name, line, "", "the file is not UTF-8 text", "save the file as UTF-8")]
        ) from None
    return parse_spec(text, name)
