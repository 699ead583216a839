"""Fixtures for the TrueFoundry CLI suite.

The suite drives TrueFoundry's own command-line tool, `tfy` (PyPI `truefoundry`, pinned in
requirements.txt), unmodified, as a subprocess against a running secret-groups server.
`scripts/tfy-cli-tests.sh` starts the server and sets:

- `SG_URL`: the server root, e.g. `http://127.0.0.1:8080` (what `tfy login --host` takes);
- `SG_TOKEN`: the bootstrap admin's token, used only to check results through the API;
- `SG_SERVER_BIN`, `SG_DATABASE_URL` (and `SG_MASTER_KEY_FILE`): for the operator CLI, which
  makes the token `tfy login` uses (`tokens create`), as a new user would get one.

Every `tfy` run gets a HOME of its own (the CLI keeps its credentials in `~/.truefoundry`) and
no `TFY_*` variable from outside.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import requests

TENANT = os.environ.get("SG_TENANT", "default")
ADMIN_EMAIL = os.environ.get("SG_ADMIN_EMAIL", "admin@localhost")
INTEGRATION_FQN = os.environ.get(
    "SG_INTEGRATION_FQN", "internal:secret-store:internal-secret-store"
)
# Every secret value carries the marker the runner looks for in the server log.
SECRET_MARKER = "sdk-secret-"
TFY = Path(sys.executable).with_name("tfy")


def unique_name(prefix: str) -> str:
    return f"tfy-{prefix}-{uuid.uuid4().hex[:10]}"


def flat(text: str) -> str:
    """Output as one line: rich wraps long lines and draws boxes around errors and diffs."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


@dataclass
class Run:
    args: List[str]
    code: int
    output: str

    @property
    def text(self) -> str:
        return flat(self.output)

    def __str__(self) -> str:
        return f"tfy {' '.join(self.args)} -> exit {self.code}\n{self.output}"


class Tfy:
    """The `tfy` binary with a home directory of its own."""

    def __init__(self, home: Path, host: str):
        self.home = home
        self.host = host

    def __call__(self, *args: str, cwd: Optional[Path] = None) -> Run:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TFY_")}
        # Wide and plain, so messages stay on one line and carry no colour codes.
        env.update(HOME=str(self.home), COLUMNS="200", NO_COLOR="1", TERM="dumb")
        done = subprocess.run(
            [str(TFY), *args],
            env=env,
            cwd=cwd or self.home,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=180,
        )
        return Run(list(args), done.returncode, done.stdout)


class Api:
    """The server's own API, to check what the CLI did (never to do it)."""

    def __init__(self, url: str, token: str):
        self.url = url.rstrip("/") + "/api/svc/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **params: Any) -> Dict[str, Any]:
        response = self.session.get(self.url + path, params=params, timeout=30)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def group(self, name: str) -> Optional[Dict[str, Any]]:
        found = self.get("/secret-groups", fqn=f"{TENANT}:{name}")["data"]
        return found[0] if found else None

    def team(self, name: str) -> Optional[Dict[str, Any]]:
        teams = self.get("/teams/user", limit=1000)["data"]
        return next((t for t in teams if t["name"] == name), None)

    def virtual_account(self, name: str) -> Optional[Dict[str, Any]]:
        accounts = self.get("/virtual-accounts", nameSearchQuery=name)["data"]
        return next((a for a in accounts if a["name"] == name), None)

    def set_secret(self, group_id: str, key: str, value: str) -> Dict[str, Any]:
        response = self.session.put(
            f"{self.url}/secret-groups/{group_id}",
            json={"secrets": [{"key": key, "value": value}]},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def versions(self, secret_id: str) -> List[Dict[str, Any]]:
        return self.get(f"/secrets/{secret_id}")["data"]["secretVersions"]


@pytest.fixture(scope="session")
def url() -> str:
    return os.environ["SG_URL"]


@pytest.fixture(scope="session")
def api(url: str) -> Api:
    return Api(url, os.environ["SG_TOKEN"])


@pytest.fixture(scope="session")
def issued_token() -> str:
    """A token as a new user gets one: from the operator CLI."""
    done = subprocess.run(
        [os.environ["SG_SERVER_BIN"], "tokens", "create", "--email", ADMIN_EMAIL,
         "--name", unique_name("cli"), "--database-url", os.environ["SG_DATABASE_URL"]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="session")
def tfy(tmp_path_factory: pytest.TempPathFactory, url: str) -> Tfy:
    return Tfy(tmp_path_factory.mktemp("home"), url)


@pytest.fixture(scope="session")
def login(tfy: Tfy, url: str, issued_token: str) -> Run:
    """`tfy login` once for the session; the tests that need it take this fixture."""
    return tfy("login", "--host", url, "--api-key", issued_token)


@pytest.fixture()
def logged_in(login: Run) -> None:
    assert login.code == 0, str(login)


def write(directory: Path, filename: str, manifest: str) -> Path:
    path = directory / filename
    path.write_text(manifest)
    return path
