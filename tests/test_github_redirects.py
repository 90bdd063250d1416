"""Renamed repositories: the GitHub simulator answers a former name the way GitHub does (301
for reads, 307 for writes, Location /repositories/{id}/...) and sends `repository.renamed`;
the adapter follows those redirects on its own origin only."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from providers.base import IssuePatch, ProviderProtocolError, ProviderRequestError, RepoRef
from providers.github import GitHubCredentials, GitHubProvider
from providers.github.simulator.app import Simulator, SimulatorConfig
from providers.github.simulator.seed import SeedConfig
from providers.github.simulator.webhooks import WebhookConfig
from tests.test_github_adapter_fixtures import API, MockGitHub, issue_payload, reply, token_provider

BASE = "http://github-sim.test"


@dataclass
class Renamed:
    sim: Simulator
    github: GitHubProvider
    old: RepoRef
    new: RepoRef
    repo_id: int
    hooks: list[httpx.Request]


@pytest.fixture
async def renamed() -> AsyncIterator[Renamed]:
    hooks: list[httpx.Request] = []

    def receive(request: httpx.Request) -> httpx.Response:
        hooks.append(request)
        return httpx.Response(202)

    sim = Simulator(
        SimulatorConfig(
            base_url=BASE,
            seed=SeedConfig(owners=["octo-org"], repos=1, issues=5, pulls=1, runs=0, comments=0),
            webhook=WebhookConfig(url="http://hooks.test/", secret="s", content_type="json"),
        ),
        webhook_transport=httpx.MockTransport(receive),
    )
    repo = next(iter(sim.state.repos.values()))
    old = RepoRef(owner=repo.owner.login, name=repo.name)
    async with GitHubProvider.connect(
        GitHubCredentials(token="sim-token"), base_url=BASE, transport=httpx.ASGITransport(app=sim)
    ) as github:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url=BASE) as c:
            answer = await c.patch(f"/_sim/api/repos/{old.full_name}", json={"name": "renamed"})
            assert answer.status_code == 200, answer.text
            await sim.webhooks.drain()
        yield Renamed(sim, github, old, RepoRef(owner=old.owner, name="renamed"), repo.id, hooks)


async def test_simulator_redirects_a_former_name_like_github(renamed: Renamed) -> None:
    transport = httpx.ASGITransport(app=renamed.sim)
    headers = {"Authorization": "Bearer sim-token"}
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as raw:
        read = await raw.get(f"/repos/{renamed.old.full_name}/issues?state=all")
        assert read.status_code == 301
        location = f"{BASE}/repositories/{renamed.repo_id}/issues?state=all"
        assert read.headers["location"] == location
        assert read.json()["url"] == location
        write = await raw.patch(f"/repos/{renamed.old.full_name}/issues/1", json={"title": "x"})
        assert write.status_code == 307
        by_id = await raw.get(f"/repositories/{renamed.repo_id}")
        assert by_id.status_code == 200
        assert by_id.json()["full_name"] == renamed.new.full_name


async def test_simulator_sends_repository_renamed_webhook(renamed: Renamed) -> None:
    (hook,) = [h for h in renamed.hooks if h.headers["x-github-event"] == "repository"]
    payload: dict[str, Any] = json.loads(hook.content)
    assert payload["action"] == "renamed"
    assert payload["changes"] == {"repository": {"name": {"from": renamed.old.name}}}
    assert payload["repository"]["id"] == renamed.repo_id
    assert payload["repository"]["full_name"] == renamed.new.full_name


async def test_adapter_reads_and_writes_through_the_old_name(renamed: Renamed) -> None:
    github = renamed.github
    repository = await github.get_repository(renamed.old)
    assert repository.full_name == renamed.new.full_name
    page = await github.list_issues(renamed.old)
    assert page.items
    assert {issue.repository for issue in page.items} <= {
        renamed.old.full_name,
        renamed.new.full_name,
    }
    number = page.items[0].number
    updated = await github.update_issue(renamed.old, number, IssuePatch(title="via 307"))
    assert updated.title == "via 307"
    current = await github.get_issue(renamed.new, number)
    assert current.title == "via 307"


async def test_a_taken_former_name_is_no_longer_redirected(renamed: Renamed) -> None:
    state = renamed.sim.state
    original = state.repos_by_id[renamed.repo_id]
    state.add_repo(original.owner, renamed.old.name, original.created_at)
    fresh = await renamed.github.get_repository(renamed.old)
    assert fresh.full_name == renamed.old.full_name
    assert fresh.external.native_id != str(renamed.repo_id)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_get_follows_same_origin_redirects_keeping_etag(status: int) -> None:
    moved = f"{API}/repositories/1296269/issues/1"
    mock = (
        MockGitHub()
        .on(
            "GET",
            "/repos/octocat/Hello-World/issues/1",
            reply(
                status, {"message": "Moved Permanently", "url": moved}, headers={"location": moved}
            ),
        )
        .on("GET", "/repositories/1296269/issues/1", reply(200, issue_payload(1)))
    )
    async with token_provider(mock) as github:
        issue = await github.get_issue(RepoRef(owner="octocat", name="Hello-World"), 1)
    assert issue.number == 1
    mock.assert_done()
    assert mock.requests[1].headers["authorization"] == mock.requests[0].headers["authorization"]


async def test_write_follows_307_but_not_301() -> None:
    moved = f"{API}/repositories/1296269/issues/1"
    path = "/repos/octocat/Hello-World/issues/1"
    mock = (
        MockGitHub()
        .on(
            "PATCH",
            path,
            reply(307, {"message": "Temporary Redirect"}, headers={"location": moved}),
        )
        .on("PATCH", "/repositories/1296269/issues/1", reply(200, issue_payload(1)))
        .on(
            "PATCH", path, reply(301, {"message": "Moved Permanently"}, headers={"location": moved})
        )
    )
    repo = RepoRef(owner="octocat", name="Hello-World")
    async with token_provider(mock) as github:
        await github.update_issue(repo, 1, IssuePatch(title="t"))
        assert mock.requests[1].content == mock.requests[0].content  # same method, same body
        with pytest.raises(ProviderRequestError, match="Moved Permanently"):
            await github.update_issue(repo, 1, IssuePatch(title="t"))
    mock.assert_done()


async def test_redirect_to_another_origin_is_refused_without_sending_the_token() -> None:
    mock = MockGitHub().on(
        "GET",
        "/repos/octocat/Hello-World/issues/1",
        reply(301, {}, headers={"location": "https://evil.example/steal"}),
    )
    async with token_provider(mock) as github:
        with pytest.raises(ProviderProtocolError, match="refusing"):
            await github.get_issue(RepoRef(owner="octocat", name="Hello-World"), 1)
    assert len(mock.requests) == 1


async def test_redirect_loop_stops_and_is_classified() -> None:
    path = "/repos/octocat/Hello-World/issues/1"
    mock = MockGitHub().on(
        "GET",
        path,
        reply(301, {"message": "Moved Permanently"}, headers={"location": f"{API}{path}"}),
        times=6,
    )
    async with token_provider(mock) as github:
        with pytest.raises(ProviderRequestError, match="Moved Permanently"):
            await github.get_issue(RepoRef(owner="octocat", name="Hello-World"), 1)
    assert len(mock.requests) == 6
