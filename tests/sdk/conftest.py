"""Fixtures for the TrueFoundry SDK compatibility suite.

The suite drives the official, unmodified `truefoundry-sdk` against a running
secret-groups server. `scripts/sdk-tests.sh` starts the server and sets:

- `SG_URL`: the server root, e.g. `http://127.0.0.1:8080` (the SDK adds `/api/svc/v1/...`);
- `SG_TOKEN`: a valid bearer token of a tenant admin;
- `SG_TENANT` (optional, default `default`): the tenant the token belongs to.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import httpx
import pytest
from truefoundry_sdk import SecretInput, TrueFoundry
from truefoundry_sdk.core.api_error import ApiError

# Every secret value used by the suite contains this marker, so the runner can
# check that no value ever reaches the server log.
SECRET_MARKER = "sdk-secret-"

# Per-call options for calls that are expected to fail with a status the SDK
# retries (409, 5xx): without this, a 409 costs three attempts and ~3 s.
NO_RETRY = {"max_retries": 0}

INTEGRATION_ID = os.environ.get("SG_INTEGRATION_ID", "internal-secret-store")
INTEGRATION_FQN = os.environ.get(
    "SG_INTEGRATION_FQN", "internal:secret-store:internal-secret-store"
)
ADMIN_SUBJECT = "user:" + os.environ.get("SG_ADMIN_EMAIL", "admin@localhost")


def secret_value(label: str = "") -> str:
    """A fresh, unique secret value carrying the leak-check marker."""
    return f"{SECRET_MARKER}{label}{'-' if label else ''}{uuid.uuid4().hex}"


def unique_name(prefix: str) -> str:
    """A group name unique to this run (matches ^[A-Za-z0-9][A-Za-z0-9._-]{1,126}$)."""
    return f"sdk-{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass
class Exchange:
    method: str
    path: str
    query: str
    status: int


@dataclass
class Recorder:
    """Every HTTP exchange the SDK makes, seen through an httpx event hook."""

    exchanges: List[Exchange] = field(default_factory=list)

    def hook(self, response: httpx.Response) -> None:
        request = response.request
        self.exchanges.append(
            Exchange(
                method=request.method,
                path=request.url.path,
                query=request.url.query.decode() if isinstance(request.url.query, bytes) else str(request.url.query),
                status=response.status_code,
            )
        )

    def clear(self) -> None:
        self.exchanges.clear()

    def mark(self) -> int:
        return len(self.exchanges)

    def since(self, mark: int) -> List[Exchange]:
        return self.exchanges[mark:]


@pytest.fixture(scope="session")
def server_url() -> str:
    url = os.environ.get("SG_URL")
    if not url:
        pytest.fail("SG_URL is not set: run the suite through scripts/sdk-tests.sh", pytrace=False)
    return url.rstrip("/")


@pytest.fixture(scope="session")
def token() -> str:
    tok = os.environ.get("SG_TOKEN")
    if not tok:
        pytest.fail("SG_TOKEN is not set: run the suite through scripts/sdk-tests.sh", pytrace=False)
    return tok


@pytest.fixture(scope="session")
def tenant() -> str:
    return os.environ.get("SG_TENANT", "default")


@pytest.fixture(scope="session")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="session")
def client(server_url: str, token: str, recorder: Recorder) -> TrueFoundry:
    http = httpx.Client(timeout=20.0, event_hooks={"response": [recorder.hook]})
    return TrueFoundry(base_url=server_url, api_key=token, timeout=20.0, httpx_client=http)


def make_client(server_url: str, api_key: str) -> TrueFoundry:
    return TrueFoundry(base_url=server_url, api_key=api_key, timeout=20.0)


@pytest.fixture(autouse=True)
def no_server_errors(recorder: Recorder):
    """Fail any test during which the server answered 5xx (the SDK's retries would hide it)."""
    start = recorder.mark()
    yield
    bad = [e for e in recorder.since(start) if e.status >= 500]
    assert not bad, f"server answered 5xx: {bad}"


@pytest.fixture
def make_group(client: TrueFoundry) -> Callable[..., object]:
    """Create a group through the SDK and delete it after the test (if still there)."""
    created: List[str] = []

    def _make(name: Optional[str] = None, secrets: Optional[dict] = None, prefix: str = "grp"):
        name = name or unique_name(prefix)
        secrets = secrets if secrets is not None else {}
        resp = client.secret_groups.create(
            name=name,
            integration_id=INTEGRATION_ID,
            secrets=[SecretInput(key=k, value=v) for k, v in secrets.items()],
            request_options=NO_RETRY,
        )
        assert resp.data.id, "create returned a group without id"
        created.append(resp.data.id)
        return resp.data

    yield _make

    for group_id in created:
        try:
            client.secret_groups.delete(group_id, request_options=NO_RETRY)
        except ApiError:
            pass
