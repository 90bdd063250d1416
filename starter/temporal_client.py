"""Connecting the command line to Temporal, with a clear error (exit code 3) when it is down."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from settings import Settings
from starter.connection import read_stack_file
from starter.errors import ServiceUnreachable


def temporal_address(settings: Settings) -> str:
    """KRATE_TEMPORAL_ADDRESS when set in the environment, else a running dev stack's, else the default."""
    if "temporal_address" in settings.model_fields_set:
        return settings.temporal_address
    recorded = read_stack_file(settings).get("temporal_address")
    return recorded if isinstance(recorded, str) and recorded else settings.temporal_address


async def connect(settings: Settings) -> Client:
    address = temporal_address(settings)
    try:
        return await Client.connect(
            address,
            namespace=settings.temporal_namespace,
            data_converter=pydantic_data_converter,
        )
    except RuntimeError as error:  # the SDK raises RuntimeError for connection failures
        raise ServiceUnreachable(
            f"cannot reach Temporal at {address} (namespace {settings.temporal_namespace}): "
            f"{error}\nhint: is the server up? `krate-sync dev` starts one; "
            "KRATE_TEMPORAL_ADDRESS points elsewhere"
        ) from error
