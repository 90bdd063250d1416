"""Desired-state operations: deploy keys and branch protection."""

from __future__ import annotations

import json

import httpx

from providers.base import (
    BranchProtectionSpec,
    DeployKeySpec,
    ExternalDeployKey,
    RepoRef,
    StatusChecks,
)
from providers.github import mapping
from providers.github.mapping import MappingContext
from providers.github.repos import plan_deploy_key_sync
from tests.test_github_adapter_fixtures import (
    API,
    MockGitHub,
    deploy_key_payload,
    link,
    reply,
    token_provider,
)
from tests.test_github_adapter_mapping import PROTECTION

REPO = RepoRef(owner="octocat", name="Hello-World")
KEYS = "/repos/octocat/Hello-World/keys"
KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA"
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB"
KEY_C = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC"
KEY_D = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID"


def _key(key_id: int, key: str, *, read_only: bool = True) -> ExternalDeployKey:
    return mapping.deploy_key(
        deploy_key_payload(key_id, key, read_only=read_only),
        MappingContext(),
        repository="octocat/Hello-World",
    )


def test_plan_adds_missing_deletes_extra_replaces_changed_access() -> None:
    current = [_key(1, KEY_A), _key(2, KEY_B), _key(3, KEY_C)]
    desired = [
        DeployKeySpec(title="a", key=f"{KEY_A} renamed@host"),  # comment differs: same key
        DeployKeySpec(title="c", key=KEY_C, read_only=False),
        DeployKeySpec(title="d", key=KEY_D),
    ]
    plan = plan_deploy_key_sync(current, desired)
    assert [k.external.native_id for k in plan.keep] == ["1"]
    assert [(old.external.native_id, new.read_only) for old, new in plan.replace] == [("3", False)]
    assert [s.title for s in plan.create] == ["d"]
    assert [k.external.native_id for k in plan.delete] == ["2"]


def test_plan_of_identical_sets_changes_nothing() -> None:
    plan = plan_deploy_key_sync([_key(1, KEY_A)], [DeployKeySpec(title="x", key=KEY_A)])
    assert (plan.create, plan.replace, plan.delete) == ([], [], [])


def test_plan_to_empty_deletes_everything() -> None:
    plan = plan_deploy_key_sync([_key(1, KEY_A), _key(2, KEY_B)], [])
    assert [k.external.native_id for k in plan.delete] == ["1", "2"]


async def test_sync_deploy_keys_reads_every_page_then_writes_in_safe_order() -> None:
    page2 = f"{API}{KEYS}?per_page=100&page=2"
    created: list[dict[str, object]] = []

    def add(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        created.append(body)
        return reply(
            201,
            deploy_key_payload(
                10 + len(created), body["key"], title=body["title"], read_only=body["read_only"]
            ),
        )

    mock = (
        MockGitHub()
        .on(
            "GET",
            KEYS,
            reply(
                200,
                [deploy_key_payload(1, KEY_A), deploy_key_payload(2, KEY_B)],
                headers=link((page2, "next")),
            ),
            params={"per_page": "100"},
        )
        .on("GET", KEYS, reply(200, [deploy_key_payload(3, KEY_C)]), params={"page": "2"})
        .on("DELETE", f"{KEYS}/3", reply(204))
        .on("POST", KEYS, add, times=2)
        .on("DELETE", f"{KEYS}/2", reply(404, {"message": "Not Found"}))  # gone already: fine
    )
    desired = [
        DeployKeySpec(title="a", key=KEY_A),
        DeployKeySpec(title="c", key=KEY_C, read_only=False),
        DeployKeySpec(title="d", key=KEY_D),
    ]
    async with token_provider(mock) as github:
        result = await github.sync_deploy_keys(REPO, desired)
    assert result.unchanged == ["1"]
    assert result.updated == ["11"]
    assert result.created == ["12"]
    assert result.deleted == ["2"]
    assert result.changed
    writes = [(r.method, r.url.path) for r in mock.requests if r.method != "GET"]
    assert writes == [
        ("DELETE", f"{KEYS}/3"),
        ("POST", KEYS),
        ("POST", KEYS),
        ("DELETE", f"{KEYS}/2"),
    ]
    assert created == [
        {"title": "c", "key": KEY_C, "read_only": False},
        {"title": "d", "key": KEY_D, "read_only": True},
    ]
    mock.assert_done()


PROTECTION_PATH = "/repos/octocat/Hello-World/branches/master/protection"
NOT_PROTECTED = {
    "message": "Branch not protected",
    "documentation_url": "https://docs.github.com/rest",
}


async def test_branch_protection_created_when_unprotected() -> None:
    def put(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["required_status_checks"] == {"strict": True, "contexts": ["ci"]}
        assert body["required_pull_request_reviews"] is None
        assert "lock_branch" not in body
        return reply(200, PROTECTION)

    mock = (
        MockGitHub()
        .on("GET", PROTECTION_PATH, reply(404, NOT_PROTECTED))
        .on("PUT", PROTECTION_PATH, put)
    )
    desired = BranchProtectionSpec(
        required_status_checks=StatusChecks(strict=True, contexts=["ci"])
    )
    async with token_provider(mock) as github:
        result = await github.sync_branch_protection(REPO, "master", desired)
    assert result.created == ["master"]
    mock.assert_done()


async def test_branch_protection_unchanged_makes_no_write() -> None:
    current = mapping.branch_protection_spec(PROTECTION)
    mock = MockGitHub().on("GET", PROTECTION_PATH, reply(200, PROTECTION))
    async with token_provider(mock) as github:
        result = await github.sync_branch_protection(REPO, "master", current)
    assert result.unchanged == ["master"]
    assert not result.changed


async def test_branch_protection_update_keeps_settings_outside_the_spec() -> None:
    desired = mapping.branch_protection_spec(PROTECTION).model_copy(
        update={"allow_deletions": True}
    )

    def put(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["allow_deletions"] is True
        assert body["lock_branch"] is True  # carried over from GitHub's current value
        return reply(200, PROTECTION)

    mock = (
        MockGitHub()
        .on("GET", PROTECTION_PATH, reply(200, PROTECTION))
        .on("PUT", PROTECTION_PATH, put)
    )
    async with token_provider(mock) as github:
        result = await github.sync_branch_protection(REPO, "master", desired)
    assert result.updated == ["master"]
    mock.assert_done()


async def test_branch_protection_removed() -> None:
    mock = (
        MockGitHub()
        .on("GET", PROTECTION_PATH, reply(200, PROTECTION))
        .on("DELETE", PROTECTION_PATH, reply(204))
    )
    async with token_provider(mock) as github:
        result = await github.sync_branch_protection(REPO, "master", None)
        assert result.deleted == ["master"]
    mock.assert_done()


async def test_missing_branch_is_not_mistaken_for_unprotected() -> None:
    import pytest

    from providers.base import ProviderNotFound

    mock = MockGitHub().on(
        "GET",
        "/repos/octocat/Hello-World/branches/nope/protection",
        reply(404, {"message": "Branch not found"}),
    )
    async with token_provider(mock) as github:
        with pytest.raises(ProviderNotFound, match="Branch not found"):
            await github.sync_branch_protection(REPO, "nope", BranchProtectionSpec())
