"""Read manifests from files, directories or text, the way `kubectl apply -f` does.

Every document keeps where it came from, and every problem becomes an Issue (never a traceback).
Documents without apiVersion/kind that carry `providerType` are provider type registry entries
(the spec's examples/ holds one): they are checked against the registry schema and reported with
a note, because they are data for the registry, not resources to apply.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import ValidationError

from resources.issues import Issue, Severity, Source, has_errors, with_hint
from resources.kinds import KINDS, AnyResource, KindInfo, kind_info
from resources.provider_type import ProviderTypeDescriptor
from resources.schema_errors import issues_from_validation_error
from resources.wire import API_GROUP, API_VERSION, org_namespace

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


class _ManifestYamlLoader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings, as Kubernetes' YAML-to-JSON does, so `raw`
    stays JSON-ready and `name: 2026-01-01` is a name, not a date."""


_ManifestYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

RULE_FILE = "file"
RULE_YAML = "yaml"
RULE_ENVELOPE = "envelope"
RULE_REGISTRY_ENTRY = "registry-entry"


@dataclass(frozen=True)
class Manifest:
    """One resource read from a document, both as written (`raw`) and parsed (`model`)."""

    source: Source
    kind: str
    name: str
    namespace: str | None
    raw: dict[str, Any]
    model: AnyResource

    @property
    def info(self) -> KindInfo:
        found = kind_info(self.kind)
        assert found is not None  # a Manifest is only built for a known kind
        return found

    @property
    def organization(self) -> str:
        return self.model.spec.organization_ref

    @property
    def effective_namespace(self) -> str:
        """`metadata.namespace`, or the organization's namespace when it is left out."""
        return self.namespace or org_namespace(self.organization)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.effective_namespace, self.name)


@dataclass(frozen=True)
class ProviderTypeDocument:
    """A provider type registry entry met among manifests; `descriptor` is None when invalid."""

    source: Source
    raw: dict[str, Any]
    descriptor: ProviderTypeDescriptor | None


@dataclass
class LoadResult:
    manifests: list[Manifest] = field(default_factory=list)
    provider_types: list[ProviderTypeDocument] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not has_errors(self.issues)

    def extend(self, other: LoadResult) -> None:
        self.manifests.extend(other.manifests)
        self.provider_types.extend(other.provider_types)
        self.issues.extend(other.issues)
        self.files.extend(other.files)


class ManifestError(ValueError):
    """Raised by `manifest_from_dict` when a dict is not a valid resource."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


# --- files ------------------------------------------------------------------------------------


def find_manifest_files(directory: Path) -> list[Path]:
    """Every *.yaml, *.yml and *.json below `directory`, sorted; hidden entries are skipped."""
    found = [
        path
        for path in directory.rglob("*")
        if path.is_file()
        and path.suffix.lower() in MANIFEST_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(directory).parts)
    ]
    return sorted(found)


def load_paths(paths: Iterable[str | Path]) -> LoadResult:
    """Load files and directories (recursively). A file named explicitly is read whatever its
    extension; `-` reads standard input."""
    result = LoadResult()
    for given in paths:
        text = str(given)
        if text == "-":
            result.extend(load_text(sys.stdin.read(), "-"))
            continue
        path = Path(given)
        if path.is_dir():
            files = find_manifest_files(path)
            if not files:
                result.issues.append(
                    Issue(
                        RULE_FILE,
                        "the directory holds no *.yaml, *.yml or *.json file",
                        "check the path",
                        source=Source(text),
                        severity=Severity.WARNING,
                    )
                )
            for file in files:
                result.extend(load_file(file))
        elif path.is_file():
            result.extend(load_file(path))
        else:
            result.issues.append(
                Issue(RULE_FILE, "no such file or directory", "check the path", source=Source(text))
            )
    return result


def load_file(path: str | Path) -> LoadResult:
    shown = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return LoadResult(
            issues=[Issue(RULE_FILE, f"cannot read the file: {exc}", None, source=Source(shown))],
            files=[shown],
        )
    result = load_text(text, shown, is_json=Path(path).suffix.lower() == ".json")
    result.files.append(shown)
    return result


def load_text(text: str, path: str = "-", *, is_json: bool = False) -> LoadResult:
    """Load every document of a YAML stream (or one JSON value) given as text."""
    result = LoadResult()
    for index, document, problem in _documents(text, path, is_json):
        source = Source(path, index)
        if problem is not None:
            result.issues.append(problem)
        elif document is not None:
            _classify(document, source, result)
    return result


def _documents(text: str, path: str, is_json: bool) -> Iterator[tuple[int, object, Issue | None]]:
    if is_json:
        try:
            yield 1, json.loads(text), None
        except json.JSONDecodeError as exc:
            yield (
                1,
                None,
                Issue(
                    RULE_YAML,
                    f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                    "correct the JSON syntax",
                    source=Source(path, 1),
                ),
            )
        return
    index = 0
    stream = yaml.load_all(text, Loader=_ManifestYamlLoader)  # a SafeLoader: no object tags
    while True:
        index += 1
        try:
            document = next(stream)
        except StopIteration:
            return
        except yaml.YAMLError as exc:
            yield index, None, _yaml_issue(exc, Source(path, index))
            return  # the parser cannot resynchronise after a syntax error
        yield index, document, None


def _yaml_issue(exc: yaml.YAMLError, source: Source) -> Issue:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return Issue(
        RULE_YAML,
        f"invalid YAML{where}: {problem}",
        "correct the YAML syntax (indentation, ':' after keys, quotes around values with ':')",
        source=source,
    )


# --- documents --------------------------------------------------------------------------------


def _classify(document: object, source: Source, result: LoadResult) -> None:
    if isinstance(document, list) and source.item is None:  # a JSON array of resources
        for position, item in enumerate(document, start=1):
            _classify(item, Source(source.path, source.document, position), result)
        return
    if not isinstance(document, Mapping):
        result.issues.append(
            Issue(
                RULE_ENVELOPE,
                f"the document is a {type(document).__name__}, not a mapping",
                "write a resource with apiVersion, kind, metadata and spec",
                source=source,
            )
        )
        return
    raw = {str(k): v for k, v in document.items()}
    if "apiVersion" not in raw and "kind" not in raw and "providerType" in raw:
        _provider_type_entry(raw, source, result)
        return
    if raw.get("kind") == "List" and isinstance(raw.get("items"), list):
        for position, item in enumerate(raw["items"], start=1):
            _classify(item, Source(source.path, source.document, position), result)
        return
    manifest, issues = parse_manifest(raw, source)
    result.issues.extend(issues)
    if manifest is not None:
        result.manifests.append(manifest)


def _provider_type_entry(raw: dict[str, Any], source: Source, result: LoadResult) -> None:
    name = str(raw.get("providerType"))
    try:
        descriptor = ProviderTypeDescriptor.model_validate(raw)
    except ValidationError as exc:
        descriptor = None
        for issue in issues_from_validation_error(exc, ProviderTypeDescriptor):
            result.issues.append(issue.at(source, "provider type", name))
    result.provider_types.append(ProviderTypeDocument(source, raw, descriptor))
    result.issues.append(
        Issue(
            RULE_REGISTRY_ENTRY,
            "this is a provider type registry entry, not a resource: it was checked against the "
            "registry schema and is not applied",
            "to make the type available, put the file in a registry directory "
            "(providers/registry/ or an extra registry directory)",
            source=source,
            kind="provider type",
            name=name,
            severity=Severity.NOTE,
        )
    )


def parse_manifest(raw: Mapping[str, Any], source: Source) -> tuple[Manifest | None, list[Issue]]:
    """Check the envelope, then the kind's schema. Returns the manifest or the issues."""
    raw = dict(raw)
    kind = raw.get("kind")
    metadata = raw.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    shown_kind = kind if isinstance(kind, str) else None
    shown_name = name if isinstance(name, str) else None

    def issue(field_: str, message: str, fix: str) -> Issue:
        return Issue(RULE_ENVELOPE, message, fix, field=field_).at(source, shown_kind, shown_name)

    api_version = raw.get("apiVersion")
    if api_version is None and kind is None:
        return None, [
            issue(
                "apiVersion",
                "the document has neither apiVersion nor kind, so it is not a resource "
                "(nor a provider type registry entry, which has providerType)",
                f"add apiVersion: {API_VERSION} and a kind, or move the file out of the input",
            )
        ]
    found: list[Issue] = []
    if api_version is None:
        found.append(issue("apiVersion", "apiVersion is missing", f"add apiVersion: {API_VERSION}"))
    elif api_version != API_VERSION:
        group = str(api_version).split("/")[0]
        if group != API_GROUP:
            # Another API's object (a Secret, a Deployment): its kind is not ours to judge.
            return None, [
                issue(
                    "apiVersion",
                    f"{api_version} {kind} is not a krate.a5c.ai resource",
                    "apply it with kubectl, or move it out of the input",
                )
            ]
        found.append(
            issue(
                "apiVersion",
                f"unsupported version {api_version!r}",
                f"use apiVersion: {API_VERSION}",
            )
        )
    info: KindInfo | None = None
    if not isinstance(kind, str) or not kind:
        problem = "kind is missing" if kind is None else f"kind must be a name, not {kind!r}"
        found.append(issue("kind", problem, f"set kind to one of {_kind_list()}"))
    else:
        info = kind_info(kind)
        if info is None:
            close = difflib.get_close_matches(kind, [k.kind for k in KINDS], n=1, cutoff=0.5)
            fix = with_hint(close, f"use one of {_kind_list()}")
            found.append(issue("kind", f"unknown kind {kind!r}", fix))
    if not isinstance(metadata, Mapping):
        found.append(issue("metadata", "metadata is missing", "add metadata with a name"))
    elif name is None or name == "":
        found.append(issue("metadata.name", "metadata.name is missing", "add metadata.name"))
    elif not isinstance(name, str):
        found.append(
            issue(
                "metadata.name",
                f"metadata.name must be text, YAML read {name!r}",
                "quote the name",
            )
        )
    if found or info is None:
        return None, found
    try:
        model = cast(AnyResource, info.model.model_validate(raw))
    except ValidationError as exc:
        issues = issues_from_validation_error(exc, info.model)
        return None, [i.at(source, shown_kind, shown_name) for i in issues]
    manifest = Manifest(
        source=source,
        kind=info.kind,
        name=model.metadata.name,
        namespace=model.metadata.namespace,
        raw=raw,
        model=model,
    )
    return manifest, []


def manifest_from_dict(raw: Mapping[str, Any], source: Source | str = "applied") -> Manifest:
    """Parse one resource dict (for example one read back from the store).

    Raises ManifestError, whose `issues` say what is wrong.
    """
    where = source if isinstance(source, Source) else Source(source)
    manifest, issues = parse_manifest(raw, where)
    if manifest is None:
        raise ManifestError(issues)
    return manifest


def _kind_list() -> str:
    return ", ".join(info.kind for info in KINDS)
