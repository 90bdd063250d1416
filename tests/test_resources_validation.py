"""The spec's seven validation rules, duplicates and references, on fixture manifests."""

from __future__ import annotations

from pathlib import Path

import pytest

from providers.registry import ProviderTypeRegistry, load_registry
from resources.issues import Issue, Severity, has_errors, render_issues
from resources.loader import Manifest, load_file, load_paths
from resources.validation import validate
from tests.helpers.paths import spec_examples_dir

FIXTURES = Path(__file__).parent / "fixtures" / "manifests"
INVALID = FIXTURES / "invalid"
VALID = FIXTURES / "valid"
EXTRA_TYPES = FIXTURES / "provider-types"


@pytest.fixture(scope="module")
def registry() -> ProviderTypeRegistry:
    return load_registry([EXTRA_TYPES])


def check(
    path: Path, registry: ProviderTypeRegistry, known: list[Manifest] | None = None
) -> list[Issue]:
    loaded = load_file(path)
    assert loaded.ok, render_issues(loaded.issues)
    return validate(loaded.manifests, registry, known or [])


def only_error(issues: list[Issue], rule: str) -> Issue:
    found = [i for i in issues if i.rule == rule and i.severity is Severity.ERROR]
    assert len(found) == 1, render_issues(issues)
    return found[0]


# --- valid input ------------------------------------------------------------------------------


def test_spec_examples_validate_without_errors(registry: ProviderTypeRegistry) -> None:
    examples = spec_examples_dir()
    loaded = load_paths([examples])
    assert loaded.ok, render_issues(loaded.issues)
    assert sorted(m.kind for m in loaded.manifests) == [
        "ExternalBackendBinding",
        "ExternalBackendProvider",
        "ExternalBackendSyncPolicy",
    ]
    # provider-type-github.yaml is a registry entry: recognised, checked, reported as a note.
    assert [d.descriptor is not None for d in loaded.provider_types] == [True]
    assert [i.severity for i in loaded.issues] == [Severity.NOTE]
    issues = validate(loaded.manifests, registry)
    assert issues == [], render_issues(issues)
    assert validate(loaded, registry) == []  # a LoadResult is accepted as it is


def test_valid_fixtures_have_no_errors(registry: ProviderTypeRegistry) -> None:
    known = load_paths([spec_examples_dir()]).manifests
    loaded = load_paths([VALID])
    assert loaded.ok, render_issues(loaded.issues)
    assert len(loaded.manifests) == 12
    issues = validate(loaded.manifests, registry, known)
    assert issues == [], render_issues(issues)


def test_known_resources_resolve_references(registry: ProviderTypeRegistry) -> None:
    examples = load_paths([spec_examples_dir()]).manifests
    binding = [m for m in examples if m.kind == "ExternalBackendBinding"]
    provider = [m for m in examples if m.kind == "ExternalBackendProvider"]
    alone = validate(binding, registry)
    warning = only_reference_warning(alone)
    assert warning.field == "spec.providerRef"
    assert 'provider "github-a5c" is neither in this input nor already applied' in warning.message
    assert validate(binding, registry, known=provider) == []


def only_reference_warning(issues: list[Issue]) -> Issue:
    (issue,) = issues
    assert issue.rule == "reference"
    assert issue.severity is Severity.WARNING
    assert not has_errors(issues)
    return issue


# --- rule 1: provider type registered, or custom with an adapter ------------------------------


def test_rule1_unknown_provider_type(registry: ProviderTypeRegistry) -> None:
    issue = only_error(
        check(INVALID / "rule1-unknown-provider-type.yaml", registry), "provider-type"
    )
    assert issue.field == "spec.providerType"
    assert issue.message == 'provider type "gitbub" is not in the registry'
    assert issue.fix is not None
    assert issue.fix.startswith('did you mean "github"? Use one of: azure-devops, bitbucket')
    assert '"custom" with spec.adapterRef' in issue.fix


def test_rule1_custom_needs_adapter_ref(registry: ProviderTypeRegistry) -> None:
    issue = only_error(
        check(INVALID / "rule1-custom-without-adapter.yaml", registry), "provider-type"
    )
    assert issue.field == "spec.adapterRef"
    assert 'provider type "custom" needs an explicit adapter' in issue.message
    assert issue.fix is not None
    assert "spec.adapterRef.name" in issue.fix


def test_rule1_auth_mode_and_hosting_must_be_offered(
    registry: ProviderTypeRegistry, tmp_path: Path
) -> None:
    text = (INVALID / "rule1-unknown-provider-type.yaml").read_text()
    text = text.replace("providerType: gitbub", "providerType: linear\n  hosting: self-managed")
    text = text.replace("authRef:", "authRef:\n    mode: github-app")
    text = text.replace("gitForge: true", "issueTracking: true")
    (tmp_path / "linear.yaml").write_text(text)
    issues = check(tmp_path / "linear.yaml", registry)
    assert {(i.field, i.fix) for i in issues} == {
        ("spec.hosting", "use one of: saas"),
        ("spec.authRef.mode", "use one of: api-key, oauth2"),
    }


# --- rule 2: enabled interfaces are offered ---------------------------------------------------


def test_rule2_provider_capability_not_offered(registry: ProviderTypeRegistry) -> None:
    path = INVALID / "rule2-provider-capability.yaml"
    issue = only_error(check(path, registry), "interface-supported")
    assert str(issue) == (
        f"{path} (document 2, ExternalBackendProvider jira-a5c): spec.capabilities.cicd: "
        'provider type "jira" does not offer the cicd interface (it offers issueTracking). '
        "Fix: remove spec.capabilities.cicd or set it to false."
    )


def test_rule2_binding_interfaces(registry: ProviderTypeRegistry) -> None:
    issues = check(INVALID / "rule2-binding-interface.yaml", registry)
    found = {(i.name, i.field): i for i in issues if i.rule == "interface-supported"}
    assert set(found) == {
        ("jira-krate", "spec.interfaces.cicd.enabled"),
        ("github-krate", "spec.interfaces.gitForge.enabled"),
    }
    not_offered = found[("jira-krate", "spec.interfaces.cicd.enabled")]
    assert 'of type "jira", which does not offer the cicd interface' in not_offered.message
    assert not_offered.fix == (
        "remove spec.interfaces.cicd or set spec.interfaces.cicd.enabled to false"
    )
    not_enabled = found[("github-krate", "spec.interfaces.gitForge.enabled")]
    assert (
        'provider "github-issues-a5c" does not enable the gitForge interface' in not_enabled.message
    )
    assert not_enabled.fix is not None
    assert "spec.capabilities.gitForge: true on the provider" in not_enabled.fix
    assert not has_errors([i for i in issues if i.rule != "interface-supported"])


# --- rule 3: same organization ----------------------------------------------------------------


def test_rule3_binding_target_and_provider_in_the_same_org(registry: ProviderTypeRegistry) -> None:
    issues = check(INVALID / "rule3-other-org.yaml", registry)
    same_org = {i.field: i for i in issues if i.rule == "same-org"}
    assert set(same_org) == {
        "metadata.namespace",
        "spec.targetRef.organizationRef",
        "spec.targetRef.namespace",
        "spec.providerRef",
    }
    assert all(i.name == "github-krate" for i in same_org.values())
    assert same_org["metadata.namespace"].fix == (
        "set metadata.namespace to krate-org-a5c or leave it out"
    )
    assert (
        'organization "acme", the binding in "a5c"'
        in same_org["spec.targetRef.organizationRef"].message
    )
    assert (
        'provider "github-acme" belongs to organization "acme"'
        in same_org["spec.providerRef"].message
    )
    assert [i for i in issues if i.rule != "same-org"] == []


# --- rule 4: Secrets in the org namespace -----------------------------------------------------


def test_rule4_secret_refs_outside_the_org_namespace(registry: ProviderTypeRegistry) -> None:
    issues = check(INVALID / "rule4-secret-namespace.yaml", registry)
    found = {i.field: i for i in issues}
    assert set(found) == {
        "spec.authRef.secretRef.namespace",
        "spec.webhook.secretRef.namespace",
    }
    auth = found["spec.authRef.secretRef.namespace"]
    assert auth.rule == "secret-namespace"
    assert 'Secret "gitlab-token" is in namespace "kube-system"' in auth.message
    assert auth.fix is not None
    assert auth.fix.startswith("move the Secret to krate-org-a5c")


# --- rule 5: write modes and operations -------------------------------------------------------


def test_rule5_binding_mode_not_offered(registry: ProviderTypeRegistry) -> None:
    issue = only_error(check(INVALID / "rule5-binding-mode.yaml", registry), "write-mode")
    assert issue.field == "spec.interfaces.cicd.mode"
    assert (
        issue.message == 'mode "krate-owned" is not supported for cicd by provider type "buildkite"'
    )
    assert issue.fix == "use one of: mirrored, external-owned, bidirectional"


def test_rule5_writing_mode_without_write_operations(
    registry: ProviderTypeRegistry, tmp_path: Path
) -> None:
    # statuspage (an extra registry type) reads incidents and writes nothing.
    text = (INVALID / "rule5-policy-read-only-type.yaml").read_text().split("---")[0] + (
        "---\napiVersion: krate.a5c.ai/v1alpha1\nkind: ExternalBackendBinding\n"
        "metadata: {name: statuspage-krate, namespace: krate-org-a5c}\n"
        "spec:\n  organizationRef: a5c\n  providerRef: statuspage-a5c\n"
        "  targetRef: {kind: Repository, name: krate}\n"
        "  interfaces: {issueTracking: {mode: bidirectional}}\n"
    )
    (tmp_path / "b.yaml").write_text(text)
    issue = only_error(check(tmp_path / "b.yaml", registry), "write-mode")
    assert issue.field == "spec.interfaces.issueTracking.mode"
    assert issue.message == (
        'mode "bidirectional" writes to the provider, but provider type "statuspage" has no '
        "issueTracking write operation"
    )
    assert issue.fix == "use one of: mirrored"


def test_rule5_sync_policy_write_mode_needs_write_operations(
    registry: ProviderTypeRegistry,
) -> None:
    issue = only_error(check(INVALID / "rule5-policy-read-only-type.yaml", registry), "write-mode")
    assert issue.kind == "ExternalBackendSyncPolicy"
    assert issue.field == "spec.writePolicy.defaultMode"
    assert 'provider type "statuspage" has none for issueTracking' in issue.message
    assert issue.fix == "set spec.writePolicy.defaultMode to read-only"


def test_rule5_write_intent_operation_must_be_a_write_of_that_interface(
    registry: ProviderTypeRegistry,
) -> None:
    issues = check(INVALID / "rule5-intent-operation.yaml", registry)
    found = {i.name: i for i in issues if i.rule == "write-mode"}
    merge = found["merge-42"]
    assert merge.field == "spec.operation"
    assert (
        merge.message
        == 'provider type "github" has no issueTracking write operation "mergePullRequest"'
    )
    assert merge.fix is not None
    assert "createComment" in merge.fix
    read = found["list-issues"]
    assert read.message == '"listIssues" is a read operation; write intents carry writes only'
    assert len(issues) == 2


# --- rule 6: webhook verification secret ------------------------------------------------------


def test_rule6_webhook_needs_a_secret_unless_signed(registry: ProviderTypeRegistry) -> None:
    issues = check(INVALID / "rule6-webhook-secret.yaml", registry)
    found = {i.name: i for i in issues}
    assert set(found) == {"github-a5c", "jira-a5c"}
    github = found["github-a5c"]
    assert github.rule == "webhook-secret"
    assert github.field == "spec.webhook.secretRef"
    assert "X-Hub-Signature-256" in github.message
    assert github.fix == (
        "add spec.webhook.secretRef (name and key of a Secret in krate-org-a5c), "
        "or set spec.webhook.enabled to false"
    )
    jira = found["jira-a5c"]
    assert "only for auth modes connect-app, oauth2" in jira.message


def test_rule6_signed_alternative_needs_no_secret(registry: ProviderTypeRegistry) -> None:
    loaded = load_file(VALID / "jira-and-buildkite.yaml")
    jira = [m for m in loaded.manifests if m.name == "jira-a5c"]
    assert validate(jira, registry) == []


# --- rule 7: no raw Secret values in write intents --------------------------------------------


def test_rule7_write_intent_must_not_carry_secret_values(registry: ProviderTypeRegistry) -> None:
    issues = check(INVALID / "rule7-raw-secret.yaml", registry)
    found = {i.field: i for i in issues}
    assert set(found) == {
        "spec.parameters.token",
        "spec.parameters.body",
        "spec.parameters.auth.privateKey",
        'metadata.annotations["krate.a5c.ai/debug"]',
    }
    assert all(i.rule == "no-raw-secrets" and i.is_error for i in issues)
    assert "holds a literal value" in found["spec.parameters.token"].message
    assert "GitHub token (ghp_…)" in found["spec.parameters.body"].message
    assert "bearer token" in found['metadata.annotations["krate.a5c.ai/debug"]'].message
    fix = found["spec.parameters.token"].fix
    assert fix is not None
    assert "secretRef" in fix
    # The finding never repeats the secret.
    rendered = render_issues(issues)
    assert "not-a-ref-but-a-value" not in rendered
    assert "000000000000" not in rendered
    assert "abcdefghijkl" not in rendered


@pytest.mark.parametrize(
    "value",
    [
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
        "glpat-abcdefghij0123456789",
        "xoxb-1234567890-abcdefghij",
        "AKIAABCDEFGHIJKLMNOP",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "ghs_abcdefghijklmnopqrstuvwxyz0123456789",
    ],
)
def test_rule7_credential_shapes(
    registry: ProviderTypeRegistry, tmp_path: Path, value: str
) -> None:
    text = (INVALID / "rule7-raw-secret.yaml").read_text()
    head, intent = text.split("---\n", 1)
    intent = intent.split("  parameters:")[0] + f"  parameters:\n    note: {value!r}\n"
    intent += "  idempotencyKey: k\n"
    (tmp_path / "i.yaml").write_text(head + "---\n" + intent)
    issues = [i for i in check(tmp_path / "i.yaml", registry) if i.field == "spec.parameters.note"]
    assert len(issues) == 1
    assert issues[0].rule == "no-raw-secrets"


# --- duplicates, labels -----------------------------------------------------------------------


def test_duplicates_are_errors_and_missing_refs_warnings(registry: ProviderTypeRegistry) -> None:
    path = INVALID / "duplicate-and-reference.yaml"
    issues = check(path, registry)
    duplicate = only_error(issues, "duplicate")
    assert duplicate.source is not None
    assert duplicate.source.document == 2
    assert (
        "ExternalBackendBinding krate-org-a5c/gitea-krate is defined twice; the first definition "
        f"is in {path} (document 1)"
    ) in duplicate.message
    warnings = [i for i in issues if i.severity is Severity.WARNING]
    assert {i.rule for i in warnings} == {"reference"}


def test_labels_that_contradict_the_spec(registry: ProviderTypeRegistry, tmp_path: Path) -> None:
    text = (spec_examples_dir() / "provider-github.yaml").read_text()
    text = text.replace(
        "  namespace: krate-org-a5c\n",
        "  namespace: krate-org-a5c\n  labels:\n    krate.a5c.ai/org: acme\n",
        1,
    )
    (tmp_path / "p.yaml").write_text(text)
    issue = only_error(check(tmp_path / "p.yaml", registry), "labels")
    assert issue.field == 'metadata.labels["krate.a5c.ai/org"]'
    assert issue.fix == 'set it to "a5c" or leave it out (it is set on apply)'


def test_render_issues_two_line_form(registry: ProviderTypeRegistry) -> None:
    issues = check(INVALID / "rule5-binding-mode.yaml", registry)
    text = render_issues(issues, fix_on_new_line=True)
    first, second = text.splitlines()
    assert first.endswith('by provider type "buildkite".')
    assert second == "    Fix: use one of: mirrored, external-owned, bidirectional."


def test_polling_first_without_backfill_is_a_warning(
    registry: ProviderTypeRegistry, tmp_path: Path
) -> None:
    examples = spec_examples_dir()
    policy = (examples / "syncpolicy-github.yaml").read_text()
    assert "webhookFirst: true" in policy
    policy = policy.replace("webhookFirst: true", "webhookFirst: false").replace(
        "  backfill:\n", "  backfill:\n    enabled: false\n"
    )
    (tmp_path / "policy.yaml").write_text(policy)
    (tmp_path / "provider.yaml").write_text((examples / "provider-github.yaml").read_text())
    issues = validate(load_paths([tmp_path]).manifests, registry, [])
    [warning] = [i for i in issues if i.rule == "sync-mode"]
    assert warning.severity is Severity.WARNING
    assert warning.field == "spec.webhookFirst"
    assert "only webhooks will sync" in warning.message
    assert not has_errors(issues)
