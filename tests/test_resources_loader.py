"""Loading manifests: files, directories, multi-document YAML, JSON lists, and every way a
document can be wrong (each becomes an issue naming file, document and field)."""

from __future__ import annotations

from pathlib import Path

import pytest

from resources.config import ExternalBackendProvider
from resources.issues import Severity, Source
from resources.loader import (
    ManifestError,
    find_manifest_files,
    load_file,
    load_paths,
    load_text,
    manifest_from_dict,
)

FIXTURES = Path(__file__).parent / "fixtures" / "manifests"
LOADER = FIXTURES / "loader"
BROKEN = FIXTURES / "loader-broken"


def test_multi_document_file_skips_empty_documents_but_counts_them() -> None:
    result = load_file(LOADER / "multi-document.yaml")
    assert result.issues == []
    assert [(m.kind, m.name, m.source.document) for m in result.manifests] == [
        ("ExternalBackendProvider", "gitea-a5c", 2),
        ("ExternalBackendBinding", "gitea-krate", 4),
    ]
    provider = result.manifests[0]
    assert provider.source == Source(str(LOADER / "multi-document.yaml"), 2)
    assert provider.namespace == "krate-org-a5c"
    assert provider.raw["spec"]["baseUrl"] == "https://gitea.example.com"
    assert isinstance(provider.model, ExternalBackendProvider)
    assert provider.model.spec.provider_type == "gitea"
    assert provider.key == ("ExternalBackendProvider", "krate-org-a5c", "gitea-a5c")


def test_directory_is_read_recursively_in_sorted_order() -> None:
    files = find_manifest_files(LOADER)
    assert [f.relative_to(LOADER).as_posix() for f in files] == [
        "multi-document.yaml",
        "nested/deeper/list.json",
        "nested/policy.yml",
    ]
    result = load_paths([LOADER])
    assert result.ok, [str(i) for i in result.issues]
    assert [m.name for m in result.manifests] == [
        "gitea-a5c",
        "gitea-krate",
        "pr-7-gitea",
        "gitea-a5c-default",
    ]
    link = result.manifests[2]
    assert link.kind == "ExternalObjectLink"
    assert link.source.item == 1  # item 1 of the `kind: List` document
    assert "item 1" in link.source.describe()
    assert result.files == [str(f) for f in files]


def test_a_file_named_explicitly_is_read_whatever_its_extension(tmp_path: Path) -> None:
    target = tmp_path / "provider.txt"
    target.write_text((LOADER / "multi-document.yaml").read_text())
    assert [m.name for m in load_paths([target]).manifests] == ["gitea-a5c", "gitea-krate"]


def test_missing_path_is_an_issue_not_an_exception(tmp_path: Path) -> None:
    result = load_paths([tmp_path / "nope.yaml"])
    (issue,) = result.issues
    assert issue.rule == "file"
    assert "no such file" in str(issue)
    assert not result.ok


def test_directory_without_manifests_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("nothing here")
    (issue,) = load_paths([tmp_path]).issues
    assert issue.severity is Severity.WARNING
    assert "no *.yaml, *.yml or *.json file" in issue.message


@pytest.mark.parametrize(
    "text",
    [
        "kind: 5\napiVersion: krate.a5c.ai/v1alpha1\nmetadata: {name: x}\n",
        "apiVersion: [krate]\nkind: ExternalBackendBinding\nmetadata: []\n",
        "apiVersion: krate.a5c.ai/v1alpha1\nkind: ExternalSyncEvent\nmetadata: {name: 12}\n",
        "apiVersion: krate.a5c.ai/v1alpha1\nkind: ExternalBackendBinding\nmetadata: {name: b}\nspec: 7\n",
        "apiVersion: krate.a5c.ai/v1alpha1\nkind: ExternalBackendProvider\nmetadata: {name: p}\n"
        "spec: {organizationRef: a5c, providerType: github, authRef: {secretRef: {name: s}},"
        " capabilities: {cicd: maybe}, webhook: {secretRef: [x]}}\n",
        "1: 2\n? [a, b]\n: c\n",
        "!!python/object:os.system {}\n",
    ],
)
def test_malformed_documents_become_issues_not_exceptions(text: str) -> None:
    result = load_text(text, "odd.yaml")
    assert result.manifests == []
    assert result.issues
    for issue in result.issues:
        assert issue.source is not None
        assert issue.source.path == "odd.yaml"
        assert str(issue).startswith("odd.yaml (document 1")


def test_bad_yaml_names_line_and_column() -> None:
    result = load_file(BROKEN / "bad-yaml.yaml")
    (issue,) = result.issues
    assert issue.rule == "yaml"
    assert issue.source == Source(str(BROKEN / "bad-yaml.yaml"), 1)
    assert "line 8, column 11" in issue.message
    assert issue.fix is not None
    assert "YAML syntax" in issue.fix


def test_yaml_error_after_good_documents_keeps_them() -> None:
    text = (LOADER / "multi-document.yaml").read_text() + "\n---\nkind: [unclosed\n"
    result = load_text(text, "stream.yaml")
    assert [m.name for m in result.manifests] == ["gitea-a5c", "gitea-krate"]
    (issue,) = result.issues
    assert issue.source == Source("stream.yaml", 5)


def test_envelope_problems_each_get_an_issue() -> None:
    path = str(BROKEN / "envelope-problems.yaml")
    result = load_file(BROKEN / "envelope-problems.yaml")
    assert result.manifests == []
    by_document = {
        i.source.document: i for i in result.issues if i.source and i.source.item is None
    }
    missing_kind = by_document[1]
    assert (missing_kind.field, missing_kind.name) == ("kind", "no-kind")
    assert "kind is missing" in missing_kind.message
    assert missing_kind.fix is not None
    assert "ExternalBackendProvider" in missing_kind.fix

    unknown = by_document[2]
    assert unknown.field == "kind"
    assert str(unknown) == (
        f"{path} (document 2, ExternalBackendBindings typo-kind): kind: unknown kind "
        "'ExternalBackendBindings'. Fix: did you mean \"ExternalBackendBinding\"? Use one of "
        "ExternalBackendProvider, ExternalBackendBinding, ExternalBackendSyncPolicy, "
        "ExternalWebhookDelivery, ExternalSyncEvent, ExternalSyncState, ExternalWriteIntent, "
        "ExternalSyncConflict, ExternalObjectLink."
    )

    foreign = by_document[3]
    assert foreign.field == "apiVersion"
    assert "v1 Secret is not a krate.a5c.ai resource" in foreign.message

    no_name = by_document[4]
    assert no_name.field == "metadata.name"
    assert no_name.fix == "add metadata.name"

    not_a_resource = by_document[6]
    assert "neither apiVersion nor kind" in not_a_resource.message

    list_items = [i for i in result.issues if i.source and i.source.document == 5]
    assert len(list_items) == 2
    assert all("not a mapping" in i.message for i in list_items)


def test_timestamps_stay_strings_in_raw() -> None:
    text = (FIXTURES / "valid" / "aggregated-kinds.yaml").read_text()
    result = load_text(text, "aggregated.yaml")
    assert result.ok
    delivery = result.manifests[0]
    assert delivery.raw["spec"]["receivedAt"] == "2026-05-11T12:00:00Z"
    assert delivery.model.to_wire()["spec"]["receivedAt"] == "2026-05-11T12:00:00Z"
    named = load_text(
        "apiVersion: krate.a5c.ai/v1alpha1\nkind: ExternalSyncState\nmetadata: {name: 2026-01-01}\n"
        "spec: {organizationRef: a5c, providerRef: p, interface: cicd, resourceKind: Run,"
        " scope: a/b}\n",
        "s.yaml",
    )
    assert [m.name for m in named.manifests] == ["2026-01-01"]


def test_wrong_api_version_of_our_group() -> None:
    text = (LOADER / "multi-document.yaml").read_text().replace("v1alpha1", "v1beta1", 1)
    result = load_text(text, "old.yaml")
    (issue,) = result.issues
    assert issue.field == "apiVersion"
    assert "unsupported version 'krate.a5c.ai/v1beta1'" in issue.message
    assert issue.fix == "use apiVersion: krate.a5c.ai/v1alpha1"
    assert issue.kind == "ExternalBackendProvider"
    assert issue.name == "gitea-a5c"


def test_schema_errors_name_the_field_and_the_fix() -> None:
    result = load_file(BROKEN / "schema-problems.yaml")
    assert result.manifests == []
    typo, duration, mode = sorted(result.issues, key=lambda i: i.source.document if i.source else 0)

    assert typo.field == "spec.capabilites"
    assert typo.message == 'unknown field "capabilites"'
    assert typo.fix is not None
    assert typo.fix.startswith('did you mean "capabilities"? Remove or rename it')
    assert "known fields here: organizationRef, providerType" in typo.fix

    assert duration.field == "spec.backfill.interval"
    assert "invalid duration '15 minutes'" in duration.message
    assert "15m" in duration.message
    assert duration.kind == "ExternalBackendSyncPolicy"

    assert mode.field == "spec.interfaces.cicd.mode"
    assert mode.message == "'owned-by-krate' is not an accepted value"
    assert mode.fix is not None
    assert "krate-owned" in mode.fix


def test_missing_required_field() -> None:
    text = """
apiVersion: krate.a5c.ai/v1alpha1
kind: ExternalBackendBinding
metadata: {name: b}
spec:
  organizationRef: a5c
  targetRef: {kind: Repository, name: krate}
"""
    (issue,) = load_text(text, "b.yaml").issues
    assert issue.field == "spec.providerRef"
    assert issue.message == "required field is missing"
    assert issue.fix == "add spec.providerRef"
    assert str(issue).startswith("b.yaml (document 1, ExternalBackendBinding b): spec.providerRef:")


def test_provider_type_registry_entry_is_recognised_not_applied(tmp_path: Path) -> None:
    entry = tmp_path / "provider-type-github.yaml"
    entry.write_text(
        "providerType: github\ninterfaces: [issueTracking, cicd, gitForge]\n"
        "hosting: [saas, ghe]\nauthModes: [github-app, oauth-user]\n"
        "webhookSignature: hmac-sha256\nsupportsGraphql: true\nsupportsRest: true\n"
    )
    result = load_paths([tmp_path])
    assert result.manifests == []
    (document,) = result.provider_types
    assert document.descriptor is not None
    assert document.descriptor.webhook_signature.scheme == "hmac-sha256"
    (note,) = result.issues
    assert note.severity is Severity.NOTE
    assert note.rule == "registry-entry"
    assert result.ok


def test_invalid_registry_entry_among_manifests_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "entry.yaml").write_text("providerType: forgejo\ninterfaces: [wiki]\n")
    result = load_paths([tmp_path])
    assert not result.ok
    fields = {i.field for i in result.issues if i.severity is Severity.ERROR}
    assert {"interfaces[0]", "webhookSignature"} <= fields


def test_json_array_and_stdin_name(tmp_path: Path) -> None:
    source = (LOADER / "nested" / "deeper" / "list.json").read_text()
    items = source[source.index("[") : source.rindex("]") + 1]
    (tmp_path / "links.json").write_text(items)
    result = load_paths([tmp_path / "links.json"])
    assert [m.name for m in result.manifests] == ["pr-7-gitea"]
    assert load_text("", "-").manifests == []


def test_manifest_from_dict_for_resources_read_back() -> None:
    manifest = load_file(LOADER / "multi-document.yaml").manifests[0]
    again = manifest_from_dict(manifest.model.to_wire())
    assert again.model == manifest.model
    assert again.source.path == "applied"
    with pytest.raises(ManifestError) as caught:
        manifest_from_dict({"apiVersion": "krate.a5c.ai/v1alpha1", "kind": "Nope"})
    assert {i.field for i in caught.value.issues} == {"kind", "metadata"}
