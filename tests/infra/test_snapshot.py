"""One snapshot of the whole template (asset hashes normalised). UPDATE_SNAPSHOTS=1 rewrites it."""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

from tests.infra.helpers import Synth, normalised

SNAPSHOT = Path(__file__).parent / "snapshots" / "StepsS3Copy.template.json"


def test_template_matches_snapshot(synth: Synth) -> None:
    current = json.dumps(normalised(synth.template), indent=1, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(current)
    expected = SNAPSHOT.read_text()
    if current != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                current.splitlines(keepends=True),
                "snapshot",
                "synthesized",
                n=2,
            )
        )
        raise AssertionError(
            "the template changed; review the diff and rerun with UPDATE_SNAPSHOTS=1 if it is "
            f"intended:\n{diff[:6000]}"
        )
