"""Find processes a test left behind: the ones working in (or naming) a directory."""

from __future__ import annotations

import contextlib
from pathlib import Path

import psutil


def processes_under(folder: Path) -> list[str]:
    """Live processes of this user whose working directory or command line is under
    ``folder`` (an embedded redis-server and postgres work in their data directory)."""
    folder = str(folder.resolve())
    found = []
    for proc in psutil.process_iter(["pid", "name", "cmdline", "cwd", "status"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cwd = proc.info["cwd"] or ""
            cmdline = " ".join(proc.info["cmdline"] or ())
            if cwd.startswith(folder) or folder in cmdline:
                found.append(f"{proc.info['pid']} {proc.info['name']} {cmdline[:120]}")
    return found
