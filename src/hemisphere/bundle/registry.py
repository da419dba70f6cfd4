"""A small client for the OCI distribution API (https://github.com/opencontainers/distribution-spec).

Only what mirroring needs: check for, mount, upload (chunked and resumable) and download blobs,
and get and put manifests. Authentication handles the two challenges registries send: Basic,
and Bearer tokens from the realm named in `WWW-Authenticate` (anonymous or with credentials).
httpx exceptions are translated here into `RegistryUnreachable`; unexpected statuses into
`RegistryError` carrying the registry's own error text.
"""

from __future__ import annotations

import hashlib
import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx

from hemisphere.bundle.errors import RegistryError, RegistryUnreachable
from hemisphere.bundle.ocilayout import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST

MANIFEST_ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Manifest:
    data: bytes
    media_type: str
    digest: str


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
        errors = body.get("errors") or []
        if errors:
            return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
    except (ValueError, AttributeError):
        pass
    return response.text[:300].strip() or response.reason_phrase


class RegistryClient:
    """One registry host; `scheme` is found on first use (https, or http when `insecure`)."""

    def __init__(
        self,
        host: str,
        *,
        insecure: bool = False,
        ca_file: Path | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.host = host
        self.insecure = insecure
        verify: bool | ssl.SSLContext = True
        if insecure:
            verify = False
        elif ca_file is not None:
            verify = ssl.create_default_context(cafile=str(ca_file))
        self._client = httpx.Client(verify=verify, timeout=timeout, follow_redirects=True)
        self._auth: tuple[str, str] | None = (
            (username, password or "") if username is not None else None
        )
        self._tokens: dict[str, str] = {}
        self._basic = False
        self._base: str | None = None

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ping(self) -> None:
        """Fail fast (RegistryUnreachable) if the registry does not answer at all."""
        _ = self.base

    # -- plumbing -------------------------------------------------------------------------

    @property
    def base(self) -> str:
        if self._base is None:
            self._base = self._discover_base()
        return self._base

    def _discover_base(self) -> str:
        schemes = ("https", "http") if self.insecure else ("https",)
        last: Exception | None = None
        for scheme in schemes:
            try:
                self._client.get(f"{scheme}://{self.host}/v2/")
                return f"{scheme}://{self.host}"
            except httpx.TransportError as exc:
                last = exc
        hint = ""
        if not self.insecure and "ssl" in str(last).lower():
            hint = " (a plain-HTTP registry needs --insecure; a private CA needs --ca-file)"
        raise RegistryUnreachable(f"registry {self.host} does not answer: {last}{hint}")

    def _url(self, path_or_url: str) -> str:
        return urljoin(self.base + "/", path_or_url)

    def _authenticate(self, response: httpx.Response, scope: str) -> bool:
        challenge = response.headers.get("www-authenticate", "")
        kind = challenge.split(" ", 1)[0].lower()
        if kind == "basic" and self._auth is not None and not self._basic:
            self._basic = True
            return True
        if kind != "bearer":
            return False
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        realm = params.pop("realm", None)
        if realm is None:
            return False
        params.setdefault("scope", scope)
        try:
            token_response = self._client.get(
                realm, params=params, auth=self._auth if self._auth else None
            )
        except httpx.TransportError as exc:
            raise RegistryUnreachable(f"token service {realm} does not answer: {exc}") from exc
        if token_response.status_code != 200:
            raise RegistryError(
                f"token service {realm} refused {scope}: {_error_text(token_response)}",
                token_response.status_code,
            )
        body: dict[str, Any] = token_response.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError(f"token service {realm} returned no token")
        self._tokens[scope] = str(token)
        return True

    def _headers(self, scope: str, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if scope in self._tokens:
            headers["Authorization"] = f"Bearer {self._tokens[scope]}"
        return headers

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        scope: str,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        expect: tuple[int, ...] = (200,),
        allow: tuple[int, ...] = (),
    ) -> httpx.Response:
        url = self._url(path_or_url)
        for attempt in range(2):
            auth = self._auth if self._basic and self._auth else None
            try:
                response = self._client.request(
                    method, url, headers=self._headers(scope, headers), content=content, auth=auth
                )
            except httpx.TransportError as exc:
                raise RegistryUnreachable(f"{method} {url}: {exc}") from exc
            if response.status_code == 401 and attempt == 0 and self._authenticate(response, scope):
                continue
            break
        if response.status_code not in expect and response.status_code not in allow:
            raise RegistryError(
                f"{self.host}: {method} {urlsplit(url).path} answered {response.status_code}: "
                f"{_error_text(response)}",
                response.status_code,
            )
        return response

    @staticmethod
    def _pull(repo: str) -> str:
        return f"repository:{repo}:pull"

    @staticmethod
    def _push(repo: str) -> str:
        return f"repository:{repo}:pull,push"

    # -- blobs --------------------------------------------------------------------------

    def has_blob(self, repo: str, digest: str) -> bool:
        response = self.request(
            "HEAD", f"/v2/{repo}/blobs/{digest}", scope=self._push(repo), allow=(404,)
        )
        return response.status_code == 200

    def mount_blob(self, repo: str, digest: str, from_repo: str) -> bool:
        """Cross-repository mount; False (and the opened upload is cancelled) if refused."""
        query = urlencode({"mount": digest, "from": from_repo})
        response = self.request(
            "POST",
            f"/v2/{repo}/blobs/uploads/?{query}",
            scope=self._push(repo),
            expect=(201, 202),
        )
        if response.status_code == 201:
            return True
        location = response.headers.get("location")
        if location:
            self.request("DELETE", location, scope=self._push(repo), expect=(204,), allow=(404,))
        return False

    def start_upload(self, repo: str) -> str:
        response = self.request(
            "POST", f"/v2/{repo}/blobs/uploads/", scope=self._push(repo), expect=(202,)
        )
        return self._location(response)

    def _location(self, response: httpx.Response) -> str:
        location = response.headers.get("location")
        if not location:
            raise RegistryError(f"{self.host}: upload answer without a Location header")
        return urljoin(str(response.request.url), str(location))

    def upload_status(self, repo: str, location: str) -> tuple[str, int] | None:
        """Where an earlier upload stands: (location, bytes received), or None if it is gone."""
        response = self.request(
            "GET", location, scope=self._push(repo), expect=(204,), allow=(400, 404)
        )
        if response.status_code != 204:
            return None
        received = response.headers.get("range", "0-0")
        # "0-0" means both "nothing yet" and "one byte" (distribution's quirk); treat it as
        # nothing: a wrong guess makes the next PATCH fail and the caller restarts the blob.
        try:
            offset = 0 if received == "0-0" else int(received.split("-", 1)[1]) + 1
        except (IndexError, ValueError):
            return None
        return self._location(response), offset

    def upload_chunk(self, repo: str, location: str, data: bytes, start: int) -> str:
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{start}-{start + len(data) - 1}",
        }
        response = self.request(
            "PATCH", location, scope=self._push(repo), headers=headers, content=data, expect=(202,)
        )
        return self._location(response)

    def finish_upload(self, repo: str, location: str, digest: str, data: bytes = b"") -> None:
        parts = urlsplit(location)
        query = urlencode([*parse_qsl(parts.query), ("digest", digest)])
        url = urlunsplit(parts._replace(query=query))
        headers = {"Content-Type": "application/octet-stream"}
        self.request(
            "PUT", url, scope=self._push(repo), headers=headers, content=data, expect=(201,)
        )

    @contextmanager
    def blob_stream(self, repo: str, digest: str) -> Iterator[Iterator[bytes]]:
        url = self._url(f"/v2/{repo}/blobs/{digest}")
        for attempt in range(2):
            request = self._client.build_request(
                "GET", url, headers=self._headers(self._pull(repo), None)
            )
            try:
                response = self._client.send(
                    request, stream=True, auth=self._auth if self._basic else None
                )
            except httpx.TransportError as exc:
                raise RegistryUnreachable(f"GET {url}: {exc}") from exc
            if (
                response.status_code == 401
                and attempt == 0
                and self._authenticate(response, self._pull(repo))
            ):
                response.close()
                continue
            break
        try:
            if response.status_code != 200:
                response.read()
                raise RegistryError(
                    f"{self.host}: blob {digest} of {repo}: {response.status_code} "
                    f"{_error_text(response)}",
                    response.status_code,
                )
            yield response.iter_bytes(1024 * 1024)
        except httpx.TransportError as exc:
            raise RegistryUnreachable(f"GET {url}: {exc}") from exc
        finally:
            response.close()

    # -- manifests ----------------------------------------------------------------------

    def get_manifest(self, repo: str, reference: str) -> Manifest:
        response = self.request(
            "GET",
            f"/v2/{repo}/manifests/{reference}",
            scope=self._pull(repo),
            headers={"Accept": MANIFEST_ACCEPT},
        )
        data = response.content
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if reference.startswith("sha256:") and reference != digest:
            raise RegistryError(f"{self.host}/{repo}@{reference}: the registry sent {digest}")
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        return Manifest(data=data, media_type=media_type, digest=digest)

    def manifest_digest(self, repo: str, reference: str) -> str | None:
        response = self.request(
            "HEAD",
            f"/v2/{repo}/manifests/{reference}",
            scope=self._pull(repo),
            headers={"Accept": MANIFEST_ACCEPT},
            allow=(404,),
        )
        if response.status_code == 404:
            return None
        digest = response.headers.get("docker-content-digest")
        return str(digest) if digest is not None else None

    def put_manifest(self, repo: str, reference: str, data: bytes, media_type: str) -> str:
        response = self.request(
            "PUT",
            f"/v2/{repo}/manifests/{reference}",
            scope=self._push(repo),
            headers={"Content-Type": media_type},
            content=data,
            expect=(201,),
        )
        expected = "sha256:" + hashlib.sha256(data).hexdigest()
        got = response.headers.get("docker-content-digest", expected)
        if got != expected:
            raise RegistryError(
                f"{self.host}/{repo}:{reference}: registry stored digest {got}, pushed {expected}"
            )
        return expected
