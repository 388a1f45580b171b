"""pg_dump, pg_restore and psql matched to the server they work on.

pg_dump refuses a server newer than itself, and an archive is best restored by the same major
version, so the tools are chosen by the server's major version: the one equal to it, else the
oldest newer one. Candidates, in order: ``BACKUP_PG_BIN_DIR``, the binaries bundled with
pgserver (what ``make run``'s embedded PostgreSQL runs: its own pg_dump of the same version),
``/usr/lib/postgresql/*/bin`` and ``PATH``.

Connections go through libpq's environment (PGHOST, PGPASSWORD, ...), never the command line,
so no password shows in a process list.
"""

from __future__ import annotations

import functools
import glob
import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from sqlalchemy.engine import make_url

from config.settings import sqlalchemy_url


class ToolsMissing(RuntimeError):
    """No pg_dump/pg_restore able to work with this server."""


@dataclass(frozen=True)
class PgTools:
    bin_dir: Path
    major: int

    @property
    def pg_dump(self) -> str:
        return str(self.bin_dir / "pg_dump")

    @property
    def pg_restore(self) -> str:
        return str(self.bin_dir / "pg_restore")

    @property
    def psql(self) -> str:
        return str(self.bin_dir / "psql")


def libpq_env(url: str, database: str | None = None) -> dict[str, str]:
    """The environment that points libpq (pg_dump, pg_restore) at ``url``."""
    parsed = make_url(sqlalchemy_url(url))
    env = {"PGHOST": parsed.host or "", "PGPORT": str(parsed.port or 5432),
           "PGUSER": parsed.username or "", "PGDATABASE": database or parsed.database or "",
           "PGCONNECT_TIMEOUT": "10", "PGAPPNAME": "litemaas-backup"}
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    for key, value in parsed.query.items():
        if key in ("sslmode", "sslrootcert", "sslcert", "sslkey", "host"):
            env["PGHOST" if key == "host" else f"PG{key.upper()}"] = str(value)
    return {k: v for k, v in env.items() if v}


def connect(url: str, database: str | None = None):
    """A psycopg2 connection to ``url`` (or another database on the same server)."""
    parsed = make_url(sqlalchemy_url(url))
    if database:
        parsed = parsed.set(database=database)
    return psycopg2.connect(host=parsed.host, port=parsed.port or 5432, user=parsed.username,
                            password=parsed.password, dbname=parsed.database,
                            connect_timeout=10, application_name="litemaas-backup",
                            **{k: v for k, v in parsed.query.items() if k == "sslmode"})


def server_major(url: str) -> int:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("SHOW server_version_num")
        version = int(cur.fetchone()[0])
    conn.close()
    return version // 10000


def _candidate_dirs(configured: str) -> list[Path]:
    dirs = [Path(configured)] if configured else []
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.origin:
        dirs.append(Path(spec.origin).parent / "pginstall" / "bin")
    dirs += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"))]
    found = shutil.which("pg_dump")
    if found:
        dirs.append(Path(found).resolve().parent)
    return dirs


@functools.cache
def _version(binary: str) -> int | None:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10,
                             check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(match.group(1)) if match else None


def available(configured: str = "") -> list[PgTools]:
    """Every directory holding the three tools, with their major version."""
    tools, seen = [], set()
    for directory in _candidate_dirs(configured):
        if directory in seen:
            continue
        seen.add(directory)
        dump, restore = directory / "pg_dump", directory / "pg_restore"
        if not all(os.access(directory / tool, os.X_OK) for tool in
                   ("pg_dump", "pg_restore", "psql")):
            continue
        major = _version(str(dump))
        if major is not None and _version(str(restore)) == major:
            tools.append(PgTools(directory, major))
    return tools


def for_server(major: int, configured: str = "") -> PgTools:
    """The tools for a server of this major version (equal, else the oldest newer one)."""
    found = available(configured)
    exact = [t for t in found if t.major == major]
    if exact:
        return exact[0]
    newer = sorted((t for t in found if t.major > major), key=lambda t: t.major)
    if newer:
        return newer[0]
    raise ToolsMissing(
        f"No pg_dump/pg_restore for PostgreSQL {major} (found: "
        f"{', '.join(f'{t.major} in {t.bin_dir}' for t in found) or 'none'}); install the "
        f"client of version {major} or set BACKUP_PG_BIN_DIR")
