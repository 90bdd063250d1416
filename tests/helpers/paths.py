"""Where tests find the product's example manifests: `examples/` at the top of the repository."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_EXAMPLES = REPO_ROOT / "examples"


def spec_examples_dir() -> Path:
    """The example manifests users are pointed at, also used as valid input by the tests."""
    return SPEC_EXAMPLES
