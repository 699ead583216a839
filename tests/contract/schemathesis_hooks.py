"""Schemathesis hooks of scripts/contract/schemathesis.sh (loaded by tests/contract/schemathesis.toml).

A few rules of the API are stated in the document's prose because JSON Schema cannot carry them,
and the server answers 404 or 422 when they are broken:

- which secret-store integration exists is a fact of the deployment (`internal-secret-store`,
  FQN `internal:secret-store:internal-secret-store`), not of the schema;
- the secrets of a group have distinct keys (`uniqueItems` compares whole objects, not keys);
- `updateSecretGroup` keeps the current value of an entry without `value`, so such an entry must
  name a key the group already has (the document cannot know which keys a group has).

The hooks make generated cases follow these rules, so that positive cases reach the success path
and `positive_data_acceptance` keeps failing on every other 4xx, and so that a negative case is
rejected for its own violation rather than for an unknown integration. They never undo the
violation of a negative case: an integration field is replaced only while it is schema-valid, and
keys and values are adjusted in positive cases only.

One check result is dropped, see `filter_failure`.
"""

from __future__ import annotations

import schemathesis
from schemathesis import GenerationMode

INTEGRATION_ID = "internal-secret-store"
INTEGRATION_FQN = "internal:secret-store:internal-secret-store"


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


@schemathesis.hook
def map_case(context, case):
    operation_id = case.operation.definition.raw.get("operationId")
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
        if isinstance(manifest, dict) and _is_valid_integration(manifest.get("integration_fqn")):
            case.body = {**body, "manifest": {**manifest, "integration_fqn": INTEGRATION_FQN}}
    elif operation_id == "updateSecretGroup":
        secrets = body.get("secrets")
        if positive and isinstance(secrets, list):
            distinct = _distinct_keys(secrets, fill_values=True)
            if distinct:  # `minItems: 1` holds still
                case.body = {**body, "secrets": distinct}
    return case


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
