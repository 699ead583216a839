"""The SDK's generic operations, `client.apply` and `client.delete`, with its typed manifests
(`SecretGroupManifest`, `TeamManifest`, `VirtualAccountManifest`): the same answers as the
type-specific operations, `action` and `existing_manifest` for `tfy apply --show-diff`, dry
runs that store nothing, and a clear 422 for a type this server does not own.
"""

from __future__ import annotations

import pytest
from truefoundry_sdk import (
    Collaborator,
    Permissions,
    SecretGroupManifest,
    TeamManifest,
    VirtualAccountManifest,
)
from truefoundry_sdk.core.api_error import ApiError

from conftest import ADMIN_SUBJECT, INTEGRATION_FQN, NO_RETRY, make_client, unique_name


def group_manifest(name: str, *collaborators: Collaborator) -> SecretGroupManifest:
    return SecretGroupManifest(
        name=name,
        integration_fqn=INTEGRATION_FQN,
        collaborators=[Collaborator(subject=ADMIN_SUBJECT, role_id="secret-group-admin"), *collaborators],
    )


def field(obj, name: str):
    """A field of an answer member the SDK parsed into one type of its union (or kept as extra,
    or as a plain dict)."""
    if isinstance(obj, dict):
        return obj.get(name)
    value = getattr(obj, name, None)
    if value is None and getattr(obj, "model_extra", None):
        value = obj.model_extra.get(name)
    return value


def groups_named(client, tenant: str, name: str) -> list:
    return list(client.secret_groups.list(fqn=f"{tenant}:{name}"))


def test_apply_creates_then_updates_a_group_and_shows_what_was_there(client, tenant):
    name = unique_name("apply")
    created = client.apply(manifest=group_manifest(name), request_options=NO_RETRY)
    assert created.action == "CREATE"
    assert created.existing_manifest is None
    assert field(created.data, "name") == name
    [group] = groups_named(client, tenant, name)

    team = unique_name("team")
    client.apply(manifest=TeamManifest(name=team, members=[]), request_options=NO_RETRY)
    changed = group_manifest(name, Collaborator(subject=f"team:{team}", role_id="secret-group-viewer"))
    updated = client.apply(manifest=changed, request_options=NO_RETRY)
    assert updated.action == "UPDATE"
    assert field(updated.existing_manifest, "name") == name
    before = field(updated.existing_manifest, "collaborators")
    assert [field(c, "subject") for c in before] == [ADMIN_SUBJECT]
    [again] = groups_named(client, tenant, name)
    assert again.id == group.id
    assert {field(c, "subject"): field(c, "role_id") for c in field(again.manifest, "collaborators")} == {
        ADMIN_SUBJECT: "secret-group-admin",
        f"team:{team}": "secret-group-viewer",
    }

    client.delete(manifest=SecretGroupManifest(name=name, integration_fqn=INTEGRATION_FQN), request_options=NO_RETRY)
    client.delete(manifest=TeamManifest(name=team, members=[]), request_options=NO_RETRY)
    assert groups_named(client, tenant, name) == []


def test_dry_run_apply_stores_nothing(client, tenant):
    name = unique_name("dry")
    answer = client.apply(manifest=group_manifest(name), dry_run=True, request_options=NO_RETRY)
    assert answer.action == "CREATE"
    assert field(answer.data, "name") == name
    assert groups_named(client, tenant, name) == []


def test_team_and_virtual_account_manifests(client, server_url, tenant):
    team, group, account = unique_name("team"), unique_name("grp"), unique_name("va")
    assert client.apply(manifest=TeamManifest(name=team, members=[]), request_options=NO_RETRY).action == "CREATE"
    client.apply(manifest=group_manifest(name=group), request_options=NO_RETRY)
    va = VirtualAccountManifest(
        name=account,
        permissions=[Permissions(resource_fqn=f"{tenant}:{group}", resource_type="secret-group", role_id="secret-group-viewer")],
    )
    created = client.apply(manifest=va, request_options=NO_RETRY)
    assert created.action == "CREATE"
    # The new account's token is in the answer once (an extra field to the SDK).
    token = (created.model_extra or {}).get("token")
    assert token and token.startswith("tfy_sg_")
    as_account = make_client(server_url, token)
    assert [g.fqn for g in as_account.secret_groups.list(fqn=f"{tenant}:{group}")] == [f"{tenant}:{group}"]

    again = client.apply(manifest=va, request_options=NO_RETRY)
    assert again.action == "UPDATE" and not (again.model_extra or {}).get("token")

    client.delete(manifest=VirtualAccountManifest(name=account), request_options=NO_RETRY)
    with pytest.raises(ApiError) as exc:
        list(as_account.secret_groups.list(request_options=NO_RETRY))
    assert exc.value.status_code == 401, "a deleted account's token still works"
    client.delete(manifest=SecretGroupManifest(name=group, integration_fqn=INTEGRATION_FQN), request_options=NO_RETRY)
    client.delete(manifest=TeamManifest(name=team, members=[]), request_options=NO_RETRY)
    with pytest.raises(ApiError) as exc:
        client.delete(manifest=TeamManifest(name=team, members=[]), request_options=NO_RETRY)
    assert exc.value.status_code == 404


def test_other_manifest_types_are_refused_and_nothing_is_stored(client, tenant):
    name = unique_name("cluster")
    with pytest.raises(ApiError) as exc:
        client.apply(manifest={"type": "cluster", "name": name}, request_options=NO_RETRY)
    assert exc.value.status_code == 422
    assert "secret-group, team, virtual-account" in exc.value.body["message"], exc.value.body
    with pytest.raises(ApiError) as exc:
        client.delete(manifest={"type": "cluster", "name": name}, request_options=NO_RETRY)
    assert exc.value.status_code == 422
    assert groups_named(client, tenant, name) == []
