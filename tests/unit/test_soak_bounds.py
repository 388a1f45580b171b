"""The soak is bounded: it refuses to run longer than 10 minutes (before starting anything)."""

from __future__ import annotations

import pytest

from bench import soak


@pytest.mark.parametrize("argv", [["--minutes", "11"], ["--seconds", "601"], ["--seconds", "0"],
                                  ["--minutes", "-1"]])
def test_soak_refuses_unbounded_durations(argv):
    with pytest.raises(SystemExit, match="at most 10 minutes"):
        soak.main(argv)

