"""`read_object` on the reads the simulator does not serve, with GitHub's published examples.

Check runs, check suites and commit statuses come from CI systems outside GitHub Actions; the
simulator has no such objects, so these reads are driven against the example responses of
GitHub's OpenAPI description, served at the paths it documents. The simulated kinds are covered
by tests/test_fresh_read_parity.py.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from providers.base import ExternalObject
from providers.github import GitHubCredentials, GitHubProvider
from providers.github import reads as github_reads
from providers.reads import ObjectRef, UnreadableObject
from tests.test_github_simulator_support import openapi_document

API = "https://api.github.com"
REPO = "octocat/Hello-World"


def _example(path: str) -> Any:
    """The default example of the 200 response of GET `path` in the published description."""
    doc = openapi_document()
    content = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    ref = content["examples"]["default"]["$ref"].rsplit("/", 1)[-1]
    return doc["components"]["examples"][ref]["value"]


def _serving(routes: dict[str, Any]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        body = routes.get(request.url.path)
        if body is None:
            return httpx.Response(404, json={"message": "Not Found"})
        return httpx.Response(200, json=body)

    return httpx.MockTransport(handle)


async def _read(routes: dict[str, Any], ref: ObjectRef) -> ExternalObject | None:
    provider = GitHubProvider.connect(
        GitHubCredentials(token="t"), base_url=API, transport=_serving(routes)
    )
    async with provider:
        return await provider.read_object(ref)


async def test_a_check_run_is_read_from_its_own_resource() -> None:
    run = _example("/repos/{owner}/{repo}/check-runs/{check_run_id}")
    ref = ObjectRef(
        resource_kind="Job", native_kind="check_run", native_id=f"check_run/{run['id']}",
        repository=REPO,
    )  # fmt: skip
    found = await _read({f"/repos/{REPO}/check-runs/{run['id']}": run}, ref)
    assert found is not None
    assert found.external.native_id == ref.native_id
    assert found.external.updated_at is not None


async def test_a_check_suite_is_read_from_its_own_resource() -> None:
    suite = _example("/repos/{owner}/{repo}/check-suites/{check_suite_id}")
    ref = ObjectRef(
        resource_kind="Pipeline", native_kind="check_suite",
        native_id=f"check_suite/{suite['id']}", repository=REPO,
    )  # fmt: skip
    found = await _read({f"/repos/{REPO}/check-suites/{suite['id']}": suite}, ref)
    assert found is not None
    assert found.external.native_id == ref.native_id


async def test_a_commit_status_is_the_newest_of_its_context() -> None:
    statuses = _example("/repos/{owner}/{repo}/commits/{ref}/statuses")
    context = statuses[0]["context"]
    older = {**statuses[0], "id": 1, "state": "pending", "updated_at": "2011-01-01T00:00:00Z"}
    sha = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
    ref = ObjectRef(
        resource_kind="Pipeline", native_kind="commit_status",
        native_id=f"status/{sha}/{context}", repository=REPO,
    )  # fmt: skip
    listing = {f"/repos/{REPO}/commits/{sha}/statuses": [statuses[0], older]}
    found = await _read(listing, ref)
    assert found is not None
    assert found.external.native_id == ref.native_id
    # The newest report, not the older `pending` one listed after it.
    assert found.external.updated_at is not None
    assert found.external.updated_at.isoformat().startswith(statuses[0]["updated_at"][:19])
    other = ref.model_copy(update={"native_id": f"status/{sha}/no-such-context"})
    assert await _read(listing, other) is None


async def test_a_404_means_gone_and_an_unknown_kind_is_refused() -> None:
    ref = ObjectRef(resource_kind="Issue", native_kind="issue", native_id="1", number=7,
                    repository=REPO)  # fmt: skip
    assert await _read({}, ref) is None
    with pytest.raises(UnreadableObject):
        await _read({}, ObjectRef(resource_kind="GitRef", native_kind="branch", repository=REPO))


def test_every_read_path_is_a_documented_operation() -> None:
    paths = openapi_document()["paths"]
    for get in github_reads._GETS.values():
        documented = "/repos/{owner}/{repo}/" + get.path
        templated = [
            p
            for p in paths
            if p.count("/") == documented.count("/")
            and all(
                a == b or (a.startswith("{") and b.startswith("{"))
                for a, b in zip(p.split("/"), documented.split("/"), strict=True)
            )
        ]
        assert any("get" in paths[p] for p in templated), documented
