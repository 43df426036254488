"""Tiny Lambda handlers for test_moto_patches.py (named by an image function's CMD)."""

from __future__ import annotations

import os
from typing import Any


class BoomError(Exception):
    """Raised on purpose: its class name must become the state's error name."""


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"echo": event, "var": os.environ.get("PATCH_TEST_VAR"), "fn": context.function_name}


def boom(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise BoomError(f"failed on purpose for {context.function_name}")
