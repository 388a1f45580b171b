"""The ``budget_duration`` vocabulary: one definition for keys, users and teams.

What LiteLLM 1.108.7 accepts (``_is_persistable_budget_duration``): a positive count of
seconds, minutes, hours, days or weeks (``30s``, ``10m``, ``24h``, ``7d``, ``2w``), exactly one
month (``1mo``; ``2mo`` and ``12mo`` answer 400) and the words ``hourly``, ``daily``, ``weekly``,
``monthly``. It resets on calendar boundaries: ``daily``/``1d``/``24h`` at midnight UTC,
``weekly``/``7d``/``1w`` on Monday, ``monthly``/``30d``/``1mo`` on the 1st. The upstream UI also
offers ``yearly``, which LiteLLM does not know: it is sent as ``365d``.
"""

from __future__ import annotations

BUDGET_DURATION_PATTERN = (r"^([1-9][0-9]{0,5}(s|m|h|d|w)|1mo|hourly|daily|weekly|monthly"
                           r"|yearly)$")
BUDGET_DURATION_HELP = ("A budget duration: 30s, 10m, 24h, 7d, 2w, 1mo, hourly, daily, weekly, "
                        "monthly or yearly")
_FOR_LITELLM = {"yearly": "365d"}


def litellm_duration(duration: str | None) -> str | None:
    """A budget duration as LiteLLM takes it (``yearly`` → ``365d``; None stays None)."""
    return _FOR_LITELLM.get(duration, duration) if duration else duration
