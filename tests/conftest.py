"""Suite-wide fixtures. Domain fixtures live beside their tests; shared service fixtures
(PostgreSQL, registry, Kubernetes harness) live in tests/services/ and are loaded here."""

from __future__ import annotations

pytest_plugins: list[str] = [
    "tests.services.postgres",
    "tests.services.platform",
    "tests.services.kube",
    "tests.services.registry",
]
