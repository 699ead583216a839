"""Drives the client that openapi-python-client generates from openapi/secret-groups.yaml
against a running server: create, list, get, update, read a secret, delete, 404.

Run by scripts/contract/python-client.sh, which generates the package `secret_groups_client`,
puts it on PYTHONPATH, type-checks this file with `mypy --strict` and runs it with SG_URL and
SG_TOKEN of a fresh server. Every step asserts; a failure exits non-zero with the reason.
"""

from __future__ import annotations

import os
import secrets
import sys
from typing import TypeVar

from secret_groups_client import AuthenticatedClient
from secret_groups_client.api.secret_groups import (
    create_secret_group,
    delete_secret_group,
    get_secret_group,
    list_secret_groups,
    update_secret_group,
)
from secret_groups_client.api.secrets import get_secret
from secret_groups_client.models import (
    CreateSecretGroupRequest,
    DeleteSecretGroupResponse,
    HttpError,
    ListSecretGroupsResponse,
    SecretGroup,
    SecretGroupResponse,
    SecretInput,
    SecretResponse,
    UpdateSecretGroupRequest,
    UpdateSecretInput,
)
from secret_groups_client.types import Unset

T = TypeVar("T")


def ok(what: str, answer: T | HttpError | None, kind: type[T]) -> T:
    """The parsed 200 answer, or a failure naming the operation and what came back."""
    if isinstance(answer, HttpError):
        raise AssertionError(f"{what}: HTTP {answer.status_code} {answer.code!r}: {answer.message}")
    if not isinstance(answer, kind):
        raise AssertionError(f"{what}: expected {kind.__name__}, got {answer!r}")
    return answer


def keys(group: SecretGroup) -> list[str]:
    return [s.name for s in group.associated_secrets]


def main() -> None:
    client = AuthenticatedClient(
        base_url=os.environ["SG_URL"],
        token=os.environ["SG_TOKEN"],
        raise_on_unexpected_status=True,
    )
    name = f"py-client-{secrets.token_hex(4)}"

    with client as c:
        # create with two secrets
        created = ok(
            "createSecretGroup",
            create_secret_group.sync(
                client=c,
                body=CreateSecretGroupRequest(
                    name=name,
                    integration_id="internal-secret-store",
                    secrets=[
                        SecretInput(key="API_KEY", value="v1-api"),
                        SecretInput(key="DB_PASSWORD", value="v1-db"),
                    ],
                ),
            ),
            SecretGroupResponse,
        ).data
        assert created.name == name, created.name
        assert created.fqn.endswith(f":{name}"), created.fqn
        assert created.integration_id == "internal-secret-store", created.integration_id
        assert created.manifest.name == name, created.manifest.name
        assert sorted(keys(created)) == ["API_KEY", "DB_PASSWORD"], keys(created)
        for s in created.associated_secrets:
            assert isinstance(s.value, Unset), f"group answer carries a value for {s.name}"
            assert s.secret_group_id == created.id
        group_id = created.id

        # list: find it by search and by fqn
        found = ok(
            "listSecretGroups(search)",
            list_secret_groups.sync(client=c, search=name, limit=10),
            ListSecretGroupsResponse,
        )
        assert [g.id for g in found.data] == [group_id], [g.fqn for g in found.data]
        assert found.pagination.total == 1 and found.pagination.limit == 10, found.pagination
        by_fqn = ok(
            "listSecretGroups(fqn)",
            list_secret_groups.sync(client=c, fqn=created.fqn),
            ListSecretGroupsResponse,
        )
        assert [g.id for g in by_fqn.data] == [group_id], [g.fqn for g in by_fqn.data]

        # get
        got = ok("getSecretGroup", get_secret_group.sync(group_id, client=c), SecretGroupResponse).data
        assert got.id == group_id and got.fqn == created.fqn, got
        assert sorted(keys(got)) == ["API_KEY", "DB_PASSWORD"], keys(got)

        # update: change API_KEY, keep DB_PASSWORD (no value)
        updated = ok(
            "updateSecretGroup",
            update_secret_group.sync(
                group_id,
                client=c,
                body=UpdateSecretGroupRequest(
                    secrets=[
                        UpdateSecretInput(key="API_KEY", value="v2-api"),
                        UpdateSecretInput(key="DB_PASSWORD"),
                    ]
                ),
            ),
            SecretGroupResponse,
        ).data
        assert sorted(keys(updated)) == ["API_KEY", "DB_PASSWORD"], keys(updated)
        ids = {s.name: s.id for s in updated.associated_secrets}

        # the changed secret: new value, two versions
        api_key = ok("getSecret(API_KEY)", get_secret.sync(ids["API_KEY"], client=c), SecretResponse).data
        assert api_key.value == "v2-api", api_key.value
        assert not isinstance(api_key.secret_versions, Unset), "getSecret has no secretVersions"
        versions = [(v.version, v.value) for v in api_key.secret_versions]
        assert versions == [(1, "v1-api"), (2, "v2-api")], versions
        assert api_key.fqn == f"{created.fqn}:API_KEY", api_key.fqn

        # the kept secret: old value, one version
        db = ok("getSecret(DB_PASSWORD)", get_secret.sync(ids["DB_PASSWORD"], client=c), SecretResponse).data
        assert db.value == "v1-db", db.value
        assert not isinstance(db.secret_versions, Unset), "getSecret has no secretVersions"
        assert [v.version for v in db.secret_versions] == [1], db.secret_versions

        # delete, then get answers 404 as an HttpError
        gone_answer = ok(
            "deleteSecretGroup",
            delete_secret_group.sync(group_id, client=c),
            DeleteSecretGroupResponse,
        )
        assert gone_answer.to_dict() == {}, gone_answer.to_dict()
        deleted = delete_secret_group.sync_detailed(group_id, client=c)
        assert deleted.status_code == 404, f"second delete: {deleted.status_code}"
        gone = get_secret_group.sync_detailed(group_id, client=c)
        assert gone.status_code == 404, f"get after delete: {gone.status_code} {gone.content!r}"
        assert isinstance(gone.parsed, HttpError), gone.parsed
        assert gone.parsed.status_code == 404 and gone.parsed.code == "not_found", gone.parsed

    print(f"python-client: group {name} created, listed, read, updated, read back and deleted")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"python-client: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
