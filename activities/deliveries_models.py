"""What the webhook delivery activity takes and returns, and how it is called.

Kept apart from activities/deliveries.py so the binding workflow can import them without
pulling in the database layer. Deliveries cross the Temporal boundary as ids only: payloads
stay in Postgres (they may hold anything the provider sent).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio.common import RetryPolicy

PROCESS_DELIVERIES_ACTIVITY = "process_deliveries"

# How many deliveries one activity handles: big enough to amortise a Temporal round trip (and
# the activity's transaction) under a burst, small enough that a batch finishes well inside its
# timeout (a few milliseconds of CPU per delivery).
DELIVERY_BATCH_SIZE = 200
# Processing attempts (counted on the delivery row) before a delivery is DeadLettered.
MAX_DELIVERY_ATTEMPTS = 5
# A batch is one transaction (or, after a rollback, one per delivery); two minutes is generous.
PROCESS_DELIVERIES_TIMEOUT = timedelta(minutes=2)
# Retries cover the whole batch failing (database unreachable): deliveries already finished
# are skipped on the retry, so retrying is safe. Per-delivery failures are counted on the row
# and retried by the workflow instead (see BindingSyncWorkflow), so they do not appear here.
PROCESS_DELIVERIES_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=20,
)
# Delay before the workflow re-queues a delivery that failed; multiplied by its attempts.
DELIVERY_RETRY_DELAY = timedelta(seconds=2)


class NewDeliveryInput(BaseModel):
    """The `new_delivery` signal: only the provider's delivery id (unique per org+provider)."""

    delivery_id: str


class NewDeliveriesInput(BaseModel):
    """The `new_deliveries` signal: the ids the ingress stored for one binding in one window
    (ids only, as for `new_delivery`)."""

    delivery_ids: list[str]


class ProcessDeliveriesInput(BaseModel):
    org: str
    namespace: str
    provider: str
    provider_type: str
    binding: str
    delivery_ids: list[str]
    max_attempts: int = MAX_DELIVERY_ATTEMPTS


class ProcessDeliveriesResult(BaseModel):
    """Counts, and the ids the workflow should try again later (phase `Failed`)."""

    processed: int = 0
    ignored: int = 0
    dead_lettered: int = 0
    skipped: int = Field(default=0, description="Already finished or unknown: nothing done.")
    events: int = 0
    retry: list[str] = Field(default_factory=list)
    retry_attempts: int = Field(default=0, description="Highest attempts among `retry`.")
    refresh_wanted: int = Field(
        default=0,
        description="Rows of the binding waiting for a fresh read (same-version ties).",
    )
