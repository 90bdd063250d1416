"""Problems found while loading or validating manifests, each with where, what and a fix."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    """The input must not be applied."""
    WARNING = "warning"
    """Applying works, but something is probably wrong (for example a ref to nothing yet)."""
    NOTE = "note"
    """Information (for example a file that is not a manifest and was not applied)."""


@dataclass(frozen=True)
class Source:
    """Where a document came from: a file (or `-` for stdin) and its 1-based document index."""

    path: str
    document: int = 1
    item: int | None = None
    """1-based position inside a `kind: List` document, when the manifest came from one."""

    def describe(self) -> str:
        where = f"document {self.document}"
        if self.item is not None:
            where += f", item {self.item}"
        return where


@dataclass(frozen=True)
class Issue:
    rule: str
    """Short stable id of the check, e.g. `interface-supported` (see docs/resources.md)."""
    message: str
    fix: str | None = None
    field: str | None = None
    """Dotted path in the manifest, e.g. `spec.interfaces.cicd.enabled`."""
    source: Source | None = None
    kind: str | None = None
    name: str | None = None
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity == Severity.ERROR

    def location(self) -> str:
        """`bad.yaml (document 2, ExternalBackendProvider jira-a5c)`."""
        inside = [self.source.describe()] if self.source else []
        what = " ".join(part for part in (self.kind, self.name) if part)
        if what:
            inside.append(what)
        head = self.source.path if self.source else ""
        if inside:
            head = f"{head} ({', '.join(inside)})" if head else ", ".join(inside)
        return head

    def render(self, *, fix_on_new_line: bool = False) -> str:
        parts = []
        location = self.location()
        if location:
            parts.append(f"{location}:")
        if self.severity != Severity.ERROR:
            parts.append(f"{self.severity.value}:")
        if self.field:
            parts.append(f"{self.field}:")
        parts.append(_sentence(self.message))
        text = " ".join(parts)
        if self.fix:
            text += ("\n    " if fix_on_new_line else " ") + f"Fix: {_sentence(self.fix)}"
        return text

    def __str__(self) -> str:
        return self.render()

    def at(self, source: Source | None, kind: str | None, name: str | None) -> Issue:
        return replace(self, source=source, kind=kind, name=name)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else f"{text}."


def with_hint(close_matches: list[str], fix: str) -> str:
    """`did you mean "github"? Use one of: ...` when a close match was found, else `fix`."""
    if not close_matches:
        return fix
    return f'did you mean "{close_matches[0]}"? {fix[:1].upper()}{fix[1:]}'


def has_errors(issues: Iterable[Issue]) -> bool:
    return any(issue.is_error for issue in issues)


def errors(issues: Iterable[Issue]) -> list[Issue]:
    return [issue for issue in issues if issue.is_error]


def render_issues(issues: Iterable[Issue], *, fix_on_new_line: bool = False) -> str:
    """One issue per line (or two with `fix_on_new_line`), by file and document, errors first."""
    ordered = sorted(issues, key=_order)
    return "\n".join(issue.render(fix_on_new_line=fix_on_new_line) for issue in ordered)


_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTE: 2}


def _order(issue: Issue) -> tuple[str, int, int, int]:
    source = issue.source
    return (
        source.path if source else "",
        source.document if source else 0,
        (source.item or 0) if source else 0,
        _SEVERITY_ORDER[issue.severity],
    )
