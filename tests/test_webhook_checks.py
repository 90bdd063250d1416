"""`check_suite`, `check_run` and `status` deliveries (GitHub's published examples) through
normalization and the real delivery activity into Postgres: CI outside GitHub Actions shows up
as pipelines and jobs, linkable to a pull request by its head sha."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from store.models.projections import Job, Pipeline, PullRequest
from tests.test_webhook_helpers import examples
from tests.webhook_store_helpers import DeliveryStore, delivery_store

REPO = "Codertocat/Hello-World"


@pytest.fixture
def store(clean_database: str) -> Iterator[DeliveryStore]:
    yield from delivery_store(clean_database, REPO)


def _app(raw: dict[str, Any]) -> str | None:
    app = raw.get("app") or {}
    return app.get("slug")


def _non_actions(event: str) -> list[dict[str, Any]]:
    return [
        copy.deepcopy(p)
        for p in examples()[event]
        if p["repository"]["full_name"] == REPO and _app(p[event]) != "github-actions"
    ]


@pytest.mark.parametrize("index", range(len(_non_actions("check_suite"))))
def test_each_check_suite_example_becomes_a_pipeline_on_its_head_sha(
    store: DeliveryStore, index: int
) -> None:
    payload = _non_actions("check_suite")[index]
    suite = payload["check_suite"]
    assert store.deliver("check_suite", payload).processed == 1
    (row,) = store.rows(Pipeline, native_kind="check_suite")
    assert row["native_id"] == f"check_suite/{suite['id']}"
    assert row["sha"] == suite["head_sha"]
    assert row["ref"] == suite["head_branch"]
    assert (row["status"], row["conclusion"]) == (suite["status"], suite["conclusion"])
    assert row["workflow"] == (suite["app"] or {}).get("name")
    assert row["extensions"]["fields"]["id"] == suite["id"]  # the provider's own id is kept


@pytest.mark.parametrize("index", range(len(_non_actions("check_run"))))
def test_each_check_run_example_becomes_a_job_of_its_suite(
    store: DeliveryStore, index: int
) -> None:
    payload = _non_actions("check_run")[index]
    run = payload["check_run"]
    assert store.deliver("check_run", payload).processed == 1
    (row,) = store.rows(Job, native_kind="check_run")
    assert row["native_id"] == f"check_run/{run['id']}"
    assert row["pipeline_native_id"] == f"check_suite/{run['check_suite']['id']}"
    assert row["name"] == run["name"]
    assert (row["status"], row["conclusion"]) == (run["status"], run["conclusion"])
    assert row["sha"] == run["head_sha"]


@pytest.mark.parametrize("index", range(len(examples()["status"])))
def test_each_status_example_becomes_one_pipeline_per_sha_and_context(
    store: DeliveryStore, index: int
) -> None:
    payload = copy.deepcopy(examples()["status"][index])
    payload["repository"] = examples()["check_suite"][0]["repository"]
    assert store.deliver("status", payload).processed == 1
    (row,) = store.rows(Pipeline, native_kind="commit_status")
    assert row["native_id"] == f"status/{payload['sha']}/{payload['context']}"
    assert row["workflow"] == payload["context"]
    assert row["sha"] == payload["sha"]
    assert row["conclusion"] == payload["state"]
    assert row["url"] == payload["target_url"]


def test_a_later_status_of_the_same_context_updates_its_row(store: DeliveryStore) -> None:
    pending = copy.deepcopy(examples()["status"][0])
    pending["repository"] = examples()["check_suite"][0]["repository"]
    pending.update(state="pending", updated_at="2019-05-15T15:20:00+00:00")
    store.deliver("status", pending)
    (first,) = store.rows(Pipeline, native_kind="commit_status")
    assert (first["status"], first["conclusion"]) == ("pending", None)
    done = copy.deepcopy(examples()["status"][0])
    done["repository"] = pending["repository"]
    store.deliver("status", done)
    (row,) = store.rows(Pipeline, native_kind="commit_status")
    assert (row["status"], row["conclusion"]) == ("completed", "success")


def test_actions_check_suites_are_recorded_not_projected(store: DeliveryStore) -> None:
    payload = next(
        p for p in examples()["check_suite"] if _app(p["check_suite"]) == "github-actions"
    )
    result = store.deliver("check_suite", copy.deepcopy(payload))
    assert (result.processed, result.ignored) == (0, 1)
    assert store.rows(Pipeline) == []


def test_a_pull_requests_checks_are_found_by_its_head_sha(store: DeliveryStore) -> None:
    pull = copy.deepcopy(
        next(p for p in examples()["pull_request"] if p["repository"]["full_name"] == REPO)
    )
    suite = _non_actions("check_suite")[0]
    run = next(
        p
        for p in _non_actions("check_run")
        if p["check_run"]["check_suite"]["id"] == suite["check_suite"]["id"]
    )
    status = copy.deepcopy(examples()["status"][0])
    status["repository"] = suite["repository"]
    sha = suite["check_suite"]["head_sha"]
    pull["pull_request"]["head"]["sha"] = sha
    run["check_run"]["head_sha"] = sha
    status["sha"] = sha
    for event, payload in (
        ("pull_request", pull),
        ("check_suite", suite),
        ("check_run", run),
        ("status", status),
    ):
        store.deliver(event, payload)
    (pr,) = store.rows(PullRequest)
    pipelines = store.rows(Pipeline, sha=pr["head_sha"])
    assert {p["native_kind"] for p in pipelines} == {"check_suite", "commit_status"}
    suite_row = next(p for p in pipelines if p["native_kind"] == "check_suite")
    (job,) = store.rows(Job, pipeline_native_id=suite_row["native_id"])
    assert job["name"] == run["check_run"]["name"]
