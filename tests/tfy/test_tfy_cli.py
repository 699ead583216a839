"""TrueFoundry's CLI (`tfy`, PyPI `truefoundry` 0.17.5), unmodified, against this server:
`tfy login` with a token from `tokens create`, `tfy apply -f` / `-d`, `--dry-run --show-diff`,
re-applying an unchanged manifest, `tfy delete -f`, and a manifest of a type this server does
not own. Every result is checked through the server's own API, never through the CLI alone.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import (
    ADMIN_EMAIL,
    INTEGRATION_FQN,
    SECRET_MARKER,
    TENANT,
    Api,
    Run,
    Tfy,
    unique_name,
    write,
)


def team_yaml(team: str) -> str:
    return f"type: team\nname: {team}\nmembers: []\n"


def group_yaml(group: str, team: str, team_role: str = "secret-group-editor") -> str:
    return f"""type: secret-group
name: {group}
integration_fqn: {INTEGRATION_FQN}
collaborators:
  - subject: user:{ADMIN_EMAIL}
    role_id: secret-group-admin
  - subject: team:{team}
    role_id: {team_role}
"""


def account_yaml(account: str, group: str) -> str:
    return f"""type: virtual-account
name: {account}
permissions:
  - resource_fqn: {TENANT}:{group}
    resource_type: secret-group
    role_id: secret-group-viewer
"""


def assert_ok(run: Run) -> None:
    assert run.code == 0, str(run)


def collaborators(api: Api, group: str) -> dict:
    found = api.group(group)
    assert found is not None, f"no group {group}"
    return {c["subject"]: c["role_id"] for c in found["manifest"]["collaborators"]}


def test_login_takes_a_token_from_tokens_create(login: Run, issued_token: str, tfy: Tfy, url: str) -> None:
    # Before tfy_ tokens, the CLI decoded the key as a JWT: "Not enough segments".
    assert_ok(login)
    assert issued_token.startswith("tfy_sg_")
    assert f"Successfully logged in to '{url}' as '{ADMIN_EMAIL}'" in login.text, str(login)
    credentials = json.loads((tfy.home / ".truefoundry" / "credentials.json").read_text())
    assert credentials["host"] == url and credentials["access_token"] == issued_token


def test_a_wrong_token_is_refused_at_login(tmp_path: Path, url: str, issued_token: str) -> None:
    wrong = "tfy_sg_" + "A" * 43
    run = Tfy(tmp_path, url)("login", "--host", url, "--api-key", wrong)
    assert run.code != 0, str(run)
    assert "Invalid or expired API token" in run.text, str(run)
    assert not (tmp_path / ".truefoundry" / "credentials.json").exists()


def test_apply_files_in_any_order(logged_in: None, tfy: Tfy, api: Api, tmp_path: Path) -> None:
    team, group, account = unique_name("team"), unique_name("group"), unique_name("ci")
    # Given in reverse: the dependency tree puts the team first, the account last.
    files = [
        write(tmp_path, "account.yaml", account_yaml(account, group)),
        write(tmp_path, "group.yaml", group_yaml(group, team)),
        write(tmp_path, "team.yaml", team_yaml(team)),
    ]
    run = tfy("apply", *(arg for f in files for arg in ("-f", str(f))))
    assert_ok(run)
    for name, kind in ((team, "team"), (group, "secret-group"), (account, "virtual-account")):
        assert f"Successfully configured manifest {name} of type {kind}" in run.text, str(run)
    assert api.team(team) is not None
    assert collaborators(api, group) == {f"user:{ADMIN_EMAIL}": "secret-group-admin", f"team:{team}": "secret-group-editor"}
    found = api.virtual_account(account)
    assert found is not None and found["manifest"]["permissions"][0]["resource_fqn"] == f"{TENANT}:{group}"


def test_apply_a_directory_in_one_pass(logged_in: None, tfy: Tfy, api: Api, tmp_path: Path) -> None:
    team, group, account = unique_name("team"), unique_name("group"), unique_name("ci")
    directory = tmp_path / "manifests"
    (directory / "nested").mkdir(parents=True)
    # Alphabetical order would apply the account before the group it names.
    write(directory, "a-account.yaml", account_yaml(account, group))
    write(directory / "nested", "b-group.yml", group_yaml(group, team))
    write(directory, "c-team.yaml", team_yaml(team))
    run = tfy("apply", "-d", str(directory))
    assert_ok(run)
    assert "Found 3 yaml file(s) in directory" in run.text, str(run)
    assert api.team(team) and api.group(group) and api.virtual_account(account), str(run)


def test_dry_run_shows_the_diff_and_stores_nothing(logged_in: None, tfy: Tfy, api: Api, tmp_path: Path) -> None:
    team, group = unique_name("team"), unique_name("group")
    assert_ok(tfy("apply", "-f", str(write(tmp_path, "team.yaml", team_yaml(team)))))
    assert_ok(tfy("apply", "-f", str(write(tmp_path, "group.yaml", group_yaml(group, team)))))
    before = api.group(group)

    changed = write(tmp_path, "changed.yaml", group_yaml(group, team, team_role="secret-group-viewer"))
    run = tfy("apply", "-f", str(changed), "--dry-run", "--show-diff")
    assert_ok(run)
    assert f"Diff for {group} (secret-group)" in run.text, str(run)
    # A unified diff of the YAML: the list item's line removed and added.
    assert "-- role_id: secret-group-editor" in run.text and "+- role_id: secret-group-viewer" in run.text, str(run)
    assert "[Dry Run] Successfully configured manifest" in run.text and "(No changes were applied)" in run.text
    assert collaborators(api, group)[f"team:{team}"] == "secret-group-editor", "a dry run stored a change"
    assert api.group(group)["updatedAt"] == before["updatedAt"]

    # A dry run of something new creates nothing either.
    new_group = unique_name("group")
    run = tfy("apply", "-f", str(write(tmp_path, "new.yaml", group_yaml(new_group, team))), "--dry-run", "--show-diff")
    assert_ok(run)
    assert api.group(new_group) is None, "a dry run created a group"


def test_reapplying_unchanged_manifests_changes_nothing(logged_in: None, tfy: Tfy, api: Api, tmp_path: Path) -> None:
    team, group, account = unique_name("team"), unique_name("group"), unique_name("ci")
    files = [
        write(tmp_path, "team.yaml", team_yaml(team)),
        write(tmp_path, "group.yaml", group_yaml(group, team)),
        write(tmp_path, "account.yaml", account_yaml(account, group)),
    ]
    flags = [arg for f in files for arg in ("-f", str(f))]
    assert_ok(tfy("apply", *flags))
    stored = api.group(group)
    secret = api.set_secret(stored["id"], "API_KEY", f"{SECRET_MARKER}v1")["associatedSecrets"][0]
    versions = api.versions(secret["id"])

    # One file at a time: in a dry run the CLI skips a manifest that depends on another one of
    # the same run ("Skipped ... because it has dependencies").
    for path, name, kind in zip(files, (team, group, account), ("team", "secret-group", "virtual-account")):
        run = tfy("apply", "-f", str(path), "--dry-run", "--show-diff")
        assert_ok(run)
        assert f"No changes detected for {name} ({kind})" in run.text, str(run)
        assert "Diff for" not in run.text, str(run)

    assert_ok(tfy("apply", *flags))
    assert api.versions(secret["id"]) == versions, "a re-apply made a new version"
    assert collaborators(api, group) == {f"user:{ADMIN_EMAIL}": "secret-group-admin", f"team:{team}": "secret-group-editor"}
    assert api.virtual_account(account)["manifest"]["permissions"][0]["role_id"] == "secret-group-viewer"


def test_delete_removes_what_the_file_names(logged_in: None, tfy: Tfy, api: Api, tmp_path: Path) -> None:
    team, group = unique_name("team"), unique_name("group")
    team_file = write(tmp_path, "team.yaml", team_yaml(team))
    group_file = write(tmp_path, "group.yaml", group_yaml(group, team))
    assert_ok(tfy("apply", "-f", str(team_file), "-f", str(group_file)))
    assert api.group(group) is not None

    run = tfy("delete", "-f", str(group_file))
    assert_ok(run)
    assert f"Successfully deleted resource manifest {group} of type secret-group" in run.text, str(run)
    assert api.group(group) is None
    assert api.team(team) is not None, "only what the file names is deleted"

    run = tfy("delete", "-f", str(group_file))
    assert run.code != 0 and f"no secret-group named {group}" in run.text, str(run)


def test_an_unsupported_type_fails_clearly_and_stores_nothing(logged_in: None, tfy: Tfy, api: Api, tmp_path: Path) -> None:
    name = unique_name("cluster")
    manifest = write(tmp_path, "cluster.yaml", f"type: cluster\nname: {name}\ncluster_type: generic\n")
    run = tfy("apply", "-f", str(manifest))
    assert run.code != 0, str(run)
    assert f"Failed to apply manifest {name} of type cluster" in run.text, str(run)
    assert "must be one of secret-group, team, virtual-account" in run.text, str(run)
    assert api.group(name) is None and api.team(name) is None and api.virtual_account(name) is None
