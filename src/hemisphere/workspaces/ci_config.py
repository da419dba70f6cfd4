"""Codesphere-style pipelines, the pure half: parse `ci.yml`, and write the shell that runs a
stage inside the workspace and the shell that reports on it.

A stage runs as ONE detached shell script inside the sandbox that records, per step, when it
started, its output, its exit code and when it finished, as files under
`~/.hemisphere/pipeline/<stage>/`. The state therefore lives with the workspace: a platform
restart neither stops a running stage nor loses its progress, and every runtime that can `exec`
can run pipelines.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml

from hemisphere.workspaces.errors import InvalidWorkspaceInput

STAGES = ("prepare", "test", "run")
_PROFILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_STATE_DIR = ".hemisphere/pipeline"


@dataclass(frozen=True)
class Step:
    name: str
    command: str


@dataclass(frozen=True)
class StepStatus:
    state: str  # waiting | running | success | failure | aborted
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class StageStatus:
    state: str
    steps: tuple[StepStatus, ...]
    started_at: datetime | None = None
    finished_at: datetime | None = None


def config_file(profile: str | None) -> str:
    """`ci.yml` for the default profile (or "ci.yml" given), `ci.<profile>.yml` otherwise."""
    if profile in (None, "", "ci.yml"):
        return "ci.yml"
    assert profile is not None
    if not _PROFILE.match(profile):
        raise InvalidWorkspaceInput(
            f"profile {profile!r} must be letters, digits, '-' or '_'", field="profile"
        )
    return f"ci.{profile}.yml"


def check_stage(stage: str) -> str:
    if stage not in STAGES:
        raise InvalidWorkspaceInput(
            f"unknown stage {stage!r}; use one of {', '.join(STAGES)}", field="stage"
        )
    return stage


def parse_steps(text: str, filename: str, stage: str) -> list[Step]:
    """The steps of one stage, or a 400 that names the file and the field."""
    try:
        doc: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise InvalidWorkspaceInput(f"{filename}{where}: not valid YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise InvalidWorkspaceInput(f"{filename}: expected a mapping with stages {STAGES}")
    section = doc.get(stage)
    if section is None:
        raise InvalidWorkspaceInput(f"{filename}: has no '{stage}' stage")
    raw_steps = section.get("steps") if isinstance(section, dict) else None
    if not isinstance(raw_steps, list):
        raise InvalidWorkspaceInput(f"{filename}: {stage}.steps must be a list of steps")
    steps = []
    for i, raw in enumerate(raw_steps):
        where = f"{filename}: {stage}.steps[{i}]"
        if not isinstance(raw, dict):
            raise InvalidWorkspaceInput(f"{where} must be a mapping with 'command'")
        command = raw.get("command")
        if not isinstance(command, str) or not command.strip():
            raise InvalidWorkspaceInput(f"{where}.command is required (a shell command)")
        name = raw.get("name")
        steps.append(Step(name=str(name) if name else command.split("\n")[0][:60], command=command))
    if not steps:
        raise InvalidWorkspaceInput(f"{filename}: {stage}.steps is empty")
    return steps


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _dir(stage: str) -> str:
    return f'"$HOME/{_STATE_DIR}/{check_stage(stage)}"'


def start_script(stage: str, steps: list[Step]) -> str:
    """A command for `exec` that (re)starts the stage detached and returns at once.

    User commands travel base64-encoded into files and run with `bash FILE`, so nothing of them
    is ever interpolated into shell text here.
    """
    d = _dir(stage)
    runner = ["d=" + d, 'echo $$ > "$d/pid"', 'date -u +%FT%TZ > "$d/started"']
    for i in range(len(steps)):
        runner += [
            f'date -u +%FT%TZ > "$d/{i}.started"',
            f'(cd "$HOME" && exec bash "$d/{i}.cmd") > "$d/{i}.log" 2>&1 < /dev/null',
            f'rc=$?; echo $rc > "$d/{i}.exit"; date -u +%FT%TZ > "$d/{i}.finished"',
            'if [ $rc -ne 0 ]; then date -u +%FT%TZ > "$d/finished"; exit $rc; fi',
        ]
    runner.append('date -u +%FT%TZ > "$d/finished"')
    parts = [stop_script(stage), f"rm -rf {d}", f"mkdir -p {d}", f'd={d}',
             f'echo {len(steps)} > "$d/steps"']  # fmt: skip
    for i, step in enumerate(steps):
        parts.append(f'echo {_b64(step.command)} | base64 -d > "$d/{i}.cmd"')
    parts.append(f'echo {_b64(chr(10).join(runner))} | base64 -d > "$d/run.sh"')
    parts.append('setsid sh "$d/run.sh" > /dev/null 2>&1 < /dev/null &')
    return "\n".join(parts)


def stop_script(stage: str) -> str:
    """Kill the stage's process group (if any) and mark unfinished steps aborted."""
    d = _dir(stage)
    return (
        f'd={d}; if [ -f "$d/pid" ] && [ ! -f "$d/finished" ]; then '
        f'kill -TERM -"$(cat "$d/pid")" 2>/dev/null; touch "$d/aborted"; '
        f'date -u +%FT%TZ > "$d/finished"; fi; true'
    )


def status_script(stage: str) -> str:
    """Prints `key value` lines parsed by `parse_status`."""
    d = _dir(stage)
    return (
        f'd={d}; [ -f "$d/steps" ] || exit 0; n=$(cat "$d/steps"); echo "steps $n"; '
        f'for f in started finished aborted; do [ -f "$d/$f" ] && echo "$f $(cat "$d/$f")"; done; '
        f'if [ -f "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null; then echo alive 1; fi; '
        f"i=0; while [ $i -lt $n ]; do "
        f"for f in started finished exit; do "
        f'[ -f "$d/$i.$f" ] && echo "$i.$f $(cat "$d/$i.$f")"; done; '
        f"i=$((i+1)); done; true"
    )


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_status(output: str) -> StageStatus:
    facts: dict[str, str] = {}
    for line in output.splitlines():
        key, _, value = line.partition(" ")
        facts[key] = value.strip() if value else "1"
    if "steps" not in facts:
        return StageStatus("waiting", ())
    n = int(facts["steps"])
    alive = "alive" in facts
    aborted = "aborted" in facts
    steps = []
    for i in range(n):
        started = facts.get(f"{i}.started")
        exit_code = facts.get(f"{i}.exit")
        if exit_code is not None:
            state = "success" if exit_code == "0" else "failure"
        elif started and alive and not aborted:
            state = "running"
        elif started or aborted:
            state = "aborted"
        else:
            state = "waiting"
        steps.append(StepStatus(state, _time(started), _time(facts.get(f"{i}.finished"))))
    states = [s.state for s in steps]
    if "failure" in states:
        overall = "failure"
    elif "aborted" in states or (aborted and "success" not in states):
        overall = "aborted"
    elif states and all(s == "success" for s in states):
        overall = "success"
    elif "running" in states:
        overall = "running"
    elif not alive and "finished" not in facts and any(s == "waiting" for s in states):
        overall = "aborted" if "started" in facts else "waiting"
    else:
        overall = "running" if alive else "waiting"
    return StageStatus(
        overall, tuple(steps), _time(facts.get("started")), _time(facts.get("finished"))
    )


def log_script(stage: str, step: int, offset: int, limit: int = 65536) -> str:
    """Bytes of a step's log from `offset`, then a marker line telling whether it is final."""
    d = _dir(stage)
    return (
        f'd={d}; f="$d/{int(step)}.log"; [ -f "$f" ] && tail -c +{int(offset) + 1} "$f" | '
        f"head -c {int(limit)}; echo; "
        f'if [ -f "$d/{int(step)}.exit" ] || [ -f "$d/aborted" ]; then echo "@@hemisphere:final"; '
        f'else echo "@@hemisphere:more"; fi'
    )
