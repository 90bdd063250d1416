"""Replay of a stored WriteIntentWorkflow history (agent intent, self-approval refused,
approved, comment written and confirmed): a change that breaks running intents fails here.

Refresh it with `KRATE_RECORD_HISTORIES=1 pytest tests/test_write_intent_flow.py -k cli_approval`
only when the change is meant to be incompatible (and running intents are drained first).
"""

from __future__ import annotations

from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.write_intent import WriteIntentWorkflow

HISTORY = Path(__file__).parent / "histories" / "write_intent_approved.json"


async def replay_write_intent(history: WorkflowHistory) -> None:
    replayer = Replayer(workflows=[WriteIntentWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


async def test_stored_write_intent_history_replays() -> None:
    history = WorkflowHistory.from_json("write/acme/recorded", HISTORY.read_text())
    await replay_write_intent(history)
