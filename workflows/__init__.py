"""Deterministic orchestration: every workflow the worker registers."""

from __future__ import annotations

from workflows.binding_sync import BindingSyncWorkflow

WORKFLOWS: list[type] = [BindingSyncWorkflow]
