"""Job helpers shared by the tests: quicker retry policies, waiting for a job's outcome."""

from __future__ import annotations

import dataclasses

from app.services.job_kinds import KINDS, RetryPolicy


def quick_retries(monkeypatch, max_retries: int = 2, backoff_base: float = 0.1,
                  backoff_cap: float = 60) -> None:
    """Every kind retries like its policy says, only sooner (and at most ``max_retries``)."""
    policy = RetryPolicy(max_retries, backoff_base, backoff_cap)
    for name, kind in list(KINDS.items()):
        monkeypatch.setitem(KINDS, name, dataclasses.replace(kind, retry=policy))
