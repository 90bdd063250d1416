"""The simulator's `POST /graphql`: answers from the same state as REST (same node ids, urls,
timestamps), GitHub's limits and errors, its own rate-limit bucket, faults and the request log."""

from __future__ import annotations

from typing import Any

import httpx

from providers.github.simulator import Simulator
from providers.github.simulator.ids import node_id
from tests.test_github_simulator_support import client, make_sim, repo_name, small_seed

ISSUES = """
query Issues($owner: String!, $name: String!, $first: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    issues(first: $first, after: $after, orderBy: {field: UPDATED_AT, direction: ASC}) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { id fullDatabaseId number title url updatedAt labels(first: 100) { nodes { name } } }
    }
  }
  rateLimit { cost remaining used limit }
}
"""


def _vars(sim: Simulator, **extra: Any) -> dict[str, Any]:
    owner, name = repo_name(sim).split("/")
    return {"owner": owner, "name": name, **extra}


async def _post(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> httpx.Response:
    return await http.post("/graphql", json={"query": query, "variables": variables or {}})


async def test_issues_come_without_pull_requests_and_match_rest() -> None:
    sim = make_sim(seed=small_seed(issues=8, pulls=6))
    async with client(sim) as http:
        answer = await _post(http, ISSUES, _vars(sim, first=100))
        rest = await http.get(f"/repos/{repo_name(sim)}/issues", params={"state": "all"})
    assert answer.status_code == 200
    conn = answer.json()["data"]["repository"]["issues"]
    assert conn["totalCount"] == 8
    by_number = {i["number"]: i for i in rest.json() if "pull_request" not in i}
    assert {n["number"] for n in conn["nodes"]} == set(by_number)
    for node in conn["nodes"]:
        item = by_number[node["number"]]
        assert node["id"] == item["node_id"]
        assert node["fullDatabaseId"] == str(item["id"])
        assert node["url"] == item["html_url"]
        assert node["updatedAt"] == item["updated_at"]
        assert [x["name"] for x in node["labels"]["nodes"]] == [x["name"] for x in item["labels"]]
    stamps = [n["updatedAt"] for n in conn["nodes"]]
    assert stamps == sorted(stamps)


async def test_keyset_cursor_skips_nothing_when_an_item_moves_while_paging() -> None:
    sim = make_sim(seed=small_seed(issues=12, pulls=0))
    async with client(sim) as http:
        first = (await _post(http, ISSUES, _vars(sim, first=5))).json()["data"]
        page = first["repository"]["issues"]
        moved = page["nodes"][0]["number"]
        # Updating an item already read moves it to the end; keyset cursors do not shift.
        patch = await http.patch(f"/repos/{repo_name(sim)}/issues/{moved}", json={"title": "moved"})
        assert patch.is_success
        seen = [n["number"] for n in page["nodes"]]
        after = page["pageInfo"]["endCursor"]
        while True:
            data = (await _post(http, ISSUES, _vars(sim, first=5, after=after))).json()["data"]
            conn = data["repository"]["issues"]
            seen += [n["number"] for n in conn["nodes"]]
            if not conn["pageInfo"]["hasNextPage"]:
                break
            after = conn["pageInfo"]["endCursor"]
    assert sorted(set(seen)) == list(range(1, 13))
    assert seen.count(moved) == 2  # read again at its new place


async def test_jobs_of_runs_through_nodes_with_rest_ids() -> None:
    sim = make_sim(seed=small_seed(runs=3, jobs=2))
    repo = next(iter(sim.state.repos.values()))
    run = sorted(repo.runs.values(), key=lambda r: r.id)[0]
    query = """
    query J($ids: [ID!]!) {
      nodes(ids: $ids) {
        ... on WorkflowRun {
          databaseId
          checkSuite { checkRuns(first: 50, filterBy: {checkType: LATEST}) {
            nodes { id databaseId name detailsUrl steps(first: 50) { nodes { number } } }
          } }
        }
      }
    }"""
    async with client(sim) as http:
        rest = (await http.get(f"/repos/{repo_name(sim)}/actions/runs/{run.id}/jobs")).json()
        answer = await _post(http, query, {"ids": [node_id("run", run.id), "nope"]})
    body = answer.json()
    # A run id above 2^31 comes back as a plain number, as GitHub serves databaseIds.
    assert body["data"]["nodes"][0]["databaseId"] == run.id > 2**31
    checks = body["data"]["nodes"][0]["checkSuite"]["checkRuns"]["nodes"]
    assert [(c["id"], c["databaseId"], c["detailsUrl"]) for c in checks] == [
        (j["node_id"], j["id"], j["html_url"]) for j in rest["jobs"]
    ]
    assert body["data"]["nodes"][1] is None
    assert body["errors"] == [
        {
            "type": "NOT_FOUND",
            "path": ["nodes", 1],
            "locations": [{"line": 3, "column": 7}],
            "message": "Could not resolve to a node with the global id of 'nope'",
        }
    ]


async def test_missing_repository_is_not_found() -> None:
    sim = make_sim()
    async with client(sim) as http:
        answer = await _post(http, ISSUES, {"owner": "nobody", "name": "nothing", "first": 1})
    body = answer.json()
    assert answer.status_code == 200
    assert body["data"] == {"repository": None, "rateLimit": body["data"]["rateLimit"]}
    assert [(e["type"], e["path"]) for e in body["errors"]] == [("NOT_FOUND", ["repository"])]
    assert body["errors"][0]["message"] == (
        "Could not resolve to a Repository with the name 'nobody/nothing'."
    )


async def test_query_limits_are_checked_before_anything_runs() -> None:
    sim = make_sim()
    async with client(sim) as http:
        missing = await _post(
            http, '{ repository(owner: "a", name: "b") { issues { nodes { id } } } }'
        )
        too_many = await _post(http, ISSUES, _vars(sim, first=101))
        ids = [f"X{i}" for i in range(100)]
        huge = await _post(
            http,
            """query($ids: [ID!]!) { nodes(ids: $ids) { ... on WorkflowRun { checkSuite {
                 checkRuns(first: 100) { nodes { steps(first: 100) { nodes { name } } } } } } } }""",
            {"ids": ids},
        )
        invalid = await _post(http, '{ repository(owner: "a", name: "b") { secret } }')
    assert missing.json()["errors"][0]["type"] == "MISSING_PAGINATION_BOUNDARIES"
    assert too_many.json()["errors"][0]["type"] == "EXCESSIVE_PAGINATION"
    assert too_many.json()["errors"][0]["message"] == (
        "Requesting 101 records on the `issues` connection exceeds the `first` limit of 100 "
        "records."
    )
    assert huge.json()["errors"][0]["type"] == "MAX_NODE_LIMIT_EXCEEDED"
    assert "1,010,100" in huge.json()["errors"][0]["message"]
    assert "secret" in invalid.json()["errors"][0]["message"]
    assert "data" not in invalid.json()
    # Refused queries cost nothing.
    assert all(r["cost"] == 0 for r in sim.requests)


async def test_points_come_from_a_graphql_bucket_of_their_own() -> None:
    sim = make_sim()
    async with client(sim) as http:
        rest = await http.get(f"/repos/{repo_name(sim)}")
        answer = await _post(http, ISSUES, _vars(sim, first=100))
    assert rest.headers["x-ratelimit-resource"] == "core"
    assert rest.headers["x-ratelimit-remaining"] == "4999"
    assert answer.headers["x-ratelimit-resource"] == "graphql"
    # 1 request for the issues, 100 for their labels: 101 / 100, rounded: 1 point.
    rate = answer.json()["data"]["rateLimit"]
    assert rate == {"cost": 1, "remaining": 4999, "used": 1, "limit": 5000}
    assert answer.headers["x-ratelimit-remaining"] == "4999"
    entry = sim.requests[-1]
    assert (entry["path"], entry["operation"], entry["cost"]) == ("/graphql", "Issues", 1)
    assert entry["bucket"].startswith("graphql:user:")


async def test_spent_budget_answers_200_with_a_rate_limit_error() -> None:
    sim = make_sim()
    async with client(sim) as http:
        await _post(http, ISSUES, _vars(sim, first=1))
        bucket = sim.requests[-1]["bucket"]
        limit = {"bucket": bucket, "remaining": 0, "reset_in": 120}
        assert (await http.put("/_sim/ratelimit", json=limit)).is_success
        answer = await _post(http, ISSUES, _vars(sim, first=1))
        rest = await http.get(f"/repos/{repo_name(sim)}")
    assert answer.status_code == 200
    assert answer.headers["x-ratelimit-remaining"] == "0"
    error = answer.json()["errors"][0]
    assert (error["type"], error["code"]) == ("RATE_LIMIT", "graphql_rate_limit")
    assert error["message"].startswith("API rate limit already exceeded for user ID ")
    assert rest.status_code == 200  # REST has its own budget
    async with client(sim) as http:
        resources = (await http.get("/rate_limit")).json()["resources"]
    assert resources["graphql"]["remaining"] == 0
    assert resources["core"]["remaining"] > 0


async def test_auth_secondary_limit_and_faults_apply_as_for_rest() -> None:
    sim = make_sim()
    async with client(sim, headers={}) as anonymous:
        unauthenticated = await _post(anonymous, ISSUES, _vars(sim, first=1))
    async with client(sim) as http:
        secondary = {"retry_after": 30, "status": 403}
        assert (await http.put("/_sim/ratelimit/secondary", json=secondary)).is_success
        limited = await _post(http, ISSUES, _vars(sim, first=1))
        assert (await http.delete("/_sim/ratelimit/secondary")).is_success
        faults = {"error_ratio": 1.0, "error_statuses": [502], "seed": 1}
        assert (await http.put("/_sim/faults", json=faults)).is_success
        faulted = await _post(http, ISSUES, _vars(sim, first=1))
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["message"] == "Requires authentication"
    assert limited.status_code == 403
    assert limited.headers["retry-after"] == "30"
    assert limited.headers["x-ratelimit-resource"] == "graphql"
    assert "secondary rate limit" in limited.json()["message"]
    assert faulted.status_code == 502
    assert sim.requests[-1]["fault"] == "error"
