"""Deterministic orchestration: every workflow the worker registers."""

from __future__ import annotations

from workflows.binding_sync import BindingSyncWorkflow
from workflows.conflict import ConflictWorkflow
from workflows.full_resync import FullResyncWorkflow
from workflows.repository_sync import RepositorySyncWorkflow
from workflows.write_intent import WriteIntentWorkflow

WORKFLOWS: list[type] = [
    BindingSyncWorkflow,
    RepositorySyncWorkflow,
    FullResyncWorkflow,
    ConflictWorkflow,
    WriteIntentWorkflow,
]
