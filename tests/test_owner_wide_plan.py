"""How a user declares an owner-wide binding, and what planning, validation and routing make
of it: `externalRef.owner` without a repository (or `repository: "*"`)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingress.lookup import ProviderInfo
from ingress.routing import BindingRoutes
from providers.registry import load_registry
from resources.config import ExternalBackendBinding, ExternalBackendProvider
from resources.issues import Severity
from resources.loader import load_file, manifest_from_dict
from resources.validation import RULE_EXTERNAL_REF, validate
from starter.reconcile import plan_binding

EXAMPLES = Path(__file__).parent.parent / "examples"


def _doc(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return loaded


def _binding(external_ref: dict[str, Any], name: str = "github-a5c-ai") -> dict[str, Any]:
    doc = copy.deepcopy(_doc("binding-github-krate.yaml"))
    doc["metadata"]["name"] = name
    doc["spec"]["externalRef"] = external_ref
    return doc


def _plan(doc: dict[str, Any]) -> Any:
    binding = manifest_from_dict(doc, source="test").model
    provider = manifest_from_dict(_doc("provider-github.yaml"), source="test").model
    assert isinstance(binding, ExternalBackendBinding)
    assert isinstance(provider, ExternalBackendProvider)
    return plan_binding(binding, provider, None).config


@pytest.mark.parametrize("ref", [{"owner": "a5c-ai"}, {"owner": "a5c-ai", "repository": "*"}])
def test_an_owner_without_a_repository_plans_an_owner_wide_binding(ref: dict[str, Any]) -> None:
    config = _plan(_binding(ref))
    assert config.owner_wide == "a5c-ai"
    assert config.repositories == []


def test_a_named_repository_stays_a_repository_binding() -> None:
    config = _plan(_binding({"owner": "a5c-ai", "repository": "krate"}))
    assert config.owner_wide is None
    assert config.repositories == [("a5c-ai", "krate")]


def _issues(tmp_path: Path, ref: dict[str, Any]) -> list[Any]:
    path = tmp_path / "binding.yaml"
    docs = [_doc("provider-github.yaml"), _binding(ref)]
    path.write_text(yaml.safe_dump_all(docs))
    loaded = load_file(path)
    assert loaded.ok
    return [i for i in validate(loaded.manifests, load_registry()) if i.rule == RULE_EXTERNAL_REF]


def test_validation_accepts_an_owner_alone_and_says_when_nothing_is_named(tmp_path: Path) -> None:
    assert _issues(tmp_path, {"owner": "a5c-ai"}) == []
    assert _issues(tmp_path, {"owner": "a5c-ai", "repository": "*"}) == []
    (nothing,) = _issues(tmp_path, {})
    assert nothing.severity is Severity.WARNING
    assert "nothing would be synced" in nothing.message
    (orphan,) = _issues(tmp_path, {"repository": "krate"})
    assert orphan.severity is Severity.ERROR
    assert orphan.field == "spec.externalRef.owner"


def test_a_repository_binding_wins_over_the_owner_wide_one() -> None:
    provider = ProviderInfo(
        org="a5c",
        namespace="krate-org-a5c",
        name="github-a5c",
        provider_type="github",
        manifest=_doc("provider-github.yaml"),
    )
    single = _binding({"owner": "a5c-ai", "repository": "krate"}, name="github-krate")
    wide = _binding({"owner": "a5c-ai"})
    routes = BindingRoutes.build(provider, [single, wide])
    assert routes.binding_for("a5c-ai/krate", "1") is single
    assert routes.binding_for("A5C-AI/other", "2") is wide  # GitHub's logins ignore case
    assert routes.binding_for("someone-else/krate", "3") is None
    assert routes.binding_for(None, None, ["a5c-ai"]) is wide  # installation events
    assert routes.binding_for(None, None, ["someone-else"]) is None
