"""Where tests find material outside the repository: the product specification's examples."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def spec_examples_dir() -> Path:
    """shared/spec/examples beside the repository (or KRATE_SPEC_DIR, the spec dir or examples).

    CI clones the repository next to a copy of shared/, so the path is relative to the checkout.
    """
    configured = os.environ.get("KRATE_SPEC_DIR")
    base = Path(configured) if configured else REPO_ROOT.parent / "shared" / "spec"
    examples = base / "examples" if (base / "examples").is_dir() else base
    assert examples.is_dir(), f"spec examples not found at {examples}; set KRATE_SPEC_DIR"
    return examples


SPEC_EXAMPLES = spec_examples_dir()
