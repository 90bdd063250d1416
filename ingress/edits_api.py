"""Local edits of synced issues and pull requests over HTTP (bidirectional interfaces).

| Route | Role |
| --- | --- |
| `PATCH bindings/{binding}/projections/{issues,pullrequests}/{owner}/{repo}/{number}` `{"title"?, "body"?, "state"?, "labels"?, "assignees"?, "base"?}` | operator, admin |

The edit is recorded on the projection and a write intent (source LocalEdit, actor
`api:<token>`) carries it to the provider (`starter/edits.py`). Answers 200 with the pending
fields and the intent's name; 400 for a field that is not written back or a binding that does
not write to the provider (nothing recorded), 404 for an object that is not synced, 409 while an
earlier write of the same object is on its way. Temporal down: the edit and its intent are
stored (`workflowStarted: false`) and the worker starts the intent when it starts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from temporalio.client import Client

from ingress.api import PROJECTION_PATHS
from ingress.auth import ApiToken, Permission
from ingress.guard import guarded, problem
from ingress.runtime import Runtime
from settings import Settings
from starter.edits import (
    UPDATE_OF,
    EditBlocked,
    EditNotFound,
    EditRefused,
    EditTarget,
    submit_edit,
)

log = logging.getLogger("krate_sync.ingress.edits")

PATH = "/api/v1/orgs/{org}/bindings/{binding}/projections/{kind}/{owner}/{repo}/{number:int}"


async def edit_endpoint(request: Request, rt: Runtime, token: ApiToken, org: str) -> Response:
    params = request.path_params
    kind = PROJECTION_PATHS.get(params["kind"])
    if kind not in UPDATE_OF:
        return problem(404, "only issues and pullrequests are edited in Krate")
    try:
        changes = await request.json()
    except ValueError:
        changes = None
    if not isinstance(changes, dict) or not changes:
        return problem(400, 'give the fields to change as a JSON object, e.g. {"title": "..."}')
    target = EditTarget(
        org=org,
        kind=kind,
        repository=f"{params['owner']}/{params['repo']}",
        number=params["number"],
        binding=params["binding"],
    )
    client: Client | None = None
    down: str | None = None
    try:
        client = await rt.signaler.client()
    except RuntimeError as error:  # stored anyway; the worker starts the intent later
        down = f"Temporal unavailable: {error}"
    try:
        outcome = await submit_edit(
            rt.engine, client, rt.settings.task_queue, target, changes, actor=token.actor
        )
    except EditNotFound as error:
        return problem(404, str(error))
    except EditBlocked as error:
        return problem(409, str(error))
    except EditRefused as error:
        return problem(400, str(error))
    not_started = down or outcome.start_error
    intent = outcome.intent
    return JSONResponse(
        {
            "localGeneration": outcome.local_generation,
            "pending": outcome.pending,
            "writeIntent": intent.name if intent else None,
            "approvalRequired": intent.input.approval_required if intent else None,
            "workflowStarted": intent is not None and not_started is None,
            **({"message": not_started} if intent is not None and not_started else {}),
        }
    )


def routes(settings: Settings) -> Sequence[BaseRoute]:
    return [
        Route(
            PATH,
            guarded(
                log=log,
                permission=Permission.ACT,
                action="edit synced objects",
                handler=edit_endpoint,
            ),
            methods=["PATCH"],
        )
    ]
