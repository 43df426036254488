"""How far a run has got: one type for ``s3copy watch`` (which adds it up from the
Distributed Map's counters and the batches' results files) and for the local runner
(which counts batches as they end)."""

from __future__ import annotations

from dataclasses import dataclass

from steps_s3_copy.models import ObjectResult, Status


@dataclass
class Progress:
    """How far a run has got.

    ``s3copy watch`` puts it together from parts that add up (``+=``): the objects from
    the batches' results, the batches from the Distributed Map's counters, the totals
    from Prepare's result. The local runner counts each batch as it ends.
    """

    objects_done: int = 0
    objects_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    failed: int = 0
    batches_done: int = 0
    batches_total: int = 0
    batches_failed: int = 0

    def add(self, result: ObjectResult) -> None:
        """Count one object's result (``results/*.jsonl``) as done."""
        self.objects_done += 1
        self.bytes_done += result.bytes
        if result.status is Status.FAILED:
            self.failed += 1

    def __iadd__(self, other: Progress) -> Progress:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self
