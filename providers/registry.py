"""The provider type registry: one YAML file per provider type, loaded as data.

Built-in types live in `providers/registry/` (package data, found next to this file). Extra
directories add types, or replace a built-in one of the same name, without any code or schema
change: adding a provider type is adding a YAML file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from resources.issues import Issue, Source
from resources.provider_type import ProviderTypeDescriptor
from resources.schema_errors import issues_from_validation_error

BUILTIN_REGISTRY_DIR = Path(__file__).resolve().parent / "registry"
REGISTRY_SUFFIXES = (".yaml", ".yml")


class RegistryError(ValueError):
    """A registry file that cannot be used; `issues` name the file, the field and the fix."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


class UnknownProviderTypeError(LookupError):
    def __init__(self, provider_type: str, known: Iterable[str]) -> None:
        self.provider_type = provider_type
        super().__init__(
            f"unknown provider type {provider_type!r}; known types: {', '.join(sorted(known))}"
        )


@dataclass(frozen=True)
class RegisteredType:
    descriptor: ProviderTypeDescriptor
    path: Path


class ProviderTypeRegistry:
    """Provider types by name. Satisfies `resources.provider_type.ProviderTypeLookup`."""

    def __init__(self, entries: Iterable[RegisteredType] = ()) -> None:
        self._entries: dict[str, RegisteredType] = {}
        for entry in entries:
            self._entries[entry.descriptor.provider_type] = entry

    @classmethod
    def load(cls, *extra_dirs: str | Path, include_builtin: bool = True) -> ProviderTypeRegistry:
        """Built-in types, then each extra directory in order (a later file replaces an
        earlier type of the same name). Raises RegistryError listing every bad file."""
        directories = [BUILTIN_REGISTRY_DIR] if include_builtin else []
        directories.extend(Path(d) for d in extra_dirs)
        entries: list[RegisteredType] = []
        problems: list[Issue] = []
        for directory in directories:
            found, issues = load_directory(directory)
            entries.extend(found)
            problems.extend(issues)
        if problems:
            raise RegistryError(problems)
        return cls(entries)

    def find(self, provider_type: str) -> ProviderTypeDescriptor | None:
        entry = self._entries.get(provider_type)
        return entry.descriptor if entry else None

    def get(self, provider_type: str) -> ProviderTypeDescriptor:
        """The descriptor, or UnknownProviderTypeError naming the known types."""
        found = self.find(provider_type)
        if found is None:
            raise UnknownProviderTypeError(provider_type, self._entries)
        return found

    def path_of(self, provider_type: str) -> Path:
        """The file a provider type was read from."""
        self.get(provider_type)
        return self._entries[provider_type].path

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, provider_type: object) -> bool:
        return provider_type in self._entries

    def __iter__(self) -> Iterator[ProviderTypeDescriptor]:
        return (self._entries[name].descriptor for name in self.names())

    def __len__(self) -> int:
        return len(self._entries)


def load_directory(directory: Path) -> tuple[list[RegisteredType], list[Issue]]:
    """Every *.yaml / *.yml directly in `directory` (not recursive), sorted by name."""
    if not directory.is_dir():
        return [], [
            Issue(
                "registry",
                "registry directory not found",
                "check the path",
                source=Source(str(directory)),
            )
        ]
    entries: list[RegisteredType] = []
    issues: list[Issue] = []
    seen: dict[str, Path] = {}
    for path in sorted(p for p in directory.iterdir() if p.suffix in REGISTRY_SUFFIXES):
        entry, problems = load_entry(path)
        issues.extend(problems)
        if entry is None:
            continue
        name = entry.descriptor.provider_type
        if name in seen:
            issues.append(
                Issue(
                    "registry",
                    f"provider type {name!r} is also defined in {seen[name]}",
                    "keep one file per provider type in a directory",
                    field="providerType",
                    source=Source(str(path)),
                )
            )
            continue
        seen[name] = path
        entries.append(entry)
    return entries, issues


def load_entry(path: Path) -> tuple[RegisteredType | None, list[Issue]]:
    source = Source(str(path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        return None, [
            Issue("registry", f"cannot read the entry: {exc}", "correct the file", source=source)
        ]
    if not isinstance(data, dict):
        return None, [
            Issue(
                "registry",
                "the file is not a mapping",
                "write one provider type per file",
                source=source,
            )
        ]
    try:
        descriptor = ProviderTypeDescriptor.model_validate(data)
    except ValidationError as exc:
        issues = issues_from_validation_error(exc, ProviderTypeDescriptor)
        return None, [i.at(source, "provider type", str(data.get("providerType"))) for i in issues]
    return RegisteredType(descriptor, path), []


@lru_cache(maxsize=1)
def builtin_registry() -> ProviderTypeRegistry:
    """The built-in types only, loaded once."""
    return ProviderTypeRegistry.load()


def load_registry(extra_dirs: Iterable[str | Path] = ()) -> ProviderTypeRegistry:
    """Built-in types plus `extra_dirs`; the built-in registry is reused when there are none."""
    dirs = list(extra_dirs)
    return ProviderTypeRegistry.load(*dirs) if dirs else builtin_registry()
