"""Behaviour of the GitHub simulator that clients depend on: pagination, filters, conditional
requests, rate limits, faults, the control API, webhooks and the App token flow."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from providers.github.simulator import (
    AppConfig,
    FaultConfig,
    Simulator,
    SimulatorConfig,
    WebhookConfig,
    build_config,
    run_in_thread,
)
from providers.github.simulator.clock import iso, parse_iso
from tests.test_github_simulator_support import (
    AUTH,
    app_jwt,
    client,
    make_sim,
    repo_name,
    rsa_private_pem,
    small_seed,
)

LINK = re.compile(r'<([^>]+)>; rel="(\w+)"')


def links(response: httpx.Response) -> dict[str, str]:
    return {rel: url for url, rel in LINK.findall(response.headers.get("link", ""))}


async def walk(http: httpx.AsyncClient, url: str) -> tuple[list[Any], list[httpx.Response]]:
    """Follow rel="next" from `url`; return every item and every response."""
    items: list[Any] = []
    responses = []
    next_url: str | None = url
    while next_url:
        response = await http.get(next_url)
        assert response.status_code == 200, response.text
        responses.append(response)
        body = response.json()
        items += body["workflow_runs"] if isinstance(body, dict) else body
        next_url = links(response).get("next")
        assert len(responses) < 1000, "pagination does not end"
    return items, responses


# -- pagination -----------------------------------------------------------------------------


async def test_pagination_walks_every_issue_once_with_links() -> None:
    sim = make_sim(seed=small_seed(issues=45, pulls=30))
    r = repo_name(sim)
    async with client(sim) as http:
        items, responses = await walk(http, f"/repos/{r}/issues?state=all&per_page=7")
    numbers = [i["number"] for i in items]
    assert sorted(numbers) == list(range(1, 76))
    assert len(set(numbers)) == len(numbers)
    assert numbers == sorted(numbers, reverse=True)  # created desc is the default order
    assert sum(1 for i in items if "pull_request" in i) == 30
    assert len(responses) == 11  # ceil(75 / 7)
    first, middle, last = links(responses[0]), links(responses[5]), links(responses[-1])
    assert set(first) == {"next", "last"}
    assert set(middle) == {"prev", "next", "last", "first"}
    assert set(last) == {"prev", "first"}
    assert "page=11" in first["last"]
    assert "state=all" in first["last"]
    assert "per_page=7" in middle["next"]
    assert "page=7" in middle["next"]
    assert "page=5" in middle["prev"]
    assert "page=1" in middle["first"]
    assert all(url.startswith("http://sim.test/repos/") for url in middle.values())


async def test_per_page_defaults_to_30_and_caps_at_100() -> None:
    sim = make_sim(seed=small_seed(issues=150, pulls=0))
    r = repo_name(sim)
    async with client(sim) as http:
        default = await http.get(f"/repos/{r}/issues?state=all")
        capped = await http.get(f"/repos/{r}/issues?state=all&per_page=500")
        beyond = await http.get(f"/repos/{r}/issues?state=all&page=99")
    assert len(default.json()) == 30
    assert len(capped.json()) == 100
    assert beyond.json() == []
    assert "link" in beyond.headers  # GitHub still links back to the first and last pages


async def test_pagination_of_comments_runs_and_pulls() -> None:
    sim = make_sim(seed=small_seed(issues=20, pulls=20, comments=4, runs=23))
    repo = next(iter(sim.state.repos.values()))
    r = repo.full_name
    async with client(sim) as http:
        comments, _ = await walk(http, f"/repos/{r}/issues/comments?per_page=9")
        runs, run_pages = await walk(http, f"/repos/{r}/actions/runs?per_page=5")
        pulls, _ = await walk(http, f"/repos/{r}/pulls?state=all&per_page=6")
    assert sorted(c["id"] for c in comments) == sorted(repo.comments)
    assert [c["id"] for c in comments] == sorted(repo.comments)  # oldest first without sort
    assert sorted(run["id"] for run in runs) == sorted(repo.runs)
    assert run_pages[0].json()["total_count"] == 23
    assert len(pulls) == 20
    assert all("merged" not in p for p in pulls)


# -- filters --------------------------------------------------------------------------------


async def test_since_returns_exactly_the_objects_updated_at_or_after() -> None:
    sim = make_sim(seed=small_seed(issues=60, pulls=20, comments=3))
    repo = next(iter(sim.state.repos.values()))
    r = repo.full_name
    stamps = sorted(i.updated_at for i in repo.issues.values())
    since = stamps[len(stamps) // 2]
    async with client(sim) as http:
        issues, _ = await walk(http, f"/repos/{r}/issues?state=all&since={iso(since)}")
        comments, _ = await walk(http, f"/repos/{r}/issues/comments?since={iso(since)}")
        ordered = await http.get(
            f"/repos/{r}/issues?state=all&sort=updated&direction=asc&per_page=100"
        )
        bad = await http.get(f"/repos/{r}/issues?since=yesterday")
    expected = {i.number for i in repo.issues.values() if i.updated_at >= since}
    assert {i["number"] for i in issues} == expected
    assert all(parse_iso(i["updated_at"]) >= since for i in issues)  # type: ignore[operator]
    assert {c["id"] for c in comments} == {
        c.id for c in repo.comments.values() if c.updated_at >= since
    }
    updated = [i["updated_at"] for i in ordered.json()]
    assert updated == sorted(updated)
    assert bad.status_code == 422


async def test_state_and_label_filters() -> None:
    sim = make_sim(seed=small_seed(issues=40, pulls=10))
    repo = next(iter(sim.state.repos.values()))
    r = repo.full_name
    async with client(sim) as http:
        default, _ = await walk(http, f"/repos/{r}/issues")
        closed, _ = await walk(http, f"/repos/{r}/issues?state=closed")
        bugs, _ = await walk(http, f"/repos/{r}/issues?state=all&labels=bug")
    assert {i["number"] for i in default} == {
        i.number for i in repo.issues.values() if i.state == "open"
    }
    assert all(i["state"] == "closed" for i in closed)
    assert {i["number"] for i in bugs} == {
        i.number for i in repo.issues.values() if any(lb.name == "bug" for lb in i.labels)
    }


# -- conditional requests and rate limits ---------------------------------------------------


async def test_etag_304_is_free_and_changes_after_a_mutation() -> None:
    sim = make_sim()
    r = repo_name(sim)
    async with client(sim) as http:
        first = await http.get(f"/repos/{r}/issues/1")
        etag = first.headers["etag"]
        assert etag.startswith('W/"')
        remaining = int(first.headers["x-ratelimit-remaining"])
        again = await http.get(f"/repos/{r}/issues/1", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert int(again.headers["x-ratelimit-remaining"]) == remaining
        strong = await http.get(f"/repos/{r}/issues/1", headers={"If-None-Match": etag[2:]})
        assert strong.status_code == 304  # weak comparison, as GitHub does
        listing = await http.get(f"/repos/{r}/issues?state=all")
        assert "etag" in listing.headers

        edit = await http.patch(
            f"/_sim/api/repos/{r}/issues/1", json={"title": "Renamed by the control API"}
        )
        assert edit.status_code == 200
        changed = await http.get(f"/repos/{r}/issues/1", headers={"If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag
        assert changed.json()["title"] == "Renamed by the control API"
        assert changed.json()["updated_at"] > first.json()["updated_at"]
        assert int(changed.headers["x-ratelimit-remaining"]) == remaining - 2
        log = (await http.get("/_sim/requests")).json()["requests"]
    assert [e["not_modified"] for e in log] == [False, True, True, False, False]
    assert all(not e["path"].startswith("/_sim") for e in log)


async def test_primary_rate_limit_exhaustion_and_reset() -> None:
    sim = make_sim()
    r = repo_name(sim)
    async with client(sim) as http:
        ok = await http.get(f"/repos/{r}")
        reset_at = int(ok.headers["x-ratelimit-reset"])
        await http.put("/_sim/ratelimit", json={"remaining": 1})
        last = await http.get(f"/repos/{r}")
        assert last.status_code == 200
        assert last.headers["x-ratelimit-remaining"] == "0"
        denied = await http.get(f"/repos/{r}")
        assert denied.status_code == 403
        assert denied.headers["x-ratelimit-remaining"] == "0"
        assert denied.headers["x-ratelimit-reset"] == str(reset_at)
        assert denied.headers["x-ratelimit-resource"] == "core"
        assert denied.json()["message"].startswith("API rate limit exceeded for user ID")
        assert "rate-limits" in denied.json()["documentation_url"]
        status = await http.get("/rate_limit")  # free, and still answers when exhausted
        assert status.json()["resources"]["core"]["remaining"] == 0

        await http.put("/_sim/ratelimit", json={"status": 429, "reset_in": 0})
        refilled = await http.get(f"/repos/{r}")
        assert refilled.status_code == 200
        assert int(refilled.headers["x-ratelimit-remaining"]) == 4999
        await http.put("/_sim/ratelimit", json={"remaining": 0, "reset_in": 120})
        limited = await http.get(f"/repos/{r}")
        assert limited.status_code == 429


async def test_secondary_rate_limit_answers_retry_after() -> None:
    sim = make_sim()
    r = repo_name(sim)
    async with client(sim) as http:
        await http.put(
            "/_sim/ratelimit/secondary",
            json={"retry_after": 42, "status": 429, "after_requests": 2},
        )
        statuses = [(await http.get(f"/repos/{r}")).status_code for _ in range(2)]
        limited = await http.get(f"/repos/{r}")
        assert statuses == [200, 200]
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 42
        assert "secondary rate limit" in limited.json()["message"]
        assert (await http.get(f"/repos/{r}")).status_code == 429
        await http.delete("/_sim/ratelimit/secondary")
        assert (await http.get(f"/repos/{r}")).status_code == 200


async def test_authentication_errors() -> None:
    sim = make_sim()
    r = repo_name(sim)
    async with client(sim) as http:
        missing = await http.get(f"/repos/{r}", headers={"Authorization": ""})
        bad = await http.get(f"/repos/{r}", headers={"Authorization": "token nope"})
        classic = await http.get(f"/repos/{r}", headers={"Authorization": "token sim-token"})
        unknown = await http.get("/repos/krate-demo/nothing-here")
    assert missing.status_code == 401
    assert bad.status_code == 401
    assert bad.json()["message"] == "Bad credentials"
    assert classic.status_code == 200
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "Not Found"


# -- faults ---------------------------------------------------------------------------------


async def _fault_statuses(seed: int) -> list[int]:
    faults = FaultConfig(error_ratio=0.25, error_statuses=[502, 503], seed=seed)
    sim = make_sim(faults=faults)
    async with client(sim) as http:
        return [(await http.get("/rate_limit")).status_code for _ in range(800)]


async def test_error_ratio_holds_and_is_deterministic_for_a_seed() -> None:
    first = await _fault_statuses(seed=11)
    again = await _fault_statuses(seed=11)
    other = await _fault_statuses(seed=12)
    failures = sum(1 for s in first if s >= 500)
    assert 140 <= failures <= 260  # 25 % of 800, with room for chance
    assert {s for s in first if s >= 500} == {502, 503}
    assert first == again
    assert first != other


async def test_fault_error_body_and_control_api_is_never_faulted() -> None:
    sim = make_sim(faults=FaultConfig(error_ratio=1.0, error_statuses=[503]))
    async with client(sim) as http:
        failed = await http.get("/rate_limit")
        control = await http.get("/_sim/counts")
        await http.put("/_sim/faults", json={"error_ratio": 0.0})
        healed = await http.get("/rate_limit")
    assert failed.status_code == 503
    assert failed.json()["message"] == "Service Unavailable"
    assert control.status_code == 200
    assert healed.status_code == 200


def test_dropped_connections_raise_in_httpx_over_a_real_socket() -> None:
    with run_in_thread() as running:
        base = running.base_url
        with httpx.Client(base_url=base, headers=AUTH, timeout=5) as http:
            assert http.get("/rate_limit").status_code == 200
            http.put("/_sim/faults", json={"drop_ratio": 1.0})
            with pytest.raises(httpx.TransportError):
                http.get("/rate_limit")
            http.put("/_sim/faults", json={"drop_ratio": 0.0})
            assert http.get("/rate_limit").status_code == 200
            log = http.get("/_sim/requests").json()["requests"]
    assert [e["fault"] for e in log] == [None, "drop", None]


async def test_dropped_connection_in_process_raises_the_same_error() -> None:
    sim = make_sim(faults=FaultConfig(drop_ratio=1.0))
    async with client(sim) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/rate_limit")


# -- control API ----------------------------------------------------------------------------


async def test_control_api_mutations_counts_and_request_log() -> None:
    sim = make_sim()
    repo = next(iter(sim.state.repos.values()))
    r = repo.full_name
    async with client(sim) as http:
        before = (await http.get("/_sim/counts")).json()
        pull = next(i for i in repo.issues.values() if i.pull and i.state == "open")
        old = (await http.get(f"/repos/{r}/pulls/{pull.number}")).json()
        closed = await http.patch(
            f"/_sim/api/repos/{r}/pulls/{pull.number}",
            json={"state": "closed"},
            headers={"X-Sim-Actor": "grace"},
        )
        comment = await http.post(
            f"/_sim/api/repos/{r}/issues/{pull.number}/comments", json={"body": "from control"}
        )
        run = next(iter(repo.runs.values()))
        finished = await http.patch(
            f"/_sim/repos/{r}/actions/runs/{run.id}", json={"conclusion": "failure"}
        )
        after = (await http.get("/_sim/counts")).json()
        await http.delete("/_sim/requests")
        assert (await http.get("/_sim/requests")).json()["requests"] == []
    assert closed.status_code == 200
    assert closed.json()["state"] == "closed"
    assert closed.json()["updated_at"] > old["updated_at"]
    assert comment.status_code == 201
    assert comment.json()["user"]["login"] == "krate-bot"
    assert finished.json()["conclusion"] == "failure"
    assert after["issue_comments"] == before["issue_comments"] + 1
    assert pull.closed_by is not None
    assert pull.closed_by.login == "grace"


# -- webhooks -------------------------------------------------------------------------------


class Receiver:
    """A webhook receiver on a real socket; fails the first `fail_first` deliveries and can
    hold deliveries until released."""

    def __init__(self, fail_first: int = 0) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first
        self.release = threading.Event()
        self.release.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.release.wait(10)
                receiver.deliveries.append((dict(self.headers.items()), body))
                failing = len(receiver.deliveries) <= receiver.fail_first
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(fail_first=1) as found:
        yield found


async def test_webhooks_are_signed_retried_and_do_not_block(receiver: Receiver) -> None:
    secret = "it's a secret to everybody"
    sim = make_sim(
        webhook=WebhookConfig(url=receiver.url, secret=secret, backoff_s=0.05),
        apps=[AppConfig(app_id=77, key_pem=rsa_private_pem())],
    )
    r = repo_name(sim)
    receiver.release.clear()  # hold the receiver: the API must answer anyway
    async with client(sim) as http:
        created = await http.post(f"/repos/{r}/issues", json={"title": "Webhook me"})
        assert created.status_code == 201
        assert sim.webhooks.pending() == 1
        assert receiver.deliveries == []
        receiver.release.set()
        await sim.webhooks.drain()
        deliveries = (await http.get("/_sim/webhook/deliveries")).json()["deliveries"]
    assert len(receiver.deliveries) == 2  # one failure (500), then the retry
    headers, body = receiver.deliveries[-1]
    lowered = {k.lower(): v for k, v in headers.items()}
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(lowered["x-hub-signature-256"], expected)
    assert lowered["x-github-event"] == "issues"
    assert lowered["user-agent"].startswith("GitHub-Hookshot/")
    assert lowered["content-type"] == "application/json"
    assert lowered["x-github-delivery"] == receiver.deliveries[0][0]["X-GitHub-Delivery"]
    payload = json.loads(body)
    assert payload["action"] == "opened"
    assert payload["issue"]["number"] == created.json()["number"]
    assert payload["repository"]["full_name"] == r
    assert payload["sender"]["login"] == "krate-bot"
    assert payload["installation"]["id"] in sim.state.installations
    assert deliveries[0]["attempts"] == 2
    assert deliveries[0]["delivered"] is True


async def test_webhook_failures_are_logged_and_given_up(caplog: pytest.LogCaptureFixture) -> None:
    sim = make_sim(
        webhook=WebhookConfig(url="http://127.0.0.1:9/nothing", max_attempts=3, backoff_s=0.01)
    )
    async with client(sim) as http:
        await http.post(f"/repos/{repo_name(sim)}/issues", json={"title": "Lost"})
    await sim.webhooks.drain()
    delivery = sim.webhooks.deliveries[0]
    assert delivery.attempts == 3
    assert not delivery.delivered
    assert delivery.error
    assert "given up" in caplog.text


# -- GitHub App ----------------------------------------------------------------------------


async def test_installation_token_flow_with_rs256_jwt() -> None:
    pem = rsa_private_pem()
    sim = make_sim(apps=[AppConfig(app_id=1001, key_pem=pem, slug="krate-sync")])
    installation = next(iter(sim.state.installations))
    jwt = app_jwt(pem, "1001")
    async with client(sim) as http:
        app = await http.get("/app", headers={"Authorization": f"Bearer {jwt}"})
        assert app.status_code == 200
        assert app.json()["slug"] == "krate-sync"
        tampered = jwt[:-4] + ("AAAA" if not jwt.endswith("AAAA") else "BBBB")
        assert (await http.get("/app", headers={"Authorization": f"Bearer {tampered}"})).status_code == 401  # fmt: skip
        expired = app_jwt(pem, "1001", now=1_600_000_000)
        assert (await http.get("/app", headers={"Authorization": f"Bearer {expired}"})).status_code == 401  # fmt: skip
        too_long = app_jwt(pem, "1001", lifetime=3600)
        assert (await http.get("/app", headers={"Authorization": f"Bearer {too_long}"})).status_code == 401  # fmt: skip
        stranger = app_jwt(pem, "999")
        assert (await http.get("/app", headers={"Authorization": f"Bearer {stranger}"})).status_code == 401  # fmt: skip
        assert (await http.get("/app")).status_code == 401  # a PAT is not an App JWT

        minted = await http.post(
            f"/app/installations/{installation}/access_tokens",
            headers={"Authorization": f"Bearer {jwt}"},
        )
        assert minted.status_code == 201
        token = minted.json()["token"]
        assert token.startswith("ghs_")
        expires = parse_iso(minted.json()["expires_at"])
        assert expires is not None
        as_installation = {"Authorization": f"token {token}"}
        repos = await http.get("/installation/repositories", headers=as_installation)
        assert repos.status_code == 200
        assert repos.json()["total_count"] == len(sim.state.repos)
        created = await http.post(
            f"/repos/{repo_name(sim)}/issues", json={"title": "by the app"}, headers=as_installation
        )
        assert created.json()["user"] == {**created.json()["user"], "login": "krate-sync[bot]",
                                          "type": "Bot"}  # fmt: skip
        assert f"installation:{installation}" in sim.ratelimiter.buckets  # its own budget

        # Installation tokens expire after an hour, as GitHub's do.
        sim.config.clock = lambda: expires + timedelta(seconds=1)
        assert (await http.get("/installation/repositories", headers=as_installation)).status_code == 401  # fmt: skip


# -- a real GitHub client -------------------------------------------------------------------


async def test_githubkit_parses_the_simulator() -> None:
    from githubkit import GitHub
    from githubkit.exception import PrimaryRateLimitExceeded, RequestFailed

    sim = make_sim(seed=small_seed(issues=25, pulls=15, runs=5))
    owner, name = repo_name(sim).split("/")
    github = GitHub(
        "sim-token",
        base_url="http://sim.test/",
        async_transport=httpx.ASGITransport(app=sim),
        auto_retry=False,
        http_cache=False,
    )
    repo = (await github.rest.repos.async_get(owner, name)).parsed_data
    assert repo.full_name == f"{owner}/{name}"
    paginator: Any = github.rest.paginate(
        github.rest.issues.async_list_for_repo, owner=owner, repo=name, state="all", per_page=7
    )
    issues = [issue async for issue in paginator]
    assert len(issues) == 40
    assert sum(1 for i in issues if i.pull_request) == 15
    pulls: list[Any] = (await github.rest.pulls.async_list(owner, name, state="all")).parsed_data
    full = (await github.rest.pulls.async_get(owner, name, pulls[0].number)).parsed_data
    assert all(lb.archived_by is None for p in pulls for lb in p.labels)  # 2026-03-10 fields
    assert full.head.repo is not None
    assert full.head.repo.full_name == f"{owner}/{name}"
    runs = (await github.rest.actions.async_list_workflow_runs_for_repo(owner, name)).parsed_data
    assert runs.total_count == 5
    jobs = await github.rest.actions.async_list_jobs_for_workflow_run(
        owner, name, runs.workflow_runs[0].id
    )
    assert jobs.parsed_data.jobs
    comment = await github.rest.issues.async_create_comment(
        owner, name, issues[0].number, body="from githubkit"
    )
    assert comment.parsed_data.body == "from githubkit"
    with pytest.raises(RequestFailed) as missing:
        await github.rest.issues.async_get(owner, name, 9999)
    assert missing.value.response.status_code == 404
    sim.ratelimiter.configure(remaining=0, reset_in=60)
    with pytest.raises(PrimaryRateLimitExceeded) as limited:
        await github.rest.repos.async_get(owner, name)
    assert limited.value.retry_after.total_seconds() > 0


async def test_seed_is_deterministic() -> None:
    first = make_sim(seed=small_seed(seed=5))
    second = make_sim(seed=small_seed(seed=5))
    async with client(first) as a, client(second) as b:
        path = f"/repos/{repo_name(first)}/issues?state=all&per_page=100"
        assert repo_name(first) == repo_name(second)
        one, two = await a.get(path), await b.get(path)
    assert one.json() == two.json()
    assert one.headers["etag"] == two.headers["etag"]


def test_simulator_config_defaults_give_a_working_world() -> None:
    sim = Simulator(SimulatorConfig())
    assert len(sim.state.repos) == 2
    assert asyncio.iscoroutinefunction(sim.__call__)


async def test_api_version_header_selects_the_response_shape() -> None:
    sim = make_sim()
    r = repo_name(sim)
    async with client(sim) as http:
        default = await http.get(f"/repos/{r}/labels")
        newer = await http.get(f"/repos/{r}/labels", headers={"X-GitHub-Api-Version": "2026-03-10"})
        unknown = await http.get(
            f"/repos/{r}/labels", headers={"X-GitHub-Api-Version": "2020-01-01"}
        )
    assert default.headers["x-github-api-version-selected"] == "2022-11-28"
    assert "archived_by" not in default.json()[0]
    assert newer.headers["x-github-api-version-selected"] == "2026-03-10"
    assert newer.json()[0]["archived_by"] is None
    assert unknown.status_code == 400
    assert unknown.json()["message"] == "API version 2020-01-01 is not supported."


async def test_build_config_maps_command_line_options() -> None:
    config = build_config(
        port=0, seed=3, seed_repos=2, seed_issues=5, seed_pulls=4, error_ratio=0.5,
        tokens={"t1": "someone"}, webhook_url="http://hooks.test/x", webhook_secret="s",
    )  # fmt: skip
    sim = Simulator(config)
    async with client(sim, headers={"Authorization": "token t1"}) as http:
        counts = (await http.get("/_sim/counts")).json()
        faults = (await http.get("/_sim/faults")).json()
    assert counts["repositories"] == 2
    assert counts["issues"] == 10
    assert counts["pull_requests"] == 8
    assert faults["error_ratio"] == 0.5
    assert faults["seed"] == 3
    assert sim.webhooks.config.url == "http://hooks.test/x"


async def test_unknown_paths_and_methods_answer_githubs_json_404() -> None:
    sim = make_sim()
    r = repo_name(sim)
    async with client(sim) as http:
        wrong_method = await http.delete(f"/repos/{r}/issues/1")
        unknown_path = await http.get(f"/repos/{r}/no-such-thing")
    for response in (wrong_method, unknown_path):
        assert response.status_code == 404
        assert response.json()["message"] == "Not Found"


async def test_cached_etags_still_respect_installation_visibility() -> None:
    pem = rsa_private_pem()
    sim = make_sim(
        seed=small_seed(owners=["krate-demo", "other-org"]),
        apps=[AppConfig(app_id=5, key_pem=pem, installations={31: "krate-demo"})],
    )
    foreign = next(r.full_name for r in sim.state.repos.values() if r.owner.login == "other-org")
    async with client(sim) as http:
        seen = await http.get(f"/repos/{foreign}/issues")  # with the PAT: visible
        minted = await http.post(
            "/app/installations/31/access_tokens",
            headers={"Authorization": f"Bearer {app_jwt(pem, '5')}"},
        )
        hidden = await http.get(
            f"/repos/{foreign}/issues",
            headers={
                "Authorization": f"token {minted.json()['token']}",
                "If-None-Match": seen.headers["etag"],
            },
        )
    assert seen.status_code == 200
    assert hidden.status_code == 404
