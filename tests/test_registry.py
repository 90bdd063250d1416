"""The provider type registry: every built-in file loads, the spec's provider types are all
there, interfaces and webhook schemes are truthful, and extra directories add types."""

from __future__ import annotations

from pathlib import Path

import pytest

from providers.registry import (
    BUILTIN_REGISTRY_DIR,
    ProviderTypeRegistry,
    RegistryError,
    UnknownProviderTypeError,
    builtin_registry,
    load_registry,
)
from resources.interfaces import Interface, InterfaceMode
from resources.provider_type import ProviderTypeDescriptor, WebhookScheme

EXTRA_TYPES = Path(__file__).parent / "fixtures" / "manifests" / "provider-types"

# The wizard of external-backend-ui-spec.md lists these.
SPEC_PROVIDER_TYPES = {
    "github",
    "gitlab",
    "bitbucket",
    "azure-devops",
    "jira",
    "linear",
    "buildkite",
    "circleci",
    "jenkins",
    "gitea",
    "custom",
}

ISSUES, CICD, FORGE = Interface.ISSUE_TRACKING, Interface.CICD, Interface.GIT_FORGE


def test_every_builtin_file_loads_and_is_named_after_its_type() -> None:
    files = sorted(BUILTIN_REGISTRY_DIR.glob("*.yaml"))
    assert len(files) == len(SPEC_PROVIDER_TYPES)
    registry = builtin_registry()
    for path in files:
        descriptor = registry.get(path.stem)
        assert registry.path_of(descriptor.provider_type) == path
        assert descriptor.display_name, path


def test_every_provider_type_of_the_spec_is_present() -> None:
    assert set(builtin_registry().names()) == SPEC_PROVIDER_TYPES


@pytest.mark.parametrize(
    ("provider_type", "interfaces"),
    [
        ("github", [ISSUES, CICD, FORGE]),
        ("gitlab", [ISSUES, CICD, FORGE]),
        ("gitea", [ISSUES, CICD, FORGE]),
        ("bitbucket", [ISSUES, CICD, FORGE]),
        ("azure-devops", [ISSUES, CICD, FORGE]),
        ("jira", [ISSUES]),
        ("linear", [ISSUES]),
        ("buildkite", [CICD]),
        ("circleci", [CICD]),
        ("jenkins", [CICD]),
    ],
)
def test_interfaces_are_truthful(provider_type: str, interfaces: list[Interface]) -> None:
    descriptor = builtin_registry().get(provider_type)
    assert descriptor.offered_interfaces() == interfaces
    for interface in interfaces:
        # Every offered interface is described, with reads, and writes for its writing modes.
        assert interface in descriptor.capabilities
        assert descriptor.read_operations(interface)
        assert descriptor.write_operations(interface)
    for interface in set(Interface) - set(interfaces):
        assert descriptor.modes(interface) == []
        assert descriptor.write_operations(interface) == []


@pytest.mark.parametrize(
    ("provider_type", "scheme", "header"),
    [
        ("github", WebhookScheme.HMAC_SHA256, "X-Hub-Signature-256"),
        ("gitlab", WebhookScheme.TOKEN, "X-Gitlab-Token"),
        ("gitea", WebhookScheme.HMAC_SHA256, "X-Gitea-Signature"),
        ("bitbucket", WebhookScheme.HMAC_SHA256, "X-Hub-Signature"),
        ("jira", WebhookScheme.HMAC_SHA256, "X-Hub-Signature"),
        ("linear", WebhookScheme.HMAC_SHA256, "Linear-Signature"),
        ("buildkite", WebhookScheme.HMAC_SHA256, "X-Buildkite-Signature"),
        ("circleci", WebhookScheme.HMAC_SHA256, "circleci-signature"),
        ("azure-devops", WebhookScheme.BASIC_AUTH, "Authorization"),
        ("jenkins", WebhookScheme.TOKEN, "Authorization"),
    ],
)
def test_webhook_schemes(provider_type: str, scheme: WebhookScheme, header: str) -> None:
    signature = builtin_registry().get(provider_type).webhook_signature
    assert signature.scheme is scheme
    assert signature.header == header


def test_webhook_details_that_matter_for_verification() -> None:
    registry = builtin_registry()
    linear = registry.get("linear").webhook_signature
    assert linear.timestamp_tolerance is not None
    assert linear.timestamp_tolerance.total_seconds() == 60
    buildkite = registry.get("buildkite").webhook_signature
    assert buildkite.signed_content == "<timestamp>.<body>"
    assert [a.header for a in buildkite.alternatives] == ["X-Buildkite-Token"]
    # Only Jira app deliveries are signed without a webhook secret held by Krate.
    optional = {d.provider_type for d in registry if d.secret_optional("connect-app")}
    assert optional == {"jira"}
    assert not registry.get("jira").secret_optional("api-token")


def test_operations_named_by_the_brief() -> None:
    github = builtin_registry().get("github")
    assert {"createComment", "updateIssue", "addLabels", "removeLabels"} <= set(
        github.write_operations(ISSUES)
    )
    assert {
        "createPullRequest",
        "updatePullRequest",
        "mergePullRequest",
        "syncDeployKeys",
        "syncBranchProtection",
    } <= set(github.write_operations(FORGE))
    assert {"rerunWorkflowRun", "cancelWorkflowRun"} <= set(github.write_operations(CICD))
    assert {"listIssues", "listPullRequests", "listRefs"} <= set(
        github.read_operations(ISSUES) + github.read_operations(FORGE)
    )
    assert "transitionIssue" in builtin_registry().get("jira").write_operations(ISSUES)


def test_ci_runs_are_never_krate_owned() -> None:
    for descriptor in builtin_registry():
        if descriptor.offers(CICD) and not descriptor.requires_adapter_ref:
            assert InterfaceMode.KRATE_OWNED not in descriptor.modes(CICD), descriptor.provider_type


def test_custom_requires_an_adapter_ref() -> None:
    custom = builtin_registry().get("custom")
    assert custom.requires_adapter_ref
    assert custom.offered_interfaces() == [ISSUES, CICD, FORGE]


def test_lookup_error_names_known_types() -> None:
    with pytest.raises(UnknownProviderTypeError) as caught:
        builtin_registry().get("gogs")
    assert "'gogs'" in str(caught.value)
    assert "github, gitlab" in str(caught.value)


def test_extra_directory_adds_a_type() -> None:
    registry = load_registry([EXTRA_TYPES])
    assert "statuspage" in registry
    assert "statuspage" not in builtin_registry()
    statuspage = registry.get("statuspage")
    assert not statuspage.has_write_operations()
    assert len(registry) == len(SPEC_PROVIDER_TYPES) + 1


def test_extra_directory_replaces_a_builtin_type(tmp_path: Path) -> None:
    (tmp_path / "jenkins.yaml").write_text(
        (BUILTIN_REGISTRY_DIR / "jenkins.yaml")
        .read_text()
        .replace("[triggerBuild, stopBuild]", "[triggerBuild]")
    )
    registry = ProviderTypeRegistry.load(tmp_path)
    assert registry.get("jenkins").write_operations(CICD) == ["triggerBuild"]
    assert registry.path_of("jenkins") == tmp_path / "jenkins.yaml"


def test_bad_registry_files_are_reported_with_field_and_fix(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "providerType: forgejo\ninterfaces: [gitForge]\nwebhookSignature: hmac-sha256\n"
        "supportsGrapql: true\n"
    )
    (tmp_path / "b.yaml").write_text(
        "providerType: writer\ninterfaces: [cicd]\nwebhookSignature: token\n"
        "capabilities:\n  cicd:\n    modes: [bidirectional]\n    read: [listRuns]\n"
    )
    (tmp_path / "c.yaml").write_text(
        "providerType: forgejo\ninterfaces: [gitForge]\nwebhookSignature: none\n"
    )
    with pytest.raises(RegistryError) as caught:
        ProviderTypeRegistry.load(tmp_path, include_builtin=False)
    issues = {(i.source.path if i.source else "", i.field): i for i in caught.value.issues}
    typo = issues[(str(tmp_path / "a.yaml"), "supportsGrapql")]
    assert typo.fix is not None
    assert typo.fix.startswith('did you mean "supportsGraphql"?')
    writer = [i for (path, _), i in issues.items() if path.endswith("b.yaml")]
    assert len(writer) == 1
    assert "allows bidirectional but lists no write operations" in writer[0].message


def test_duplicate_type_in_one_directory(tmp_path: Path) -> None:
    entry = "providerType: forgejo\ninterfaces: [gitForge]\nwebhookSignature: hmac-sha256\n"
    (tmp_path / "a.yaml").write_text(entry)
    (tmp_path / "b.yaml").write_text(entry)
    with pytest.raises(RegistryError, match="also defined in"):
        ProviderTypeRegistry.load(tmp_path, include_builtin=False)


def test_descriptor_accepts_the_spec_example_shape() -> None:
    descriptor = ProviderTypeDescriptor.model_validate(
        {
            "providerType": "github",
            "interfaces": ["issueTracking", "cicd", "gitForge"],
            "hosting": ["saas", "ghe"],
            "authModes": ["github-app", "oauth-user"],
            "webhookSignature": "hmac-sha256",
            "supportsGraphql": True,
            "supportsRest": True,
        }
    )
    assert descriptor.webhook_signature.scheme is WebhookScheme.HMAC_SHA256
    # Without capability details an interface is read-only.
    assert descriptor.modes(CICD) == [InterfaceMode.MIRRORED, InterfaceMode.EXTERNAL_OWNED]
    assert descriptor.title == "github"
