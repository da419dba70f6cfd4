"""`GET /api/federation/changes`: the identity change feed, for DCs' agents (long-poll by cursor).

Authenticated like the heartbeat: the bearer token must be one DC's agent token (the per-DC files
in HEMISPHERE_AGENT_TOKENS_DIR, from the vault). The token says which DC is asking; any DC may
read the whole feed, since every DC replicates all of identity.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from hemisphere.federation.feed import MAX_LIMIT, MAX_WAIT_S, FeedSigner, read_changes
from hemisphere.webapi.deps import db_of
from hemisphere.webapi.problems import ApiProblem

router = APIRouter(prefix="/api/federation", tags=["federation"])


def agent_datacenter(request: Request) -> int:
    """The DC whose agent token the request carries; 401 naming the problem otherwise."""
    auth = request.headers.get("Authorization", "")
    sent = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
    if not sent:
        raise ApiProblem(401, "missing agent token: send 'Authorization: Bearer <DC agent token>'")
    tokens_dir: str = getattr(request.app.state, "agent_tokens_dir", "")
    for path in sorted(Path(tokens_dir).glob("dc-*")) if tokens_dir else []:
        try:
            expected = path.read_text().strip()
            dc_id = int(path.name.removeprefix("dc-"))
        except (OSError, ValueError):
            continue
        if expected and hmac.compare_digest(sent.encode(), expected.encode()):
            return dc_id
    raise ApiProblem(401, "not a valid agent token of any data center")


@router.get("/changes")
async def changes(
    request: Request,
    after: Annotated[int, Query(ge=0, description="The last seq the caller applied.")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S, description="Long-poll seconds.")] = 0.0,
) -> dict[str, Any]:
    agent_datacenter(request)
    signer: FeedSigner = request.app.state.feed_signer
    page = await read_changes(db_of(request), signer, after=after, limit=limit, wait_s=wait)
    return {"entries": page.entries, "head": page.head, "keyId": signer.key_id}
