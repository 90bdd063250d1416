"""RepositorySyncWorkflow: one repository of an owner-wide binding (`sync/{org}/{binding}/{id}`).

The binding's own BindingSyncWorkflow lists the owner's repositories and starts one of these
per repository; it is a BindingSyncWorkflow scoped to that repository (its cursors, rate-limit
pauses, continue-as-new), under a name of its own so the Web UI tells the two apart. It gets no
deliveries (the binding's workflow processes them), writes its scopes' ExternalSyncState rows
but not the binding's status, reports its first completed pass, and completes when told to
`retire` because its repository left the owner's set (its rows stay).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.binding_sync import BindingSyncInput, BindingSyncWorkflow
    from workflows.owner_repositories import REPOSITORY_SYNC_WORKFLOW


@workflow.defn(name=REPOSITORY_SYNC_WORKFLOW)
class RepositorySyncWorkflow(BindingSyncWorkflow):
    @workflow.run
    async def run(self, input: BindingSyncInput) -> None:
        await super().run(input)
