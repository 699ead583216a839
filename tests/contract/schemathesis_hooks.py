"""Schemathesis hooks of scripts/contract/schemathesis.sh (loaded by tests/contract/schemathesis.toml).

A few rules of the API are stated in the document's prose because JSON Schema cannot carry them,
and the server answers 404 or 422 when they are broken:

- which secret-store integration exists is a fact of the deployment (`internal-secret-store`,
  FQN `internal:secret-store:internal-secret-store`), not of the schema;
- the secrets of a group have distinct keys, its collaborators distinct subjects (`uniqueItems`
  compares whole objects, not keys);
- `updateSecretGroup` keeps the current value of an entry without `value`, so such an entry must
  name a key the group already has (the document cannot know which keys a group has);
- e-mails in bodies (`email`, `userEmail`, team `members` and `managers`) must be the e-mails of
  the tenant's users, and a `tenantName` the caller's tenant; users exist only when the operator
  CLI made them (the script makes `dev@example.com` and `leaver@example.com`);
- virtual-account `permissions` must name existing groups, once each (the script makes
  `contract-fixture`);
- a token's `expirationDate` must be in the future;
- the generic manifest operations (`applyManifest`, `deleteManifest`) take a manifest of a type
  the server owns (`secret-group`, `team`, `virtual-account`) as that type's own operation takes
  it, and `resolveDependencyTree` a `type` on each manifest: the document describes the manifest
  as a free-form object and says so in prose (which typed schema applies depends on `type`).

The hooks make generated cases follow these rules, so that positive cases reach the success path
and `positive_data_acceptance` keeps failing on every other 4xx, and so that a negative case is
rejected for its own violation rather than for an unknown integration. They never undo the
violation of a negative case: an integration field is replaced only while it is schema-valid, and
keys, values, e-mails, groups and dates are adjusted in positive cases only.

The run must also keep its own credentials: schemathesis reuses ids and values it saw in earlier
answers, so it would sooner or later revoke, delete, deactivate or demote the bearer (the tenant
admin `admin@localhost` and its token, which every request uses). In every case, positive or
negative, the hooks aim those operations at stand-ins of the same kind (the spare token, the users
above) instead, and keep `dev@example.com` and `contract-fixture`, which the rules above lean on,
from being deleted; see `_keep_the_bearer`.

One check result is dropped, see `filter_failure`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import UTC, datetime, timedelta

import schemathesis
from schemathesis import GenerationMode

INTEGRATION_ID = "internal-secret-store"
INTEGRATION_FQN = "internal:secret-store:internal-secret-store"
# Written by tests/contract/schemathesis_fixtures.py (see there for the keys).
FIXTURES = json.loads(os.environ["SG_CONTRACT_FIXTURES"])
# An id that names nothing on the server (the document's example group id).
UNKNOWN_ID = "0193c6a2-7f00-7000-8000-000000000001"
# The manifest types the generic operations take, and the rule for the names of their objects.
OWNED_TYPES = ("secret-group", "team", "virtual-account")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,126}")
# Operations whose body names a user by `email` and that take something from the user.
DESTRUCTIVE_BY_EMAIL = {"revokeAllPersonalAccessTokens", "deactivateUser", "updateUserRoles"}


def _is_valid_integration(value) -> bool:
    # `minLength: 1`, `maxLength: 512` in the document, in characters.
    return isinstance(value, str) and 1 <= len(value) <= 512


def _is_positive(case) -> bool:
    meta = case.meta
    return meta is None or meta.generation.mode == GenerationMode.POSITIVE


def _distinct_keys(secrets: list, *, fill_values: bool) -> list:
    seen = set()
    out = []
    for entry in secrets:
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            out.append(entry)
            continue
        if entry["key"] in seen:
            continue  # a repeated key: its first entry stays
        seen.add(entry["key"])
        if fill_values and entry.get("value") is None:
            # A generated id's group has none of the generated keys, so "keep the current
            # value" cannot be asked of it.
            entry = {**entry, "value": "kept-" + entry["key"]}
        out.append(entry)
    return out


def _distinct_subjects(collaborators: list) -> list:
    seen = set()
    out = []
    for entry in collaborators:
        subject = entry.get("subject") if isinstance(entry, dict) else None
        if isinstance(subject, str):
            if subject in seen:
                continue  # a repeated subject: its first entry stays
            seen.add(subject)
        out.append(entry)
    return out


def _is_valid_string(value, max_length: int) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= max_length


def _in_the_future(value):
    """A parseable date-time that has passed, moved to a later year (same day and time)."""
    try:
        at = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return value
    now = datetime.now(UTC)
    if (at if at.tzinfo else at.replace(tzinfo=UTC)) > now + timedelta(days=1):
        return value
    try:
        return at.replace(year=now.year + 1 + at.year % 100).isoformat()
    except ValueError:  # 29 February
        return at.replace(year=now.year + 1, day=28).isoformat()


def _keep_the_bearer(operation_id: str, case) -> None:
    """Aims destructive operations that target the bearer at stand-ins, whatever the mode.

    Replacing one existing id or e-mail by another keeps a case exactly as schema-valid or invalid
    as it was.
    """
    params = case.path_parameters or {}
    stand_in = {
        # The bearer's token: the spare one (a token of the same user).
        "deletePersonalAccessToken": {FIXTURES["bearer_token_id"]: FIXTURES["spare_token_id"]},
        # The bearer, and the member the e-mail operations aim at: the user made to be deleted.
        "deleteUser": {
            FIXTURES["bearer_user_id"]: FIXTURES["leaver_user_id"],
            FIXTURES["member_user_id"]: FIXTURES["leaver_user_id"],
        },
        # The group virtual-account permissions name: an id that names nothing.
        "deleteSecretGroup": {FIXTURES["group_id"]: UNKNOWN_ID},
    }.get(operation_id, {})
    if params.get("id") in stand_in:
        case.path_parameters = {**params, "id": stand_in[params["id"]]}
    body = case.body
    if operation_id in DESTRUCTIVE_BY_EMAIL and isinstance(body, dict):
        if body.get("email") == FIXTURES["bearer_email"]:
            case.body = {**body, "email": FIXTURES["member_email"]}


def _user_emails(emails: list) -> list:
    """Each e-mail replaced by one of the users that stay (the bearer, the member), in turn."""
    users = (FIXTURES["bearer_email"], FIXTURES["member_email"])
    return [users[index % 2] if isinstance(email, str) else email for index, email in enumerate(emails)]


@schemathesis.hook
def map_case(context, case):
    operation_id = case.operation.definition.raw.get("operationId")
    _keep_the_bearer(operation_id, case)
    body = case.body
    if not isinstance(body, dict):
        return case
    positive = _is_positive(case)
    if operation_id == "createSecretGroup":
        body = dict(body)
        if _is_valid_integration(body.get("integrationId")):
            body["integrationId"] = INTEGRATION_ID
        if positive and isinstance(body.get("secrets"), list):
            body["secrets"] = _distinct_keys(body["secrets"], fill_values=False)
        case.body = body
    elif operation_id == "createOrUpdateSecretGroup":
        manifest = body.get("manifest")
        if isinstance(manifest, dict):
            manifest = dict(manifest)
            if _is_valid_integration(manifest.get("integration_fqn")):
                manifest["integration_fqn"] = INTEGRATION_FQN
            if positive and isinstance(manifest.get("collaborators"), list):
                manifest["collaborators"] = _distinct_subjects(manifest["collaborators"])
            case.body = {**body, "manifest": manifest}
    elif operation_id in {"applyManifest", "deleteManifest"}:
        manifest = body.get("manifest")
        if isinstance(manifest, dict):
            # Positive cases get a minimal valid manifest of their type; every case keeps away
            # from the fixture group the other rules lean on.
            manifest = _owned_manifest(manifest) if positive else _spare_the_fixture(manifest)
            case.body = {**body, "manifest": manifest}
    elif operation_id == "resolveDependencyTree":
        manifests = body.get("manifests")
        if positive and isinstance(manifests, list):
            typed = [m if not isinstance(m, dict) or isinstance(m.get("type"), str) else {**m, "type": "team"}
                     for m in manifests]
            case.body = {**body, "manifests": typed}
    elif operation_id == "updateSecretGroup":
        secrets = body.get("secrets")
        if positive and isinstance(secrets, list):
            distinct = _distinct_keys(secrets, fill_values=True)
            if distinct:  # `minItems: 1` holds still
                case.body = {**body, "secrets": distinct}
    elif positive:
        case.body = _existing_subjects(operation_id, body)
    return case


def _owned_manifest(manifest: dict) -> dict:
    """A manifest of a type the server owns, with what that type requires and nothing else (a
    generated field would be held to its type's rules: e-mails of users, groups that exist)."""
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True, default=str).encode()).hexdigest()
    kind = manifest.get("type")
    if kind not in OWNED_TYPES:
        kind = OWNED_TYPES[int(digest[:8], 16) % len(OWNED_TYPES)]
    name = manifest.get("name")
    if not (isinstance(name, str) and NAME.fullmatch(name)):
        name = f"contract-apply-{digest[:12]}"
    owned = _spare_the_fixture({"type": kind, "name": name})
    if kind == "secret-group":
        owned["integration_fqn"] = INTEGRATION_FQN
    elif kind == "team":
        owned["members"] = []
    return owned


def _spare_the_fixture(manifest: dict) -> dict:
    """The manifest, aimed away from the group that virtual-account permissions name."""
    if manifest.get("name") == FIXTURES["group_name"]:
        return {**manifest, "name": f"{FIXTURES['group_name']}-stand-in"}
    return manifest


def _existing_subjects(operation_id: str, body: dict) -> dict:
    """A positive identity body naming users, groups and dates that are there."""
    if operation_id in DESTRUCTIVE_BY_EMAIL or operation_id == "activateUser":
        body = dict(body)
        if _is_valid_string(body.get("email"), 320):
            body["email"] = FIXTURES["member_email"]
        if isinstance(body.get("tenantName"), str):
            body["tenantName"] = FIXTURES["tenant"]
    elif operation_id in {"createPersonalAccessToken", "createPersonalAccessTokenForUser"}:
        body = dict(body)
        if operation_id == "createPersonalAccessTokenForUser" and _is_valid_string(body.get("userEmail"), 320):
            body["userEmail"] = FIXTURES["member_email"]
        if isinstance(body.get("expirationDate"), str):
            body["expirationDate"] = _in_the_future(body["expirationDate"])
    elif operation_id == "createOrUpdateTeam":
        manifest = body.get("manifest")
        if isinstance(manifest, dict):
            manifest = dict(manifest)
            for field in ("members", "managers"):
                if isinstance(manifest.get(field), list):
                    manifest[field] = _user_emails(manifest[field])
            body = {**body, "manifest": manifest}
    elif operation_id == "createOrUpdateVirtualAccount":
        manifest = body.get("manifest")
        if isinstance(manifest, dict) and isinstance(manifest.get("permissions"), list) and manifest["permissions"]:
            # One group to name, and a group may be named once: the first permission stays.
            first = manifest["permissions"][0]
            if isinstance(first, dict):
                first = {**first, "resource_fqn": f"{FIXTURES['tenant']}:{FIXTURES['group_name']}"}
            body = {**body, "manifest": {**manifest, "permissions": [first]}}
    return body


@schemathesis.hook
def before_add_examples(context, examples):
    # Cases made from the document's examples (and the values schemathesis captured from earlier
    # answers) do not pass through `map_case`; they follow the same rules. `map_case` changes a
    # case in place and is idempotent.
    for case in examples:
        map_case(context, case)


@schemathesis.hook
def filter_failure(context, failure, case, response):
    # `ensure_resource_availability` (ST302) takes a successful POST to a collection for the
    # creation of the items below it. `listSecrets` is TrueFoundry's POST-with-a-filter-body read
    # of `/api/svc/v1/secrets`: it creates nothing. A secret it listed can be gone a step later
    # for good reasons the check cannot see, because secrets are removed through their group
    # (`updateSecretGroup` drops unlisted keys, `deleteSecretGroup` drops all) and the check only
    # counts a DELETE on the secret's own path as a removal. Every other ST302 stays a failure.
    return not (
        getattr(failure, "code", None) == "ST302"
        and getattr(failure, "created_with", None) == "POST /api/svc/v1/secrets"
    )
