"""Thin activities: an input model in, a provider adapter or the store called, a small result out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from settings import Settings


def build_activities(settings: Settings) -> list[Callable[..., Any]]:
    """Every activity the worker registers, bound to dependencies built once from `settings`."""
    return []
