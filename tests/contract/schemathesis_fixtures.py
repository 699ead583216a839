"""Test data for scripts/contract/schemathesis.sh, made on the fresh server before the run.

Run after the script has created the users `dev@example.com` and `leaver@example.com` with the
operator CLI (the API cannot create users). Creates through the API, as the bearer
(`SG_URL`, `SG_TOKEN`):

- the secret group `contract-fixture`, which virtual-account `permissions` can name (they must
  name existing groups; groups made during the run come and go);
- a second token of the bearer, `contract-spare`, a token the run may delete.

Prints, as one JSON object, what tests/contract/schemathesis_hooks.py needs (it reads it from
`SG_CONTRACT_FIXTURES`): the bearer's e-mail, user id and token id, which the hooks keep out of
reach of the destructive operations, and the ids and e-mails they aim those operations at instead.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request

URL = os.environ["SG_URL"]
TOKEN = os.environ["SG_TOKEN"]
MEMBER_EMAIL = "dev@example.com"
LEAVER_EMAIL = "leaver@example.com"
GROUP_NAME = "contract-fixture"
SPARE_TOKEN_NAME = "contract-spare"


def call(method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        URL + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def main() -> None:
    me = call("GET", "/api/svc/v1/x/users/info")
    # The bearer's own tokens before the spare exists: the bearer's token only.
    before = call("GET", "/api/svc/v1/personal-access-tokens?limit=1000")["data"]
    if len(before) != 1:
        sys.exit(f"expected the bearer to have one token on a fresh server, found {len(before)}")
    call("POST", "/api/svc/v1/personal-access-tokens", {"name": SPARE_TOKEN_NAME})
    tokens = call("GET", "/api/svc/v1/personal-access-tokens?limit=1000")["data"]
    group = call(
        "POST",
        "/api/svc/v1/secret-groups",
        {"name": GROUP_NAME, "integrationId": "internal-secret-store", "secrets": []},
    )["data"]
    users = {user["email"]: user["id"] for user in call("GET", "/api/svc/v1/users?limit=1000")["data"]}
    json.dump(
        {
            "tenant": me["tenantName"],
            "bearer_email": me["subjectSlug"],
            "bearer_user_id": me["id"],
            "bearer_token_id": before[0]["id"],
            "spare_token_id": next(t["id"] for t in tokens if t["name"] == SPARE_TOKEN_NAME),
            "member_email": MEMBER_EMAIL,
            "member_user_id": users[MEMBER_EMAIL],
            "leaver_user_id": users[LEAVER_EMAIL],
            "group_name": GROUP_NAME,
            "group_id": group["id"],
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
