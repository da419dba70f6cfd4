"""/metrics behind HEMISPHERE_METRICS_TOKEN (issue 10, finding 13): with a token configured a
scrape without it, or with another one, is 401 in the problem envelope; with it, the metrics."""

from __future__ import annotations

import httpx

from hemisphere.observability.metrics import scrape_allowed
from hemisphere.webapi.app import create_app


async def scrape(token: str, headers: dict[str, str]) -> httpx.Response:
    app = create_app(title="t", max_body_bytes=1 << 20, ready_checks=[], metrics_token=token)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/metrics", headers=headers)


async def test_metrics_need_the_token_when_one_is_configured() -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic c2VjcmV0"}):
        refused = await scrape("s3cret-token", headers)
        assert refused.status_code == 401, headers
        body = refused.json()
        assert body["status"] == 401 and "HEMISPHERE_METRICS_TOKEN" in body["detail"]
        assert "hemisphere_http_requests_total" not in refused.text
    allowed = await scrape("s3cret-token", {"Authorization": "Bearer s3cret-token"})
    assert allowed.status_code == 200
    assert "hemisphere_http_requests_total" in allowed.text


async def test_metrics_are_open_without_a_token() -> None:
    assert (await scrape("", {})).status_code == 200


def test_scrape_allowed_table() -> None:
    rows = (
        (None, "", True),
        ("Bearer x", "", True),
        (None, "t", False),
        ("Bearer t", "t", True),
        ("bearer t", "t", True),
        ("Bearer t2", "t", False),
        ("Bearer", "t", False),
        ("t", "t", False),
    )
    for header, token, expected in rows:
        assert scrape_allowed(header, token) is expected, (header, token)
