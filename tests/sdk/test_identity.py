"""Identity and access control through TrueFoundry's official Python SDK (truefoundry-sdk 0.6.0),
unmodified: personal access tokens, virtual accounts, users, teams, who-am-I, and the roles
they give on secret groups.

Users are created with the operator CLI (`secret-groups-server users create`), which
`scripts/sdk-tests.sh` points at the server's database through `SG_SERVER_BIN` and
`SG_DATABASE_URL`; everything else goes through the SDK. Every user, token, account, team and
group name is unique per test. Any response the SDK cannot parse raises `ParsingError`, so each
call below also checks the response's required fields.

Every check that a well-formed token is refused (401) costs one failed authentication; past 20 in
a minute from one address (`SG_AUTH_FAILURE_LIMIT`, default 20) further failed attempts get 429
instead of 401, while valid tokens are still served: the suite keeps them few (9 here through
`assert_rejected`, 6 in test_sdk.py), so every refusal it checks is a 401.

The last tests pin down defects found while writing this suite (roles bound to names, manifests
that disagreed with the stored state); they stay as regression tests.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, List, Optional

import pytest
from truefoundry_sdk import (
    Collaborator,
    Permissions,
    SecretGroupManifest,
    TeamManifest,
    TrueFoundry,
    UpdateSecretInput,
    VirtualAccountManifest,
)
from truefoundry_sdk.core.api_error import ApiError
from truefoundry_sdk.errors import ForbiddenError, NotFoundError, UnprocessableEntityError

from conftest import (
    ADMIN_SUBJECT,
    INTEGRATION_FQN,
    NO_RETRY,
    make_client,
    secret_value,
    unique_name,
)

PAGER_CAP = 200
ADMIN_EMAIL = ADMIN_SUBJECT.split(":", 1)[1]
ROLE_TENANT_ADMIN = "tenant-admin"
ROLE_TENANT_MEMBER = "tenant-member"


# ---------------------------------------------------------------- operator CLI


@pytest.fixture(scope="module")
def cli_env() -> dict:
    binary = os.environ.get("SG_SERVER_BIN")
    database = os.environ.get("SG_DATABASE_URL")
    if not binary or not database:
        pytest.fail(
            "SG_SERVER_BIN and SG_DATABASE_URL are not set: run the suite through scripts/sdk-tests.sh",
            pytrace=False,
        )
    return {"bin": binary, "db": database}


def run_cli(cli_env: dict, *args: str) -> str:
    done = subprocess.run(
        [cli_env["bin"], *args, "--database-url", cli_env["db"]],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()}"
    return done.stdout.strip()


def new_cli_token(cli_env: dict, email: str, tenant: str) -> str:
    token = run_cli(cli_env, "tokens", "create", "--email", email, "--tenant", tenant)
    assert token.startswith("tfy_sg_"), "`tokens create` printed no token"
    return token


@dataclass
class SdkUser:
    email: str
    id: str
    token: str
    client: TrueFoundry


@pytest.fixture
def make_user(cli_env, server_url, tenant) -> Callable[..., SdkUser]:
    """A new user of the tenant (created with the CLI) with a CLI-made token and an SDK client."""

    def _make(
        label: str = "user", admin: bool = False, email: Optional[str] = None, in_tenant: Optional[str] = None
    ) -> SdkUser:
        email = email or f"sdk-{label}-{uuid.uuid4().hex[:12]}@example.com"
        where = in_tenant or tenant
        args = ["users", "create", "--email", email, "--tenant", where]
        if admin:
            args.append("--admin")
        out = run_cli(cli_env, *args)
        match = re.search(r"\(id ([^)]+)\)", out)
        assert match, f"`users create` printed no id: {out!r}"
        token = new_cli_token(cli_env, email, where)
        return SdkUser(email=email, id=match.group(1), token=token, client=make_client(server_url, token))

    return _make


# ---------------------------------------------------------------- helpers


def drain(pager, cap: int = PAGER_CAP) -> list:
    """Every item of an SDK pager; a pager that never ends yields `cap` items and fails callers."""
    return list(itertools.islice(pager, cap))


def drain_all(pager, cap: int = PAGER_CAP) -> list:
    """Like `drain`, and checks that the pager ended and agrees with the first page's total."""
    items = drain(pager, cap)
    assert len(items) < cap, "the pager did not end"
    assert len(items) == pager.response.pagination.total, (len(items), pager.response.pagination)
    return items


def extra(obj, key: str):
    return (obj.model_extra or {}).get(key)


def status_of(call: Callable[[], object]) -> ApiError:
    with pytest.raises(ApiError) as exc:
        call()
    return exc.value


def body_message(err: ApiError) -> str:
    body = err.body
    if isinstance(body, dict):
        assert body.get("statusCode") == err.status_code, body
        return body.get("message") or ""
    assert getattr(body, "status_code", None) == err.status_code, body
    return getattr(body, "message", None) or ""


def assert_status(call: Callable[[], object], status: int, kind: type = ApiError) -> ApiError:
    err = status_of(call)
    assert err.status_code == status, f"expected {status}, got {err.status_code}: {err.body}"
    assert isinstance(err, kind), f"expected {kind.__name__}, got {type(err).__name__}"
    assert body_message(err), err.body
    return err


def whoami(c: TrueFoundry):
    return c.internal.users.get_info(request_options=NO_RETRY)


def assert_works_as(c: TrueFoundry, slug: str):
    session = whoami(c)
    assert session.subject_slug == slug, session
    return session


def assert_rejected(server_url: str, token: str) -> None:
    """The token no longer authenticates: 401 (costs one failed authentication)."""
    assert_status(lambda: whoami(make_client(server_url, token)), 401)


def group_manifest(name: str, collaborators: List[Collaborator]) -> SecretGroupManifest:
    return SecretGroupManifest(
        name=name,
        integration_fqn=INTEGRATION_FQN,
        collaborators=[Collaborator(subject=ADMIN_SUBJECT, role_id="secret-group-admin"), *collaborators],
    )


def group_name(group) -> str:
    return extra(group, "name")


def only_secret(group):
    assert len(group.associated_secrets) == 1, group.associated_secrets
    return group.associated_secrets[0]


def visible_group_ids(c: TrueFoundry) -> set:
    return {g.id for g in drain_all(c.secret_groups.list(limit=50))}


@pytest.fixture
def group_with_secret(client, make_group):
    """A group holding one secret; returns (group, secret id, value)."""

    def _make(prefix: str = "idg"):
        value = secret_value(prefix)
        group = make_group(secrets={"TOKEN": value}, prefix=prefix)
        return group, only_secret(group).id, value

    return _make


def set_collaborators(client, group, collaborators: List[Collaborator]) -> None:
    updated = client.secret_groups.create_or_update(
        manifest=group_manifest(group_name(group), collaborators), request_options=NO_RETRY
    ).data
    assert updated.id == group.id


@pytest.fixture
def cleanup(client):
    """Deletes virtual accounts and teams a test made (if still there)."""
    vas: List[str] = []
    teams: List[str] = []
    yield {"va": vas, "team": teams}
    for va_id in vas:
        try:
            client.virtual_accounts.delete(va_id, request_options=NO_RETRY)
        except ApiError:
            pass
    for team_id in teams:
        try:
            client.teams.delete(team_id, request_options=NO_RETRY)
        except ApiError:
            pass


# ---------------------------------------------------------------- personal access tokens


def test_pat_create_list_use_delete(make_user, server_url, tenant):
    user = make_user("pat")
    name = f"pat-{uuid.uuid4().hex[:12]}"
    expires = (datetime.now(timezone.utc) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    created = user.client.personal_access_tokens.create(name=name, expiration_date=expires, request_options=NO_RETRY)
    assert created.token.startswith("tfy_sg_") and created.token != user.token

    # the new token is an API key for a second client, acting as the same user
    second = make_client(server_url, created.token)
    session = assert_works_as(second, user.email)
    assert session.email == user.email
    assert session.effective_user_id == user.id
    assert session.tenant_name == tenant

    # the list has the CLI token and the new one, through a pager (limit 1) that ends
    items = drain_all(user.client.personal_access_tokens.list(limit=1))
    assert len(items) == 2
    by_name = {extra(t, "name"): t for t in items}
    assert name in by_name, list(by_name)
    mine = by_name[name]
    assert mine.id and mine.type
    assert mine.tenant_name == tenant
    assert mine.account_id
    assert mine.created_by_subject.subject_id == user.id
    assert mine.created_by_subject.subject_type == "user"
    assert mine.is_expired is False
    assert isinstance(mine.created_at, datetime) and isinstance(mine.updated_at, datetime)
    assert created.token not in repr(items), "a token list carries a token value"

    # nameSearchQuery filters, and the second client (same user) sees the same tokens
    found = drain_all(second.personal_access_tokens.list(name_search_query=name[4:]))
    assert [t.id for t in found] == [mine.id]

    # a duplicate name is refused
    assert_status(lambda: user.client.personal_access_tokens.create(name=name, request_options=NO_RETRY), 409)
    # an invalid name is refused
    err = status_of(
        lambda: user.client.personal_access_tokens.create(name="Bad_Name", request_options=NO_RETRY)
    )
    assert err.status_code in (400, 422), err.body

    # delete: the token stops working at once and leaves the list
    user.client.personal_access_tokens.delete(mine.id, request_options=NO_RETRY)
    assert_rejected(server_url, created.token)
    assert name not in {extra(t, "name") for t in drain_all(user.client.personal_access_tokens.list())}
    assert_status(lambda: user.client.personal_access_tokens.delete(mine.id, request_options=NO_RETRY), 404)
    # the user's other token is untouched
    assert_works_as(user.client, user.email)


def test_pat_of_another_user_is_not_theirs_to_delete(make_user, client):
    owner = make_user("owner")
    other = make_user("other")
    [token] = drain_all(owner.client.personal_access_tokens.list())
    # a member cannot delete another user's token (not even told it exists); it keeps working
    assert_status(lambda: other.client.personal_access_tokens.delete(token.id, request_options=NO_RETRY), 404)
    assert_works_as(owner.client, owner.email)
    # the admin's own list does not contain other users' tokens
    assert token.id not in {t.id for t in drain_all(client.personal_access_tokens.list())}


def test_pat_create_for_user_and_revoke_all(client, make_user, server_url, cli_env, tenant):
    user = make_user("revoke")
    member = make_user("member")
    name = f"for-{uuid.uuid4().hex[:12]}"
    issued = client.personal_access_tokens.create_for_user(name=name, user_email=user.email, request_options=NO_RETRY)
    assert issued.token.startswith("tfy_sg_")
    # the token belongs to the user, not to the admin
    assert_works_as(make_client(server_url, issued.token), user.email)
    assert name in {extra(t, "name") for t in drain_all(user.client.personal_access_tokens.list())}
    assert name not in {extra(t, "name") for t in drain_all(client.personal_access_tokens.list())}

    # tenant admins only; an unknown user is 404
    assert_status(
        lambda: member.client.personal_access_tokens.create_for_user(
            name=f"x-{uuid.uuid4().hex[:8]}", user_email=user.email, request_options=NO_RETRY
        ),
        403,
        ForbiddenError,
    )
    assert_status(
        lambda: client.personal_access_tokens.create_for_user(
            name=f"x-{uuid.uuid4().hex[:8]}",
            user_email=f"nobody-{uuid.uuid4().hex[:8]}@example.com",
            request_options=NO_RETRY,
        ),
        404,
    )
    assert_status(
        lambda: member.client.personal_access_tokens.revoke_all(email=user.email, request_options=NO_RETRY), 403
    )
    assert_works_as(user.client, user.email)

    # revoke all: both of the user's tokens stop working at once; other users' tokens keep working
    client.personal_access_tokens.revoke_all(email=user.email, request_options=NO_RETRY)
    assert_rejected(server_url, user.token)
    assert_rejected(server_url, issued.token)
    assert_works_as(member.client, member.email)
    assert_works_as(client, ADMIN_EMAIL)
    assert_status(
        lambda: client.personal_access_tokens.revoke_all(
            email=f"nobody-{uuid.uuid4().hex[:8]}@example.com", request_options=NO_RETRY
        ),
        404,
        NotFoundError,
    )
    # revoking is not a ban: a token made afterwards works, and lists the revoked ones as expired
    fresh = make_client(server_url, new_cli_token(cli_env, user.email, tenant))
    assert_works_as(fresh, user.email)
    listed = {extra(t, "name"): t for t in drain_all(fresh.personal_access_tokens.list())}
    assert name not in listed or listed[name].is_expired is True, listed.get(name)


def test_pat_expires(make_user, server_url):
    user = make_user("expiry")
    at = datetime.now(timezone.utc) + timedelta(seconds=1.5)
    name = f"exp-{uuid.uuid4().hex[:12]}"
    when = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    created = user.client.personal_access_tokens.create(name=name, expiration_date=when, request_options=NO_RETRY)
    assert_works_as(make_client(server_url, created.token), user.email)
    [listed] = drain_all(user.client.personal_access_tokens.list(name_search_query=name))
    assert listed.is_expired is False
    time.sleep(max(0.0, (at - datetime.now(timezone.utc)).total_seconds()) + 0.3)
    assert_rejected(server_url, created.token)
    [listed] = drain_all(user.client.personal_access_tokens.list(name_search_query=name))
    assert listed.is_expired is True
    # an expiration date in the past is refused
    assert_status(
        lambda: user.client.personal_access_tokens.create(
            name=f"old-{uuid.uuid4().hex[:8]}", expiration_date="2020-01-01T00:00:00.000Z", request_options=NO_RETRY
        ),
        422,
    )


# ---------------------------------------------------------------- who am I


def test_who_am_i_admin_and_member(client, make_user, tenant):
    admin = whoami(client)
    assert admin.subject_type == "user"
    assert admin.subject_slug == ADMIN_EMAIL and admin.email == ADMIN_EMAIL
    assert admin.id and admin.effective_user_id == admin.id
    assert ROLE_TENANT_ADMIN in admin.roles
    assert [a.name for a in admin.accounts] == [tenant]
    assert admin.tenant_name == tenant

    member = make_user("who")
    session = assert_works_as(member.client, member.email)
    assert session.id == member.id
    assert session.roles == [ROLE_TENANT_MEMBER]
    assert session.teams == []
    assert [a.id for a in session.accounts] == [a.id for a in admin.accounts]


# ---------------------------------------------------------------- virtual accounts


def va_manifest(name: str, permissions: Optional[List[tuple]] = None, **kw) -> VirtualAccountManifest:
    """A manifest; `permissions=None` leaves the field out (keep the account's current roles)."""
    if permissions is not None:
        kw["permissions"] = [
            Permissions(resource_fqn=fqn, resource_type="secret-group", role_id=role) for fqn, role in permissions
        ]
    return VirtualAccountManifest(name=name, **kw)


def create_va(client, cleanup, name: str, permissions: List[tuple], **kw):
    resp = client.virtual_accounts.create_or_update(
        manifest=va_manifest(name, permissions, **kw), request_options=NO_RETRY
    )
    cleanup["va"].append(resp.data.id)
    return resp


def test_virtual_account_token_reads_only_its_groups(client, make_user, group_with_secret, cleanup, server_url, tenant):
    allowed, allowed_secret, allowed_value = group_with_secret("va-ok")
    other, other_secret, _ = group_with_secret("va-no")
    name = unique_name("va")

    resp = create_va(client, cleanup, name, [(allowed.fqn, "secret-group-editor")], expiration_date="2099-12-31")
    va = resp.data
    assert resp.token and resp.token.startswith("tfy_sg_")
    assert va.id and va.type and va.tenant_name == tenant and va.account_id
    assert va.manifest.name == name
    assert va.manifest.expiration_date == "2099-12-31"
    assert [(p.resource_fqn, p.role_id) for p in va.manifest.permissions] == [(allowed.fqn, "secret-group-editor")]
    assert va.created_by_subject.subject_slug == ADMIN_EMAIL
    assert va.is_expired is False

    va_client = make_client(server_url, resp.token)
    session = assert_works_as(va_client, name)
    assert session.subject_type in ("serviceaccount", "virtualaccount")
    assert ROLE_TENANT_ADMIN not in session.roles

    # editor on `allowed`: sees it (only it) and reads its value
    assert visible_group_ids(va_client) == {allowed.id}
    assert va_client.secret_groups.get(allowed.id).data.id == allowed.id
    assert va_client.secrets.get(allowed_secret).data.value == allowed_value
    # ... and changes it, but may not delete the group (admin only)
    changed = secret_value("va-changed")
    va_client.secret_groups.update(
        allowed.id, secrets=[UpdateSecretInput(key="TOKEN", value=changed)], request_options=NO_RETRY
    )
    assert client.secrets.get(allowed_secret).data.value == changed
    assert_status(lambda: va_client.secret_groups.delete(allowed.id, request_options=NO_RETRY), 403, ForbiddenError)
    # no role on `other`: 403 on the group and its secret
    assert_status(lambda: va_client.secret_groups.get(other.id, request_options=NO_RETRY), 403, ForbiddenError)
    assert_status(lambda: va_client.secrets.get(other_secret, request_options=NO_RETRY), 403, ForbiddenError)
    # a virtual account is not a user: no tokens of its own, no user admin
    assert_status(lambda: va_client.personal_access_tokens.create(name="va-pat", request_options=NO_RETRY), 403)
    assert_status(lambda: drain(va_client.users.list()), 403)
    assert_status(
        lambda: va_client.virtual_accounts.create_or_update(
            manifest=va_manifest(unique_name("va2"), [(allowed.fqn, "secret-group-admin")]), request_options=NO_RETRY
        ),
        403,
    )

    # update by name: same account, no new token, now a viewer (sees keys, cannot read values)
    updated = client.virtual_accounts.create_or_update(
        manifest=va_manifest(name, [(allowed.fqn, "secret-group-viewer")]), request_options=NO_RETRY
    )
    assert updated.data.id == va.id
    assert updated.token is None
    assert visible_group_ids(va_client) == {allowed.id}
    assert_status(lambda: va_client.secrets.get(allowed_secret, request_options=NO_RETRY), 403, ForbiddenError)
    assert_status(
        lambda: va_client.secret_groups.update(
            allowed.id, secrets=[UpdateSecretInput(key="TOKEN", value=secret_value())], request_options=NO_RETRY
        ),
        403,
        ForbiddenError,
    )

    # a group naming `virtualaccount:<name>` as editor also gives the account that role
    set_collaborators(client, other, [Collaborator(subject=f"virtualaccount:{name}", role_id="secret-group-editor")])
    assert visible_group_ids(va_client) == {allowed.id, other.id}
    assert va_client.secrets.get(other_secret).data.value.startswith("sdk-secret-")

    # a member cannot manage virtual accounts
    member = make_user("va-member")
    assert_status(lambda: member.client.virtual_accounts.delete(va.id, request_options=NO_RETRY), 403)

    # delete: its token stops working at once, the account is gone
    client.virtual_accounts.delete(va.id, request_options=NO_RETRY)
    assert_rejected(server_url, resp.token)
    assert_status(lambda: client.virtual_accounts.get(va.id, request_options=NO_RETRY), 404, NotFoundError)
    assert client.virtual_accounts.exists(name=name).exists is False
    assert_status(lambda: client.virtual_accounts.delete(va.id, request_options=NO_RETRY), 404, NotFoundError)


def test_virtual_account_list_get_exists(client, group_with_secret, cleanup, tenant):
    group, _, _ = group_with_secret("va-list")
    stem = unique_name("val")
    names = [f"{stem}-{i}" for i in range(3)]
    ids = [create_va(client, cleanup, n, [(group.fqn, "secret-group-viewer")]).data.id for n in names]

    # the pager (limit 1) ends, and nameSearchQuery finds exactly these, oldest first
    found = drain_all(client.virtual_accounts.list(limit=1, name_search_query=stem))
    assert [v.id for v in found] == ids
    assert [v.manifest.name for v in found] == names
    everything = drain_all(client.virtual_accounts.list(limit=2))
    assert set(ids) <= {v.id for v in everything}
    # not expired (no expiration date)
    assert set(ids) <= {v.id for v in drain_all(client.virtual_accounts.list(is_expired=False, name_search_query=stem))}
    assert drain_all(client.virtual_accounts.list(is_expired=True, name_search_query=stem)) == []

    got = client.virtual_accounts.get(ids[0])
    assert got.data.id == ids[0] and got.data.manifest.name == names[0]
    assert got.token is None, "get must never show a token"
    assert got.data.tenant_name == tenant

    assert client.virtual_accounts.exists(name=names[1]).exists is True
    assert client.virtual_accounts.exists(name=unique_name("nope")).exists is False
    assert_status(lambda: client.virtual_accounts.get(str(uuid.uuid4()), request_options=NO_RETRY), 404, NotFoundError)


def test_virtual_account_dry_run_and_invalid_manifests(client, group_with_secret, cleanup):
    group, _, _ = group_with_secret("va-dry")
    name = unique_name("vadry")
    dry = client.virtual_accounts.create_or_update(
        manifest=va_manifest(name, [(group.fqn, "secret-group-viewer")]), dry_run=True, request_options=NO_RETRY
    )
    assert dry.token is None, "a dry run must not make a token"
    assert dry.data.manifest.name == name
    assert client.virtual_accounts.exists(name=name).exists is False

    # empty permissions are refused; so are a group of another tenant and an unknown role
    assert_status(
        lambda: client.virtual_accounts.create_or_update(manifest=va_manifest(name, []), request_options=NO_RETRY),
        422,
        UnprocessableEntityError,
    )
    assert_status(
        lambda: client.virtual_accounts.create_or_update(
            manifest=va_manifest(name, [(f"other-tenant:{group_name(group)}", "secret-group-viewer")]),
            request_options=NO_RETRY,
        ),
        422,
        UnprocessableEntityError,
    )
    err = status_of(
        lambda: client.virtual_accounts.create_or_update(
            manifest=va_manifest(name, [(group.fqn, "secret-group-owner")]), request_options=NO_RETRY
        )
    )
    assert err.status_code in (400, 422), err.body
    assert client.virtual_accounts.exists(name=name).exists is False


def test_virtual_account_get_token_is_refused(client, group_with_secret, cleanup):
    group, _, _ = group_with_secret("va-tok")
    va = create_va(client, cleanup, unique_name("vatok"), [(group.fqn, "secret-group-viewer")]).data
    err = assert_status(lambda: client.virtual_accounts.get_token(va.id, request_options=NO_RETRY), 403)
    # SDK 0.6.0 declares no 403 for this operation: a plain ApiError with the parsed HttpError body
    assert type(err) is ApiError, type(err).__name__
    assert "regenerate" in body_message(err).lower(), err.body
    unknown = str(uuid.uuid4())
    assert_status(lambda: client.virtual_accounts.get_token(unknown, request_options=NO_RETRY), 404, NotFoundError)


def test_virtual_account_regenerate_token(client, group_with_secret, cleanup, server_url):
    group, secret_id, value = group_with_secret("va-regen")
    name = unique_name("varegen")
    first = create_va(client, cleanup, name, [(group.fqn, "secret-group-editor")])
    va_id = first.data.id

    # grace 0: the old token dies at once, the new one works (and reads the group)
    second = client.virtual_accounts.regenerate_token(va_id, grace_period_in_minutes=0, request_options=NO_RETRY)
    assert second.token.startswith("tfy_sg_") and second.token != first.token
    assert make_client(server_url, second.token).secrets.get(secret_id).data.value == value
    assert_rejected(server_url, first.token)

    # grace > 0: the previous token keeps working next to the new one
    third = client.virtual_accounts.regenerate_token(va_id, grace_period_in_minutes=30, request_options=NO_RETRY)
    assert third.token not in (first.token, second.token)
    assert_works_as(make_client(server_url, second.token), name)
    assert make_client(server_url, third.token).secrets.get(secret_id).data.value == value

    # out-of-range grace periods and unknown accounts are refused
    assert_status(
        lambda: client.virtual_accounts.regenerate_token(va_id, grace_period_in_minutes=-1, request_options=NO_RETRY),
        422,
        UnprocessableEntityError,
    )
    assert_status(
        lambda: client.virtual_accounts.regenerate_token(
            str(uuid.uuid4()), grace_period_in_minutes=0, request_options=NO_RETRY
        ),
        404,
        NotFoundError,
    )
    # both tokens still work after the refused calls
    assert_works_as(make_client(server_url, third.token), name)
    assert_works_as(make_client(server_url, second.token), name)

    # grace 0 ends every earlier token, including one still in its grace period
    fourth = client.virtual_accounts.regenerate_token(va_id, grace_period_in_minutes=0, request_options=NO_RETRY)
    assert_rejected(server_url, second.token)
    assert_works_as(make_client(server_url, fourth.token), name)


# ---------------------------------------------------------------- users


def test_users_list_get(client, make_user, tenant):
    stem = uuid.uuid4().hex[:12]
    a = make_user(email=f"sdk-ul-{stem}-a@example.com")
    b = make_user(email=f"sdk-ul-{stem}-b@example.com")

    found = drain_all(client.users.list(query=stem.upper(), limit=1))
    assert [u.email for u in found] == [a.email, b.email]
    for u in found:
        assert u.tenant_name == tenant
        assert u.active is True
        assert u.roles == [ROLE_TENANT_MEMBER]
        assert isinstance(u.created_at, datetime) and isinstance(u.updated_at, datetime)
    assert [u.id for u in found] == [a.id, b.id]

    got = client.users.get(a.id).data
    assert got.email == a.email and got.id == a.id and got.active is True
    assert ADMIN_EMAIL in {u.email for u in drain_all(client.users.list(limit=50))}
    assert_status(lambda: client.users.get(str(uuid.uuid4()), request_options=NO_RETRY), 404, NotFoundError)
    # members may look users up too
    assert [u.email for u in drain_all(a.client.users.list(query=stem))] == [a.email, b.email]


def test_users_deactivate_activate_delete(client, make_user, server_url):
    user = make_user("deact")
    member = make_user("deact-m")

    # tenant admins only
    assert_status(lambda: member.client.users.deactivate(email=user.email, request_options=NO_RETRY), 403)
    assert_works_as(user.client, user.email)

    client.users.deactivate(email=user.email, request_options=NO_RETRY)
    assert_rejected(server_url, user.token)
    assert drain_all(client.users.list(query=user.email)) == []
    [shown] = drain_all(client.users.list(query=user.email, show_invalid_users=True))
    assert shown.email == user.email and shown.active is False
    assert client.users.get(user.id).data.active is False

    client.users.activate(email=user.email, request_options=NO_RETRY)
    assert_works_as(user.client, user.email)
    assert client.users.get(user.id).data.active is True
    assert [u.email for u in drain_all(client.users.list(query=user.email))] == [user.email]

    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    assert_status(lambda: client.users.deactivate(email=unknown, request_options=NO_RETRY), 404, NotFoundError)
    assert_status(lambda: client.users.activate(email=unknown, request_options=NO_RETRY), 404, NotFoundError)

    # the last active tenant admin cannot be deactivated, demoted or deleted
    assert_status(lambda: client.users.deactivate(email=ADMIN_EMAIL, request_options=NO_RETRY), 409)
    assert_status(
        lambda: client.users.update_roles(
            email=ADMIN_EMAIL, roles=[ROLE_TENANT_MEMBER], resource_type="tenant", request_options=NO_RETRY
        ),
        409,
    )
    admin_id = whoami(client).id
    assert_status(lambda: client.users.delete(admin_id, request_options=NO_RETRY), 409)
    assert_works_as(client, ADMIN_EMAIL)

    # delete: the user and their tokens are gone
    assert_status(lambda: member.client.users.delete(user.id, request_options=NO_RETRY), 403)
    client.users.delete(user.id, request_options=NO_RETRY)
    assert_rejected(server_url, user.token)
    assert_status(lambda: client.users.get(user.id, request_options=NO_RETRY), 404, NotFoundError)
    assert drain_all(client.users.list(query=user.email, show_invalid_users=True)) == []
    assert_status(lambda: client.users.delete(user.id, request_options=NO_RETRY), 404, NotFoundError)


def test_users_update_roles(client, make_user, group_with_secret):
    group, secret_id, value = group_with_secret("roles")
    member = make_user("promote")

    # a member without a role does not see the admin's group
    assert group.id not in visible_group_ids(member.client)
    assert_status(lambda: member.client.secret_groups.get(group.id, request_options=NO_RETRY), 403, ForbiddenError)
    # and cannot change roles
    assert_status(
        lambda: member.client.users.update_roles(
            email=member.email, roles=[ROLE_TENANT_ADMIN], resource_type="tenant", request_options=NO_RETRY
        ),
        403,
    )

    client.users.update_roles(
        email=member.email, roles=[ROLE_TENANT_ADMIN], resource_type="tenant", request_options=NO_RETRY
    )
    try:
        assert client.users.get(member.id).data.roles == [ROLE_TENANT_ADMIN]
        assert ROLE_TENANT_ADMIN in whoami(member.client).roles
        # promoted: lists every group of the tenant and reads values
        admin_total = client.secret_groups.list(limit=1).response.pagination.total
        member_pager = member.client.secret_groups.list(limit=1)
        assert member_pager.response.pagination.total == admin_total
        assert group.id in visible_group_ids(member.client)
        assert member.client.secrets.get(secret_id).data.value == value
    finally:
        client.users.update_roles(
            email=member.email, roles=[ROLE_TENANT_MEMBER], resource_type="tenant", request_options=NO_RETRY
        )
    assert whoami(member.client).roles == [ROLE_TENANT_MEMBER]
    assert group.id not in visible_group_ids(member.client)

    err = status_of(
        lambda: client.users.update_roles(
            email=member.email, roles=["tenant-owner"], resource_type="tenant", request_options=NO_RETRY
        )
    )
    assert err.status_code in (400, 422), err.body
    assert_status(
        lambda: client.users.update_roles(
            email=f"nobody-{uuid.uuid4().hex[:8]}@example.com",
            roles=[ROLE_TENANT_ADMIN],
            resource_type="tenant",
            request_options=NO_RETRY,
        ),
        404,
        NotFoundError,
    )


def test_user_collaborator_viewer_sees_keys_not_values(client, make_user, group_with_secret):
    group, secret_id, value = group_with_secret("viewer")
    viewer = make_user("viewer")
    editor = make_user("editor")
    set_collaborators(
        client,
        group,
        [
            Collaborator(subject=f"user:{viewer.email}", role_id="secret-group-viewer"),
            Collaborator(subject=f"user:{editor.email}", role_id="secret-group-editor"),
        ],
    )
    assert group.id in visible_group_ids(viewer.client)
    seen = viewer.client.secret_groups.get(group.id).data
    assert [s.id for s in seen.associated_secrets] == [secret_id]
    assert_status(lambda: viewer.client.secrets.get(secret_id, request_options=NO_RETRY), 403, ForbiddenError)
    assert editor.client.secrets.get(secret_id).data.value == value

    # nor through the secret list: asking for values of the group is refused or leaves them out
    try:
        listed = drain(viewer.client.secrets.list(secret_group_id=group.id, with_value=True))
        assert [s.id for s in listed] == [secret_id]
        assert all(s.value is None for s in listed), "a viewer got a value from secrets.list"
    except ApiError as err:
        assert err.status_code == 403, err.body
    assert all(s.value != value for s in drain(viewer.client.secrets.list(with_value=True)))
    by_fqn = drain(viewer.client.secrets.list(secret_fqns=[f"{group.fqn}:TOKEN"], with_value=True))
    assert all(s.value != value for s in by_fqn)
    [mine] = drain(editor.client.secrets.list(secret_group_id=group.id, with_value=True))
    assert mine.value == value


# ---------------------------------------------------------------- teams


def test_team_membership_gives_group_role(client, make_user, group_with_secret, cleanup, tenant):
    group, secret_id, value = group_with_secret("team")
    viewed, viewed_secret, _ = group_with_secret("team-view")
    m1, m2, outsider = make_user("tm1"), make_user("tm2"), make_user("tout")
    name = unique_name("team")

    team = client.teams.create_or_update(
        manifest=TeamManifest(name=name, description="sdk team", members=[m1.email, m2.email]),
        request_options=NO_RETRY,
    ).data
    cleanup["team"].append(team.id)
    assert team.id and team.tenant_name == tenant and team.account_id
    assert team.manifest.name == name
    assert sorted(team.manifest.members) == sorted([m1.email, m2.email])
    assert team.description == "sdk team"
    assert team.created_by_subject.subject_slug == ADMIN_EMAIL
    assert team.is_editable is True

    set_collaborators(client, group, [Collaborator(subject=f"team:{name}", role_id="secret-group-editor")])
    set_collaborators(client, viewed, [Collaborator(subject=f"team:{name}", role_id="secret-group-viewer")])

    # members: editor on `group` (read values), viewer on `viewed` (keys only)
    for m in (m1, m2):
        assert {group.id, viewed.id} <= visible_group_ids(m.client)
        assert m.client.secrets.get(secret_id).data.value == value
    assert_status(lambda: m1.client.secrets.get(viewed_secret, request_options=NO_RETRY), 403, ForbiddenError)
    # an outsider sees neither
    assert not ({group.id, viewed.id} & visible_group_ids(outsider.client))
    assert_status(lambda: outsider.client.secrets.get(secret_id, request_options=NO_RETRY), 403, ForbiddenError)

    # get / list / list_members / who-am-I
    got = client.teams.get(team.id).data
    assert got.id == team.id and got.manifest.name == name
    assert team.id in {t.id for t in drain_all(client.teams.list(limit=1))}
    assert [t.id for t in drain_all(m1.client.teams.list())] == [team.id]
    assert drain_all(outsider.client.teams.list()) == []
    assert m1.client.teams.get(team.id).data.id == team.id
    assert_status(lambda: outsider.client.teams.get(team.id, request_options=NO_RETRY), 403)
    members = drain_all(client.teams.list_members(team.id, limit=1))
    slugs = [r.subject_slug for r in members]
    assert {m1.email, m2.email} <= set(slugs), slugs
    assert outsider.email not in slugs
    for r in members:
        assert r.subject_id and r.subject_type == "user"
    assert {r.subject_id for r in members if r.subject_slug in (m1.email, m2.email)} == {m1.id, m2.id}
    assert [(t.id, t.name) for t in whoami(m1.client).teams] == [(team.id, name)]

    # a member is not a manager: cannot delete the team
    assert_status(lambda: m1.client.teams.delete(team.id, request_options=NO_RETRY), 403)

    # update: m1 leaves the team and loses the role at once
    updated = client.teams.create_or_update(
        manifest=TeamManifest(name=name, description="sdk team", members=[m2.email]), request_options=NO_RETRY
    ).data
    assert updated.id == team.id
    assert group.id not in visible_group_ids(m1.client)
    assert_status(lambda: m1.client.secrets.get(secret_id, request_options=NO_RETRY), 403, ForbiddenError)
    assert m2.client.secrets.get(secret_id).data.value == value

    # delete: the team's roles end
    client.teams.delete(team.id, request_options=NO_RETRY)
    assert_status(lambda: m2.client.secrets.get(secret_id, request_options=NO_RETRY), 403, ForbiddenError)
    assert group.id not in visible_group_ids(m2.client)
    assert_status(lambda: client.teams.get(team.id, request_options=NO_RETRY), 404, NotFoundError)
    assert whoami(m2.client).teams == []
    assert_status(lambda: client.teams.delete(team.id, request_options=NO_RETRY), 404, NotFoundError)


def test_team_created_by_member_and_validation(client, make_user, cleanup):
    owner, other = make_user("towner"), make_user("tother")
    name = unique_name("mteam")
    team = owner.client.teams.create_or_update(
        manifest=TeamManifest(name=name, members=[other.email]), request_options=NO_RETRY
    ).data
    cleanup["team"].append(team.id)
    # the creator manages it (no managers named) and appears among the members with that role
    assert team.is_editable is True
    assert team.description == ""
    assert owner.email in (team.manifest.managers or [])
    slugs = {r.subject_slug for r in drain_all(owner.client.teams.list_members(team.id))}
    assert {owner.email, other.email} <= slugs
    # a plain member can see it but not change it
    assert other.client.teams.get(team.id).data.is_editable is False
    assert_status(
        lambda: other.client.teams.create_or_update(
            manifest=TeamManifest(name=name, members=[]), request_options=NO_RETRY
        ),
        403,
    )
    # dry run stores nothing; unknown member e-mails and bad names are refused
    dry_name = unique_name("dry")
    client.teams.create_or_update(
        manifest=TeamManifest(name=dry_name, members=[]), dry_run=True, request_options=NO_RETRY
    )
    assert dry_name not in {t.manifest.name for t in drain_all(client.teams.list())}
    err = status_of(
        lambda: client.teams.create_or_update(
            manifest=TeamManifest(name=unique_name("bad"), members=[f"nobody-{uuid.uuid4().hex[:8]}@example.com"]),
            request_options=NO_RETRY,
        )
    )
    assert err.status_code in (404, 422), err.body
    assert_status(
        lambda: client.teams.create_or_update(
            manifest=TeamManifest(name="bad name!", members=[]), request_options=NO_RETRY
        ),
        422,
        UnprocessableEntityError,
    )
    # the manager deletes it
    owner.client.teams.delete(team.id, request_options=NO_RETRY)
    assert_status(lambda: client.teams.get(team.id, request_options=NO_RETRY), 404, NotFoundError)


# ---------------------------------------------------------------- tenants


def test_identity_objects_of_another_tenant_are_not_found(client, make_user, group_with_secret, cleanup, cli_env):
    """An admin of another tenant reaches none of this tenant's users, tokens, accounts or teams."""
    group, _, _ = group_with_secret("tenant")
    member = make_user("tenant-m")
    [member_pat] = drain_all(member.client.personal_access_tokens.list())
    va = create_va(client, cleanup, unique_name("tva"), [(group.fqn, "secret-group-viewer")]).data
    team = client.teams.create_or_update(manifest=TeamManifest(name=unique_name("tteam"), members=[member.email])).data
    cleanup["team"].append(team.id)

    other_tenant = unique_name("tenant")
    run_cli(cli_env, "tenants", "create", other_tenant)
    stranger = make_user("stranger", admin=True, in_tenant=other_tenant)
    s = stranger.client
    session = assert_works_as(s, stranger.email)
    assert session.tenant_name == other_tenant and ROLE_TENANT_ADMIN in session.roles

    # users
    assert {u.email for u in drain_all(s.users.list())} == {stranger.email}
    assert_status(lambda: s.users.get(member.id, request_options=NO_RETRY), 404, NotFoundError)
    assert_status(lambda: s.users.deactivate(email=member.email, request_options=NO_RETRY), 404, NotFoundError)
    assert_status(
        lambda: s.users.update_roles(
            email=member.email, roles=[ROLE_TENANT_ADMIN], resource_type="tenant", request_options=NO_RETRY
        ),
        404,
        NotFoundError,
    )
    assert_status(lambda: s.users.delete(member.id, request_options=NO_RETRY), 404, NotFoundError)
    # tokens
    assert_status(
        lambda: s.personal_access_tokens.revoke_all(email=member.email, request_options=NO_RETRY), 404, NotFoundError
    )
    assert_status(lambda: s.personal_access_tokens.delete(member_pat.id, request_options=NO_RETRY), 404, NotFoundError)
    assert_status(
        lambda: s.personal_access_tokens.create_for_user(
            name=f"x-{uuid.uuid4().hex[:8]}", user_email=member.email, request_options=NO_RETRY
        ),
        404,
    )
    # virtual accounts
    assert drain_all(s.virtual_accounts.list()) == []
    assert s.virtual_accounts.exists(name=va.manifest.name).exists is False
    assert_status(lambda: s.virtual_accounts.get(va.id, request_options=NO_RETRY), 404, NotFoundError)
    assert_status(lambda: s.virtual_accounts.get_token(va.id, request_options=NO_RETRY), 404, NotFoundError)
    assert_status(
        lambda: s.virtual_accounts.regenerate_token(va.id, grace_period_in_minutes=0, request_options=NO_RETRY),
        404,
        NotFoundError,
    )
    assert_status(lambda: s.virtual_accounts.delete(va.id, request_options=NO_RETRY), 404, NotFoundError)
    assert_status(
        lambda: s.virtual_accounts.create_or_update(
            manifest=va_manifest(unique_name("steal"), [(group.fqn, "secret-group-admin")]), request_options=NO_RETRY
        ),
        422,
        UnprocessableEntityError,
    )
    # teams
    assert drain_all(s.teams.list()) == []
    assert_status(lambda: s.teams.get(team.id, request_options=NO_RETRY), 404, NotFoundError)
    assert_status(lambda: drain(s.teams.list_members(team.id, request_options=NO_RETRY)), 404, NotFoundError)
    assert_status(lambda: s.teams.delete(team.id, request_options=NO_RETRY), 404, NotFoundError)
    err = status_of(
        lambda: s.teams.create_or_update(
            manifest=TeamManifest(name=unique_name("steal"), members=[member.email]), request_options=NO_RETRY
        )
    )
    assert err.status_code in (404, 422), err.body

    # everything of this tenant is untouched
    assert_works_as(member.client, member.email)
    assert client.virtual_accounts.get(va.id).data.id == va.id
    assert client.teams.get(team.id).data.id == team.id
    assert client.users.get(member.id).data.active is True


# ---------------------------------------------------------------- regressions
#
# Defects found while writing this suite, fixed in the server: roles were matched by name and
# manifests could disagree with what was stored.


def test_member_cannot_gain_a_group_role_by_creating_a_named_team(client, make_user, group_with_secret, cleanup):
    group, secret_id, _ = group_with_secret("squat")
    eve = make_user("eve")
    name = unique_name("pteam")
    try:
        set_collaborators(client, group, [Collaborator(subject=f"team:{name}", role_id="secret-group-editor")])
    except NotFoundError:
        # The server refuses collaborators that name no team (404); it must not have stored any.
        assert_status(lambda: eve.client.secrets.get(secret_id, request_options=NO_RETRY), 403, ForbiddenError)
        return
    assert_status(lambda: eve.client.secrets.get(secret_id, request_options=NO_RETRY), 403, ForbiddenError)
    try:
        team = eve.client.teams.create_or_update(
            manifest=TeamManifest(name=name, members=[eve.email]), request_options=NO_RETRY
        ).data
        cleanup["team"].append(team.id)
    except ApiError:
        return  # refusing the team is a valid fix too
    assert group.id not in visible_group_ids(eve.client)
    assert_status(lambda: eve.client.secrets.get(secret_id, request_options=NO_RETRY), 403, ForbiddenError)


def test_virtual_account_manifest_keeps_permissions_when_omitted(client, group_with_secret, cleanup, server_url):
    group, secret_id, value = group_with_secret("va-keep")
    name = unique_name("vakeep")
    resp = create_va(client, cleanup, name, [(group.fqn, "secret-group-editor")])
    updated = client.virtual_accounts.create_or_update(
        manifest=va_manifest(name, None, expiration_date="2099-01-01"), request_options=NO_RETRY
    ).data
    assert updated.manifest.expiration_date == "2099-01-01"
    # the roles are kept (documented) ...
    assert make_client(server_url, resp.token).secrets.get(secret_id).data.value == value
    # ... so the manifest must still show them
    got = client.virtual_accounts.get(resp.data.id).data
    assert [(p.resource_fqn, p.role_id) for p in (got.manifest.permissions or [])] == [
        (group.fqn, "secret-group-editor")
    ]


def test_deleted_user_leaves_team_manifest(client, make_user, cleanup):
    stay, leave = make_user("stay"), make_user("leave")
    name = unique_name("dteam")
    team = client.teams.create_or_update(
        manifest=TeamManifest(name=name, members=[stay.email, leave.email]), request_options=NO_RETRY
    ).data
    cleanup["team"].append(team.id)
    client.users.delete(leave.id, request_options=NO_RETRY)
    got = client.teams.get(team.id).data
    assert got.members == [stay.email]
    assert [r.subject_slug for r in drain_all(client.teams.list_members(team.id)) if r.subject_slug != ADMIN_EMAIL] == [
        stay.email
    ]
    assert got.manifest.members == [stay.email], got.manifest.members
    # the manifest as read can be applied again
    client.teams.create_or_update(manifest=got.manifest, request_options=NO_RETRY)
