"""Compatibility suite: TrueFoundry's official Python SDK (truefoundry-sdk 0.6.0),
unmodified, against a running secret-groups server.

Only the SDK is used to talk to the server. Every group name is unique per test,
so the tests are independent of each other and of what the database holds.
Expected behaviour: docs/reference (TrueFoundry wire facts, section 10b for this
project's decisions) and openapi/secret-groups.yaml.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime

import pytest
from truefoundry_sdk import (
    Collaborator,
    SecretGroupManifest,
    SecretInput,
    TeamManifest,
    UpdateSecretInput,
)
from truefoundry_sdk.core.api_error import ApiError
from truefoundry_sdk.errors import NotFoundError, UnprocessableEntityError

from conftest import (
    ADMIN_SUBJECT,
    INTEGRATION_FQN,
    INTEGRATION_ID,
    NO_RETRY,
    SECRET_MARKER,
    make_client,
    secret_value,
    unique_name,
)

# Upper bound when draining a pager: a pager that does not end yields more than
# this and fails the count assertions instead of hanging the suite.
PAGER_CAP = 200


# ---------------------------------------------------------------- helpers


def group_name(group) -> str:
    """`name` is not a declared field of SecretGroup in SDK 0.6.0; it arrives as an extra."""
    return (group.model_extra or {}).get("name")


def secrets_by_key(group) -> dict:
    return {s.name: s for s in group.associated_secrets}


def manifest(name: str, integration_fqn: str = INTEGRATION_FQN, role: str = "secret-group-admin"):
    return SecretGroupManifest(
        name=name,
        integration_fqn=integration_fqn,
        collaborators=[Collaborator(subject=ADMIN_SUBJECT, role_id=role)],
    )


def drain(pager, cap: int = PAGER_CAP) -> list:
    return list(itertools.islice(pager, cap))


def assert_group_shape(group, *, tenant: str, name: str) -> None:
    assert group.id and isinstance(group.id, str)
    assert group_name(group) == name
    assert group.fqn == f"{tenant}:{name}"
    assert group.tenant_name == tenant
    assert group.account_id
    assert group.integration_id == INTEGRATION_ID
    assert group.created_by_subject is not None and group.created_by_subject.subject_id
    assert isinstance(group.created_at, datetime)
    assert isinstance(group.updated_at, datetime)
    for s in group.associated_secrets:
        assert s.value is None, f"group response carries the value of {s.name}"
        assert s.secret_versions is None, f"group response carries versions of {s.name}"
        assert s.secret_group_id == group.id
        assert s.fqn == f"{tenant}:{name}:{s.name}"
        assert s.id


def assert_no_values_in(raw_text: str) -> None:
    assert SECRET_MARKER not in raw_text, "a secret value appears in a group response"


def assert_http_error(err: ApiError, status: int) -> None:
    """The error body is TrueFoundry's HttpError: {statusCode, message, ...}."""
    body = err.body
    if isinstance(body, dict):
        assert body.get("statusCode") == status, body
        assert isinstance(body.get("message"), str) and body["message"], body
    else:
        assert getattr(body, "status_code", None) == status, body
        assert getattr(body, "message", None), body


def header(headers, name: str):
    for k, v in (headers or {}).items():
        if k.lower() == name.lower():
            return v
    return None


# ---------------------------------------------------------------- create / get


def test_create_returns_group_with_keys_and_no_values(client, tenant):
    name = unique_name("create")
    values = {"API_KEY": secret_value("api"), "DB_PASSWORD": secret_value("db")}
    raw = client.secret_groups.with_raw_response.create(
        name=name,
        integration_id=INTEGRATION_ID,
        secrets=[SecretInput(key=k, value=v) for k, v in values.items()],
        request_options=NO_RETRY,
    )
    try:
        assert raw.status_code == 200
        assert_no_values_in(raw.response.text)
        group = raw.data.data
        assert_group_shape(group, tenant=tenant, name=name)
        assert sorted(secrets_by_key(group)) == sorted(values)

        # each secret starts at version 1 with the value given
        for key, s in secrets_by_key(group).items():
            got = client.secrets.get(s.id).data
            assert got.value == values[key]
            assert [v.version for v in got.secret_versions] == [1]
            assert got.secret_versions[0].value == values[key]
    finally:
        client.secret_groups.delete(raw.data.data.id)


def test_create_with_no_secrets_is_allowed(make_group, tenant):
    group = make_group(secrets={})
    assert group.associated_secrets == []
    assert group.fqn.startswith(f"{tenant}:")


def test_get_returns_group_without_values(client, make_group, tenant):
    values = {"K1": secret_value(), "K2": secret_value()}
    created = make_group(secrets=values)
    raw = client.secret_groups.with_raw_response.get(created.id)
    assert raw.status_code == 200
    assert_no_values_in(raw.response.text)
    group = raw.data.data
    assert_group_shape(group, tenant=tenant, name=group_name(created))
    assert group.id == created.id
    assert {k: s.id for k, s in secrets_by_key(group).items()} == {
        k: s.id for k, s in secrets_by_key(created).items()
    }


def test_get_by_fqn_matches_exactly(client, make_group, tenant):
    name = unique_name("byfqn")
    # only a longer name that starts with `name` exists: no match
    make_group(name=name + "-longer", secrets={"K": secret_value()})
    with pytest.raises(NotFoundError):
        client.secret_groups.get_by_fqn(f"{tenant}:{name}")

    created = make_group(name=name, secrets={"K": secret_value()})
    got = client.secret_groups.get_by_fqn(f"{tenant}:{name}").data
    assert got.id == created.id
    assert got.fqn == f"{tenant}:{name}"
    assert_group_shape(got, tenant=tenant, name=name)

    # the list filter the SDK uses underneath yields exactly that group
    listed = drain(client.secret_groups.list(fqn=f"{tenant}:{name}"))
    assert [g.id for g in listed] == [created.id]


# ---------------------------------------------------------------- list / search / paging


def test_list_pagination_ends_in_creation_order(client, make_group, recorder):
    token = uuid.uuid4().hex[:10]
    ids = [make_group(name=f"sdk-page-{token}-{i}").id for i in range(5)]

    mark = recorder.mark()
    pager = client.secret_groups.list(search=token, limit=2)
    assert pager.response.pagination.total == 5
    items = drain(pager)
    assert [g.id for g in items] == ids, "pager must yield exactly the 5 groups, oldest first"
    for g in items:
        assert all(s.value is None for s in g.associated_secrets)

    # 5 items with limit 2: pages at offsets 0, 2, 4 and the empty one at 5
    gets = [e for e in recorder.since(mark) if e.method == "GET" and e.path == "/api/svc/v1/secret-groups"]
    assert len(gets) == 4, gets
    assert all(e.status == 200 for e in gets)

    pages = [len(p.items or []) for p in itertools.islice(client.secret_groups.list(search=token, limit=2).iter_pages(), 20)]
    assert pages == [2, 2, 1]

    # an offset past the end is an empty page, not an error
    assert drain(client.secret_groups.list(search=token, offset=50)) == []
    # offset honoured exactly
    assert [g.id for g in drain(client.secret_groups.list(search=token, offset=3, limit=1))] == ids[3:]


def test_list_search_is_case_insensitive(client, make_group):
    token = uuid.uuid4().hex[:10]
    ids = [make_group(name=f"sdk-Srch-{token}-{i}").id for i in range(2)]
    for term in (token, token.upper(), f"SRCH-{token}".lower(), f"srch-{token.upper()}"):
        assert [g.id for g in drain(client.secret_groups.list(search=term))] == ids, term


def test_list_search_matches_secret_keys(client, make_group):
    token = uuid.uuid4().hex[:10]
    other = make_group(secrets={f"KEY_{token.upper()}": secret_value()})
    make_group(secrets={"UNRELATED": secret_value()})
    found = drain(client.secret_groups.list(search=f"key_{token}"))
    assert [g.id for g in found] == [other.id]


# ---------------------------------------------------------------- create_or_update (manifest)


def test_create_or_update_creates_then_updates(client, tenant):
    name = unique_name("upsert")
    raw = client.secret_groups.with_raw_response.create_or_update(manifest=manifest(name))
    created = raw.data.data
    try:
        assert raw.status_code == 200
        assert_group_shape(created, tenant=tenant, name=name)
        assert created.associated_secrets == []
        assert created.manifest is not None
        assert created.manifest.get("name") == name
        assert created.manifest.get("integration_fqn") == INTEGRATION_FQN
        assert created.manifest.get("type") == "secret-group"
        assert {"subject": ADMIN_SUBJECT, "role_id": "secret-group-admin"} in (created.manifest.get("collaborators") or [])

        fetched = client.secret_groups.get_by_fqn(f"{tenant}:{name}").data
        assert fetched.id == created.id

        # a second upsert with the same name updates the same group; collaborators must name
        # existing teams, so the team is made first
        client.teams.create_or_update(manifest=TeamManifest(name="sdk-team", members=[]))
        updated = client.secret_groups.create_or_update(
            manifest=SecretGroupManifest(
                name=name,
                integration_fqn=INTEGRATION_FQN,
                collaborators=[
                    Collaborator(subject=ADMIN_SUBJECT, role_id="secret-group-admin"),
                    Collaborator(subject="team:sdk-team", role_id="secret-group-viewer"),
                ],
            )
        ).data
        assert updated.id == created.id
        collaborators = updated.manifest.get("collaborators") or []
        assert {"subject": "team:sdk-team", "role_id": "secret-group-viewer"} in collaborators
        assert len(drain(client.secret_groups.list(fqn=f"{tenant}:{name}"))) == 1
    finally:
        client.secret_groups.delete(created.id)


def test_create_or_update_keeps_secrets_of_existing_group(client, make_group):
    values = {"A": secret_value(), "B": secret_value()}
    group = make_group(secrets=values)
    before = {k: s.id for k, s in secrets_by_key(group).items()}

    raw = client.secret_groups.with_raw_response.create_or_update(manifest=manifest(group_name(group)))
    assert_no_values_in(raw.response.text)
    updated = raw.data.data
    assert updated.id == group.id
    assert {k: s.id for k, s in secrets_by_key(updated).items()} == before
    got = client.secrets.get(before["A"]).data
    assert got.value == values["A"]
    assert [v.version for v in got.secret_versions] == [1]


def test_create_or_update_dry_run_persists_nothing(client, tenant):
    name = unique_name("dryrun")
    answer = client.secret_groups.create_or_update(manifest=manifest(name), dry_run=True).data
    assert group_name(answer) == name
    assert answer.fqn == f"{tenant}:{name}"

    with pytest.raises(NotFoundError):
        client.secret_groups.get_by_fqn(f"{tenant}:{name}")
    assert drain(client.secret_groups.list(search=name)) == []
    if answer.id:
        with pytest.raises(NotFoundError):
            client.secret_groups.get(answer.id)


def test_create_or_update_dry_run_changes_nothing_on_existing(client, make_group):
    group = make_group(secrets={"K": secret_value()})
    client.teams.create_or_update(manifest=TeamManifest(name="sdk-dry-team", members=[]))
    answer = client.secret_groups.create_or_update(
        manifest=SecretGroupManifest(
            name=group_name(group),
            integration_fqn=INTEGRATION_FQN,
            collaborators=[
                Collaborator(subject=ADMIN_SUBJECT, role_id="secret-group-admin"),
                Collaborator(subject="team:sdk-dry-team", role_id="secret-group-editor"),
            ],
        ),
        dry_run=True,
    ).data
    assert answer.id == group.id
    stored = client.secret_groups.get(group.id).data
    assert {"subject": "team:sdk-dry-team", "role_id": "secret-group-editor"} not in (
        (stored.manifest or {}).get("collaborators") or []
    )


def test_create_or_update_unknown_integration_is_not_found(client, tenant):
    name = unique_name("badint")
    with pytest.raises(NotFoundError) as exc:
        client.secret_groups.create_or_update(
            manifest=manifest(name, integration_fqn="internal:secret-store:does-not-exist"),
            request_options=NO_RETRY,
        )
    assert exc.value.status_code == 404
    with pytest.raises(NotFoundError):
        client.secret_groups.get_by_fqn(f"{tenant}:{name}")


def test_create_or_update_invalid_manifest_is_unprocessable(client):
    with pytest.raises(UnprocessableEntityError) as exc:
        client.secret_groups.create_or_update(manifest=manifest("bad name!"), request_options=NO_RETRY)
    assert exc.value.status_code == 422
    assert_http_error(exc.value, 422)

    with pytest.raises(UnprocessableEntityError):
        client.secret_groups.create_or_update(
            manifest=manifest(unique_name("badrole"), role="no-such-role"), request_options=NO_RETRY
        )


# ---------------------------------------------------------------- update


def test_update_replaces_the_set(client, make_group, tenant):
    old = {"CHANGED": secret_value("c1"), "KEPT": secret_value("k"), "SAME": secret_value("s"), "GONE": secret_value("g")}
    group = make_group(secrets=old)
    ids = {k: s.id for k, s in secrets_by_key(group).items()}
    new_changed = secret_value("c2")
    new_key_value = secret_value("n")

    raw = client.secret_groups.with_raw_response.update(
        group.id,
        secrets=[
            UpdateSecretInput(key="CHANGED", value=new_changed),
            UpdateSecretInput(key="KEPT"),  # no value: keep it
            UpdateSecretInput(key="SAME", value=old["SAME"]),  # unchanged value: no new version
            UpdateSecretInput(key="ADDED", value=new_key_value),
        ],
    )
    assert raw.status_code == 200
    assert_no_values_in(raw.response.text)
    updated = raw.data.data
    assert updated.id == group.id
    assert_group_shape(updated, tenant=tenant, name=group_name(group))
    after = secrets_by_key(updated)
    assert sorted(after) == ["ADDED", "CHANGED", "KEPT", "SAME"]
    for key in ("CHANGED", "KEPT", "SAME"):
        assert after[key].id == ids[key], f"{key} must keep its secret id"

    changed = client.secrets.get(ids["CHANGED"]).data
    assert changed.value == new_changed
    assert [(v.version, v.value) for v in changed.secret_versions] == [(1, old["CHANGED"]), (2, new_changed)]

    for key in ("KEPT", "SAME"):
        kept = client.secrets.get(ids[key]).data
        assert kept.value == old[key]
        assert [v.version for v in kept.secret_versions] == [1], key

    added = client.secrets.get(after["ADDED"].id).data
    assert added.value == new_key_value
    assert [v.version for v in added.secret_versions] == [1]

    # the omitted key is deleted
    with pytest.raises(NotFoundError):
        client.secrets.get(ids["GONE"])
    listed = drain(client.secrets.list(secret_group_id=group.id))
    assert sorted(s.name for s in listed) == ["ADDED", "CHANGED", "KEPT", "SAME"]


def test_update_empty_list_is_unprocessable(client, make_group):
    group = make_group(secrets={"K": secret_value()})
    with pytest.raises(UnprocessableEntityError) as exc:
        client.secret_groups.update(group.id, secrets=[], request_options=NO_RETRY)
    assert exc.value.status_code == 422
    assert_http_error(exc.value, 422)
    # nothing changed
    assert sorted(secrets_by_key(client.secret_groups.get(group.id).data)) == ["K"]


def test_update_unknown_key_without_value_is_unprocessable(client, make_group):
    group = make_group(secrets={"K": secret_value()})
    with pytest.raises(UnprocessableEntityError):
        client.secret_groups.update(
            group.id, secrets=[UpdateSecretInput(key="K"), UpdateSecretInput(key="NEW")], request_options=NO_RETRY
        )
    with pytest.raises(UnprocessableEntityError):
        client.secret_groups.update(
            group.id,
            secrets=[UpdateSecretInput(key="K", value=secret_value()), UpdateSecretInput(key="K", value=secret_value())],
            request_options=NO_RETRY,
        )
    got = client.secret_groups.get(group.id).data
    assert sorted(secrets_by_key(got)) == ["K"]
    assert [v.version for v in client.secrets.get(secrets_by_key(got)["K"].id).data.secret_versions] == [1]


# ---------------------------------------------------------------- delete


def test_delete_group(client, tenant):
    name = unique_name("delete")
    group = client.secret_groups.create(
        name=name, integration_id=INTEGRATION_ID, secrets=[SecretInput(key="K", value=secret_value())]
    ).data
    secret_id = group.associated_secrets[0].id

    raw = client.secret_groups.with_raw_response.delete(group.id)
    assert raw.status_code == 200
    assert raw.response.json() == {}
    assert raw.data is not None

    with pytest.raises(NotFoundError) as exc:
        client.secret_groups.get(group.id)
    assert exc.value.status_code == 404
    with pytest.raises(NotFoundError):
        client.secrets.get(secret_id)  # secrets go with their group
    with pytest.raises(NotFoundError):
        client.secret_groups.get_by_fqn(f"{tenant}:{name}")
    with pytest.raises(NotFoundError):
        client.secret_groups.delete(group.id)

    # the name can be used again; force_delete is accepted
    again = client.secret_groups.create(name=name, integration_id=INTEGRATION_ID, secrets=[], request_options=NO_RETRY).data
    assert again.id != group.id
    client.secret_groups.delete(again.id, force_delete=True)
    with pytest.raises(NotFoundError):
        client.secret_groups.get(again.id)


def test_delete_secret(client, make_group):
    group = make_group(secrets={"STAY": secret_value(), "DROP": secret_value()})
    ids = {k: s.id for k, s in secrets_by_key(group).items()}

    raw = client.secrets.with_raw_response.delete(ids["DROP"])
    assert raw.status_code == 200
    assert raw.response.json() == 1
    assert raw.data == 1

    after = client.secret_groups.get(group.id).data
    assert sorted(secrets_by_key(after)) == ["STAY"]
    with pytest.raises(NotFoundError):
        client.secrets.get(ids["DROP"])
    with pytest.raises(NotFoundError):
        client.secrets.delete(ids["DROP"])
    assert client.secrets.delete(ids["STAY"], force_delete=False) == 1
    assert client.secret_groups.get(group.id).data.associated_secrets == []


# ---------------------------------------------------------------- secrets.list / secrets.get


def test_secrets_list_by_group_with_and_without_values(client, make_group, tenant):
    values = {f"S{i}": secret_value(str(i)) for i in range(5)}
    group = make_group(secrets=values)
    make_group(secrets={"S0": secret_value()})  # another group, same key: must not show up
    name = group_name(group)

    with_values = drain(client.secrets.list(secret_group_id=group.id, with_value=True, limit=2))
    assert sorted(s.name for s in with_values) == sorted(values), "pager must end with each secret once"
    assert len({s.id for s in with_values}) == 5
    for s in with_values:
        assert s.value == values[s.name]
        assert s.secret_group_id == group.id
        assert s.fqn == f"{tenant}:{name}:{s.name}"

    without = drain(client.secrets.list(secret_group_id=group.id, with_value=False))
    assert sorted(s.name for s in without) == sorted(values)
    assert all(s.value is None for s in without)

    default = drain(client.secrets.list(secret_group_id=group.id))
    assert all(s.value is None for s in default)

    assert client.secrets.list(secret_group_id=group.id, limit=2).response.pagination.total == 5
    assert drain(client.secrets.list(secret_group_id=group.id, offset=5)) == []


def test_secrets_list_by_fqns(client, make_group, tenant):
    values = {"A": secret_value(), "B": secret_value(), "C": secret_value()}
    group = make_group(secrets=values)
    name = group_name(group)
    fqns = [f"{tenant}:{name}:A", f"{tenant}:{name}:C"]

    got = drain(client.secrets.list(secret_fqns=fqns, with_value=True))
    assert sorted(s.fqn for s in got) == sorted(fqns)
    assert {s.name: s.value for s in got} == {"A": values["A"], "C": values["C"]}

    both = drain(client.secrets.list(secret_fqns=fqns, secret_group_id=group.id, limit=1))
    assert sorted(s.name for s in both) == ["A", "C"]

    prefixed = drain(client.secrets.list(secret_fqns=[f"tfy-secret://{tenant}:{name}:B"]))
    assert [s.name for s in prefixed] == ["B"]

    assert drain(client.secrets.list(secret_fqns=[f"{tenant}:{name}:NOPE"])) == []


def test_secrets_list_unknown_group_is_not_found(client):
    with pytest.raises(NotFoundError):
        drain(client.secrets.list(secret_group_id=str(uuid.uuid4()), request_options=NO_RETRY))


def test_secrets_get_returns_value_and_versions_ascending(client, make_group, tenant):
    v = [secret_value(f"v{i}") for i in range(1, 4)]
    group = make_group(secrets={"ROTATED": v[0]})
    secret_id = group.associated_secrets[0].id
    client.secret_groups.update(group.id, secrets=[UpdateSecretInput(key="ROTATED", value=v[1])])
    client.secret_groups.update(group.id, secrets=[UpdateSecretInput(key="ROTATED", value=v[2])])

    got = client.secrets.get(secret_id).data
    assert got.id == secret_id
    assert got.name == "ROTATED"
    assert got.secret_group_id == group.id
    fqn = f"{tenant}:{group_name(group)}:ROTATED"
    assert got.fqn == fqn
    assert got.value == v[2]
    assert [(x.version, x.value) for x in got.secret_versions] == [(1, v[0]), (2, v[1]), (3, v[2])]
    for x in got.secret_versions:
        assert x.id
        assert x.fqn == f"{fqn}:{int(x.version)}"
        assert x.secret_id in (None, secret_id)

    # list with values gives the latest value and no history
    listed = drain(client.secrets.list(secret_group_id=group.id, with_value=True))
    assert [(s.id, s.value) for s in listed] == [(secret_id, v[2])]
    assert listed[0].secret_versions in (None, [])


# ---------------------------------------------------------------- typed errors


def test_unknown_ids_are_not_found(client):
    missing = str(uuid.uuid4())
    calls = [
        lambda: client.secret_groups.get(missing, request_options=NO_RETRY),
        lambda: client.secret_groups.update(
            missing, secrets=[UpdateSecretInput(key="K", value=secret_value())], request_options=NO_RETRY
        ),
        lambda: client.secret_groups.delete(missing, request_options=NO_RETRY),
        lambda: client.secrets.get(missing, request_options=NO_RETRY),
        lambda: client.secrets.delete(missing, request_options=NO_RETRY),
    ]
    for call in calls:
        with pytest.raises(NotFoundError) as exc:
            call()
        assert exc.value.status_code == 404
        assert_http_error(exc.value, 404)


@pytest.mark.parametrize(
    "name,key",
    [
        ("bad name!", "GOOD_KEY"),
        ("x", "GOOD_KEY"),  # too short
        ("tenant:group", "GOOD_KEY"),  # ':' is the FQN separator
        (None, "1starts-with-digit"),
        (None, "has space"),
        (None, ""),
    ],
)
def test_create_invalid_name_or_key_is_unprocessable(client, tenant, name, key):
    name = name or unique_name("badkey")
    with pytest.raises(UnprocessableEntityError) as exc:
        client.secret_groups.create(
            name=name,
            integration_id=INTEGRATION_ID,
            secrets=[SecretInput(key=key, value=secret_value())],
            request_options=NO_RETRY,
        )
    assert exc.value.status_code == 422
    assert_http_error(exc.value, 422)
    assert drain(client.secret_groups.list(fqn=f"{tenant}:{name}")) == []


def test_create_unknown_integration_or_duplicate_keys_is_unprocessable(client, tenant):
    name = unique_name("badcreate")
    with pytest.raises(UnprocessableEntityError):
        client.secret_groups.create(
            name=name, integration_id="no-such-integration", secrets=[], request_options=NO_RETRY
        )
    with pytest.raises(UnprocessableEntityError):
        client.secret_groups.create(
            name=name,
            integration_id=INTEGRATION_ID,
            secrets=[SecretInput(key="K", value=secret_value()), SecretInput(key="K", value=secret_value())],
            request_options=NO_RETRY,
        )
    assert drain(client.secret_groups.list(fqn=f"{tenant}:{name}")) == []


def test_duplicate_create_is_conflict(client, make_group, tenant):
    first = make_group(secrets={"K": secret_value()})
    name = group_name(first)
    with pytest.raises(ApiError) as exc:
        client.secret_groups.create(
            name=name,
            integration_id=INTEGRATION_ID,
            secrets=[SecretInput(key="OTHER", value=secret_value())],
            request_options=NO_RETRY,
        )
    assert type(exc.value) is ApiError, f"expected a plain ApiError, got {type(exc.value).__name__}"
    assert exc.value.status_code == 409
    assert_http_error(exc.value, 409)

    same = drain(client.secret_groups.list(fqn=f"{tenant}:{name}"))
    assert [g.id for g in same] == [first.id]
    assert sorted(secrets_by_key(same[0])) == ["K"]


def test_wrong_api_key_is_unauthorized(server_url):
    for key in ("sgt_" + uuid.uuid4().hex + uuid.uuid4().hex, "not-a-token"):
        bad = make_client(server_url, key)
        for call in (
            lambda: bad.secret_groups.list(request_options=NO_RETRY),
            lambda: bad.secret_groups.get(str(uuid.uuid4()), request_options=NO_RETRY),
            lambda: bad.secrets.list(request_options=NO_RETRY),
        ):
            with pytest.raises(ApiError) as exc:
                call()
            assert exc.value.status_code == 401
            assert_http_error(exc.value, 401)
            assert (header(exc.value.headers, "www-authenticate") or "").lower().startswith("bearer")
