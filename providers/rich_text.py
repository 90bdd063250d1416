"""Bodies in one shape for every provider: `{markdown, sourceFormat, sourceDigest, renderWarnings}`.

Providers write bodies in different formats (Markdown on the forges, Atlassian Document Format
on Jira Cloud, HTML on some older trackers). Krate keeps the Markdown it shows, the format the
provider used, a digest of the provider's own source (so a later read tells whether the source
changed even when the Markdown renders the same), and what a conversion could not carry over.

An adapter with a converter builds `RichText` itself; `rich_text` covers the rest: Markdown is
kept as it is, and any other format is kept verbatim with a warning saying it was not converted,
never silently passed off as Markdown.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

MARKDOWN = "markdown"


class RichText(BaseModel):
    """A body as Krate stores it (external-object-mapping.md, "Rich text conversion")."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    markdown: str
    source_format: str = MARKDOWN
    source_digest: str
    render_warnings: list[str] = Field(default_factory=list)


def source_digest(source: str) -> str:
    """`sha256:<hex>` of the provider's source text (UTF-8)."""
    return "sha256:" + hashlib.sha256(source.encode("utf-8")).hexdigest()


def rich_text(source: str | None, source_format: str = MARKDOWN) -> RichText | None:
    """The stored shape of a body given in `source_format`; None for no body."""
    if source is None:
        return None
    warnings: list[str] = []
    if source_format != MARKDOWN:
        warnings.append(f"{source_format} is kept as the provider wrote it: no Markdown converter")
    return RichText(
        markdown=source,
        source_format=source_format,
        source_digest=source_digest(source),
        render_warnings=warnings,
    )
