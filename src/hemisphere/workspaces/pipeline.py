"""Codesphere-style pipelines, the I/O half: run, stop, report on and tail a stage of a
workspace through the runtime's `exec` (see ci_config.py for why the state lives in the sandbox).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from hemisphere.workspaces import ci_config
from hemisphere.workspaces.errors import InvalidWorkspaceInput
from hemisphere.workspaces.runtime.base import ExecResult, WorkspaceRuntime

_CONTROL_TIMEOUT_S = 15.0
_FINAL = "@@hemisphere:final"
_MORE = "@@hemisphere:more"


@dataclass(frozen=True)
class LogChunk:
    text: str
    final: bool


class Pipeline:
    def __init__(self, runtime: WorkspaceRuntime) -> None:
        self.runtime = runtime

    async def _exec(self, workspace_id: int, command: str, env: dict[str, str]) -> ExecResult:
        return await self.runtime.exec(
            workspace_id, command, env=env, working_dir=None, timeout_s=_CONTROL_TIMEOUT_S
        )

    async def start(
        self, workspace_id: int, stage: str, profile: str | None, env: dict[str, str]
    ) -> int:
        """Start `stage`; returns the number of steps. Raises InvalidWorkspaceInput for a
        missing or malformed ci.yml, naming the file and field."""
        ci_config.check_stage(stage)
        filename = ci_config.config_file(profile)
        read = await self._exec(workspace_id, f'cat -- "$HOME/{filename}"', env)
        if read.exit_code != 0:
            raise InvalidWorkspaceInput(
                f"no {filename} in the workspace's home directory; create one with the stages "
                f"prepare/test/run, each a list of steps with a 'command'",
                field="profile",
            )
        steps = ci_config.parse_steps(read.output, filename, stage)
        res = await self._exec(workspace_id, ci_config.start_script(stage, steps), env)
        if res.exit_code != 0:
            raise InvalidWorkspaceInput(f"could not start the {stage} stage: {res.error.strip()}")
        return len(steps)

    async def stop(self, workspace_id: int, stage: str) -> None:
        await self._exec(workspace_id, ci_config.stop_script(stage), {})

    async def status(self, workspace_id: int, stage: str) -> ci_config.StageStatus:
        res = await self._exec(workspace_id, ci_config.status_script(stage), {})
        return ci_config.parse_status(res.output)

    async def read_log(self, workspace_id: int, stage: str, step: int, offset: int) -> LogChunk:
        res = await self._exec(workspace_id, ci_config.log_script(stage, step, offset), {})
        out = res.output
        for marker, final in ((_FINAL, True), (_MORE, False)):
            idx = out.rfind("\n" + marker)
            if idx >= 0:
                return LogChunk(out[:idx], final)
        return LogChunk("", True)

    async def follow(
        self, workspace_id: int, stage: str, step: int, poll_s: float = 0.5
    ) -> AsyncIterator[str]:
        """Yield the step's log in chunks until the step has finished and all was read."""
        offset = 0
        while True:
            chunk = await self.read_log(workspace_id, stage, step, offset)
            if chunk.text:
                offset += len(chunk.text.encode())
                yield chunk.text
                continue
            if chunk.final:
                return
            await asyncio.sleep(poll_s)
