"""The log formatter redacts secrets by field name and by value pattern (issue 10, finding 9),
whatever the caller passed: before, `extra` went out verbatim."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest

from hemisphere.observability.logs import JsonFormatter, protect

SEAL_KEY = "q3Jv0yq1sXoOa9Pp0YqV1m3wZ0fJd2u5Qk7xW4yT6cE="
TOKEN = "hsp_Zk3mQ9vX2pLr8sT1uW4yB6nC0dF5gH7j"
PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"

# (extra passed to the log call, the secret that must not appear, a fact that must stay)
CASES: tuple[tuple[dict[str, Any], str, str], ...] = (
    ({"password": "hunter2hunter2", "user_id": 7}, "hunter2hunter2", '"user_id": 7'),
    ({"Password": "Tr0ub4dor&3x", "route": "/x"}, "Tr0ub4dor&3x", "/x"),
    ({"apiToken": "plain-token-value", "who": "ann"}, "plain-token-value", "ann"),
    ({"client_secret": "s3cr3t-v4lue", "n": 1}, "s3cr3t-v4lue", '"n": 1'),
    ({"headers": {"Authorization": "whatever-it-is"}}, "whatever-it-is", "headers"),
    ({"headers": {"cookie": "hemisphere_session=abcdefgh"}}, "abcdefgh", "headers"),
    ({"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMIK7MDENG"}, "wJalrXUtnFEMIK7MDENG", "AWS_SECRET"),
    ({"signingKey": "some-key-material"}, "some-key-material", "signingKey"),
    ({"nested": [{"credentials": {"user": "u", "pass": "x"}}]}, '"pass": "x"', "nested"),
    # by value, under innocent names
    ({"detail": f"used {TOKEN} to log in"}, TOKEN, "used hsp_***"),
    ({"note": "sent Authorization: Bearer abc.def.ghi"}, "abc.def.ghi", "Bearer ***"),
    ({"url": "https://bob:ghp_S3cr3t@git.example/r.git"}, "ghp_S3cr3t", "git.example/r.git"),
    ({"reason": "git clone https://x-token@h/r failed"}, "x-token", "https://***@h/r"),
    ({"blob": f"key follows {PEM} end"}, "b3BlbnNzaC1rZXktdjEAAAAA", "[private key redacted]"),
    ({"loaded": SEAL_KEY}, SEAL_KEY, "loaded"),
    ({"values": ("a", f"x{TOKEN}")}, TOKEN, '"a"'),
)


def _format(msg: str, extra: dict[str, Any], exc: bool = False) -> str:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, msg, None, None)
    record.__dict__.update(extra)
    if exc:
        try:
            raise RuntimeError(f"clone of https://alice:{TOKEN}@h/r failed")
        except RuntimeError:
            record.exc_info = sys.exc_info()
    return JsonFormatter().format(record)


@pytest.mark.parametrize(("extra", "secret", "kept"), CASES)
def test_secrets_are_redacted(extra: dict[str, Any], secret: str, kept: str) -> None:
    line = _format("event", extra)
    assert secret not in line
    assert kept in line
    json.loads(line)


def test_the_message_and_the_traceback_are_scrubbed() -> None:
    line = _format(f"login with {TOKEN} from https://u:pw1234567@h/x", {}, exc=True)
    assert TOKEN not in line and "pw1234567" not in line
    entry = json.loads(line)
    assert "RuntimeError" in entry["exc"]
    assert entry["msg"] == "login with hsp_*** from https://***@h/x"


def test_protected_literals_are_redacted_anywhere() -> None:
    protect("an-agent-token-value-1234")
    line = _format("agent said an-agent-token-value-1234", {"x": ["an-agent-token-value-1234"]})
    assert "an-agent-token-value-1234" not in line


def test_ordinary_facts_are_untouched() -> None:
    extra = {"method": "GET", "route": "/api/teams/{team_id}", "status": 200, "keys_seen": 3}
    entry = json.loads(_format("request", extra))
    assert {k: entry[k] for k in extra} == extra
