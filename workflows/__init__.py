"""Deterministic orchestration: every workflow the worker registers."""

from __future__ import annotations

from workflows.binding_sync import BindingSyncWorkflow
from workflows.full_resync import FullResyncWorkflow

WORKFLOWS: list[type] = [BindingSyncWorkflow, FullResyncWorkflow]
