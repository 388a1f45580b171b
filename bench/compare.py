"""`make bench-compare`: this backend side by side with the original LiteMaaS (Node/Fastify).

Builds the original's backend from ``../shared/upstream/litemaas`` (``UPSTREAM_DIR``) once, in a
copy outside the tree (``~/.cache/litemaas/upstream-backend/<hash of the sources>``: ``npm ci``,
``tsc``), then starts ``node dist/index.js`` (``NODE_ENV=production``, its own database) next to
this backend's Procfile web process (``python -m config.web``, ``APP_ENV=production``), both
reading the same 1,000 models from one LiteLLM simulator (each syncs them itself). Rate limits
are on in both, raised so that they never refuse.

For each path, ``BENCH_COMPARE_ROUNDS`` alternating rounds (default 3; which backend goes
first alternates) of wrk (2 threads x 32 connections, ``BENCH_COMPARE_SECONDS`` each, default
8); the median of the rounds is compared. The machine's load is recorded before every run;
if it was busy the comparison is printed but not written (exit 3). Web RSS (the whole process
tree) is read after the runs. Writes bench/compare.json and prints the table README shows.

Knobs: BENCH_COMPARE_SECONDS, BENCH_COMPARE_ROUNDS, UPSTREAM_DIR, UPSTREAM_BUILD_CACHE,
BENCH_MIN_IDLE_PCT / BENCH_IDLE_WAIT (bench.wrk).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

from bench import wrk
from bench.harness import (
    BENCH_DATA,
    ROOT,
    ManagedProcess,
    free_port,
    resolve_services,
    scratch_database,
    wait_for_http,
)

SECONDS = float(os.environ.get("BENCH_COMPARE_SECONDS", "8"))
ROUNDS = int(os.environ.get("BENCH_COMPARE_ROUNDS", "3"))
CONNECTIONS = 32
MODELS = 1_000
UNREFUSED = "1000000"
RESULTS = Path(__file__).with_name("compare.json")
BUSY_RESULTS = Path(__file__).with_name("compare.busy.json")
PATHS = {
    "models_cached": ("GET /models?limit=50, cached", "/api/v1/models?limit=50"),
    "models_uncached": ("GET /models, a different query each request", None),
    "health": ("/health (the bare request stack)", "/api/v1/health"),
}
_BEGAN = time.monotonic()


def note(message: str) -> None:
    print(f"[compare {time.monotonic() - _BEGAN:6.1f}s] {message}", file=sys.stderr, flush=True)


# -- building the original -----------------------------------------------------------------------


def upstream_dir() -> Path:
    configured = os.environ.get("UPSTREAM_DIR")
    candidates = [Path(configured)] if configured else [
        parent / "shared" / "upstream" / "litemaas" for parent in ROOT.parents]
    for path in candidates:
        if (path / "backend" / "package.json").is_file():
            return path.resolve()
    raise RuntimeError(f"the original LiteMaaS is not at {candidates[0]} (set UPSTREAM_DIR)")


_COPIED = ("package.json", "package-lock.json", "tsconfig.base.json", "backend/package.json",
           "backend/tsconfig.json", "backend/src", "frontend/package.json")


def _sources(src: Path):
    for name in _COPIED:
        path = src / name
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path


def build_upstream() -> Path:
    """The original's backend, built (``npm ci``, ``tsc``); cached by the hash of its sources."""
    src = upstream_dir()
    digest = hashlib.sha256()
    for path in _sources(src):
        digest.update(str(path.relative_to(src)).encode())
        digest.update(path.read_bytes())
    cache = Path(os.environ.get("UPSTREAM_BUILD_CACHE",
                                Path.home() / ".cache" / "litemaas" / "upstream-backend"))
    target = cache / digest.hexdigest()[:16]
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".built").exists():
            _allow_plain_postgres(target / "backend")
            return target / "backend"
        note(f"building the original backend in {target} (npm ci, tsc; once)")
        shutil.rmtree(target, ignore_errors=True)
        for path in _sources(src):
            dest = target / path.relative_to(src)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
        env = dict(os.environ, CI="true", npm_config_update_notifier="false")
        log = target / "build.log"
        for cmd in (["npm", "ci", "--workspace=backend", "--include-workspace-root",
                     "--no-audit", "--no-fund"], ["npm", "run", "build", "--workspace=backend"]):
            with open(log, "a") as out:
                done = subprocess.run(cmd, cwd=target, env=env, stdout=out,
                                      stderr=subprocess.STDOUT, timeout=1800, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed; see {log}:\n"
                                   f"{log.read_text()[-3000:]}")
        (target / ".built").touch()
    _allow_plain_postgres(target / "backend")
    return target / "backend"


# The original forces TLS to PostgreSQL when NODE_ENV=production; the local server here has
# none. With PGSSLMODE=disable (set below) these two expressions answer "no TLS" — the only
# change to the original, and one that can only make it faster.
_TLS_PATCHES = {
    "dist/plugins/database.js": (
        "ssl: fastify.config.NODE_ENV === 'production' ? { rejectUnauthorized: false } : false",
        "ssl: process.env.PGSSLMODE !== 'disable' && fastify.config.NODE_ENV === 'production'"
        " ? { rejectUnauthorized: false } : false"),
    "dist/config/database.js": (
        "ssl: process.env.NODE_ENV === 'production',",
        "ssl: process.env.PGSSLMODE !== 'disable' && process.env.NODE_ENV === 'production',"),
}


def _allow_plain_postgres(backend: Path) -> None:
    for name, (old, new) in _TLS_PATCHES.items():
        path = backend / name
        text = path.read_text()
        if new not in text:
            if old not in text:
                raise RuntimeError(f"{path}: the PostgreSQL TLS setting was not found")
            path.write_text(text.replace(old, new))


# -- the two backends ----------------------------------------------------------------------------


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def ours(database_url: str, redis_url: str, sim, port: int) -> ManagedProcess:
    """This backend's Procfile web process, production settings, its catalogue synced."""
    from app import create_app
    from app.db_migrate import upgrade_with_lock
    from app.services.model_sync import ModelSyncService
    from config.settings import load_settings

    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "APP_ENV": "production", "LOG_LEVEL": "INFO",
        "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": f"compare-{uuid.uuid4().hex[:8]}:",
        "JWT_SECRET": secrets.token_urlsafe(48), "TRANSIT_ENCRYPTION_KEY": _fernet_key(),
        "OAUTH_CLIENT_ID": "bench", "OAUTH_CLIENT_SECRET": "bench",
        "OAUTH_ISSUER_URL": "http://127.0.0.1:9", "OAUTH_PROVIDER": "oidc",
        "OAUTH_CALLBACK_URL": f"http://127.0.0.1:{port}/api/auth/callback",
        "LITELLM_API_URL": sim.url, "LITELLM_API_KEY": sim.master_key,
        "MODEL_SYNC_ON_START": "false", "MODEL_SYNC_INTERVAL": "0",
        "RATE_LIMIT_ANONYMOUS": UNREFUSED, "RATE_LIMIT_MAX": UNREFUSED,
        "PORT": str(port), "WEB_BIND": "127.0.0.1",
        "PROMETHEUS_MULTIPROC_DIR": str(BENCH_DATA / "prometheus-compare"),
    }
    app = create_app(load_settings({**env, "LOG_LEVEL": "WARNING"}))
    upgrade_with_lock(app)
    with app.app_context():
        ModelSyncService().sync("bench")
        from app.extensions import db

        db.session.remove()
        db.engine.dispose()
    proc = ManagedProcess.start("ours", [sys.executable, "-m", "config.web"], env)
    wait_for_http(f"http://127.0.0.1:{port}/api/v1/health", proc, timeout=90)
    return proc


def original(backend: Path, database_url: str, sim, port: int) -> ManagedProcess:
    """``node dist/index.js`` (NODE_ENV=production); it syncs the simulator's models at start."""
    env = {
        "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
        "NODE_ENV": "production", "HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "warn",
        "DATABASE_URL": database_url, "JWT_SECRET": secrets.token_urlsafe(48),
        "OAUTH_CLIENT_ID": "bench", "OAUTH_CLIENT_SECRET": "bench",
        "OAUTH_ISSUER": "http://127.0.0.1:9", "AUTH_PROVIDER": "oidc",
        "OAUTH_CALLBACK_URL": f"http://127.0.0.1:{port}/api/auth/callback",
        "CORS_ORIGIN": f"http://127.0.0.1:{port}",
        "LITELLM_API_URL": sim.url, "LITELLM_API_KEY": sim.master_key,
        "LITELLM_MASTER_KEY": sim.master_key,
        "RATE_LIMIT_MAX": UNREFUSED, "RATE_LIMIT_TIME_WINDOW": "1m",
        "PGSSLMODE": "disable",  # see _TLS_PATCHES
    }
    proc = ManagedProcess.start("original", ["node", "dist/index.js"], env, cwd=backend)
    wait_for_http(f"http://127.0.0.1:{port}/api/v1/health", proc, timeout=120)
    deadline = time.monotonic() + 120
    while True:  # its start-up sync runs in the background
        answer = requests.get(f"http://127.0.0.1:{port}/api/v1/models?limit=1", timeout=10)
        total = (answer.json().get("pagination") or {}).get("total") if answer.ok else None
        if total == MODELS:
            return proc
        if time.monotonic() > deadline or not proc.alive():
            raise RuntimeError(f"the original has {total} models, not {MODELS}:\n{proc.tail()}")
        time.sleep(1)


def tree_rss_mb(pid: int) -> float:
    import psutil

    root = psutil.Process(pid)
    return round(sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
                 / 2**20, 1)


# -- the comparison ------------------------------------------------------------------------------


def measure(base: str, key: str) -> dict:
    from bench.__main__ import uncached_paths

    path = PATHS[key][1]
    if path is None:
        run = wrk.run(base + "/api/v1/models", seconds=SECONDS, connections=CONNECTIONS,
                      paths=uncached_paths())
    else:
        run = wrk.run(base + path, seconds=SECONDS, connections=CONNECTIONS)
    if run["requests"] == 0:  # nothing answered within the run: no latency to report
        run["latency_ms"] = {"p50": None, "p99": None}
    return {"rps": run["rps"], "p99_ms": run["latency_ms"].get("p99"),
            "p50_ms": run["latency_ms"].get("p50"), "non_2xx": run["non_2xx"],
            "errors": run["errors"], "load_before": run["load_before"]}


def compare(bases: dict[str, str]) -> dict:
    runs: dict[str, dict[str, list]] = {key: {"original": [], "ours": []} for key in PATHS}
    for round_number in range(ROUNDS):
        order = ["original", "ours"] if round_number % 2 == 0 else ["ours", "original"]
        for key in PATHS:
            for name in order:
                note(f"round {round_number + 1}/{ROUNDS}: {name} {PATHS[key][0]}")
                runs[key][name].append(measure(bases[name], key))
    table = {}
    for key, by_backend in runs.items():
        row = {"path": PATHS[key][0]}
        for name, samples in by_backend.items():
            p99s = [s["p99_ms"] for s in samples if s["p99_ms"] is not None]
            row[name] = {"rps": round(statistics.median(s["rps"] for s in samples), 1),
                         "p99_ms": round(statistics.median(p99s), 1) if p99s else None,
                         "non_2xx": sum(s["non_2xx"] for s in samples),
                         "errors": sum(s["errors"] for s in samples)}
        row["ratio_rps"] = round(row["ours"]["rps"] / max(row["original"]["rps"], 0.001), 2)
        table[key] = row
    return {"table": table, "runs": runs}


def _cell(figures: dict) -> str:
    p99 = figures["p99_ms"]
    latency = f"p99 {p99:,.1f} ms" if p99 is not None else f"no answer within {SECONDS:g} s"
    return f"{figures['rps']:,.1f} req/s, {latency}"


def render(result: dict) -> str:
    lines = ["| path | LiteMaaS (Node) | this backend | ratio |", "|---|---|---|---|"]
    for row in result["table"].values():
        original, ours_ = row["original"], row["ours"]
        lines.append(f"| {row['path']} | {_cell(original)} | {_cell(ours_)} | "
                     f"{row['ratio_rps']}x |")
    rss = result["rss_mb"]
    lines.append(f"| web RSS after the runs | {rss['original']:,.0f} MiB | {rss['ours']:,.0f} MiB "
                 f"| {rss['ours'] / max(rss['original'], 1):.2f}x |")
    return "\n".join(lines)


def run() -> dict:
    from litellm_sim.server import start_in_thread

    backend = build_upstream()
    services = resolve_services()
    sim = start_in_thread(port=0, models=MODELS)
    procs = []
    try:
        with scratch_database(services.base_database_url) as ours_db, \
                scratch_database(services.base_database_url) as node_db:
            ports = {"original": free_port(), "ours": free_port()}
            note("starting the original (node dist/index.js) and this backend (config.web)")
            procs.append(original(backend, node_db, sim, ports["original"]))
            procs.append(ours(ours_db, services.redis_url, sim, ports["ours"]))
            bases = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
            result = compare(bases)
            result["rss_mb"] = {"original": tree_rss_mb(procs[0].pid),
                                "ours": tree_rss_mb(procs[1].pid)}
            for proc in procs:
                proc.stop()
            procs = []
    finally:
        for proc in procs:
            proc.stop()
        sim.stop()
    loads = [sample["load_before"] for by_backend in result["runs"].values()
             for samples in by_backend.values() for sample in samples]
    result.update({
        "settings": {"seconds": SECONDS, "rounds": ROUNDS, "connections": CONNECTIONS,
                     "wrk_threads": wrk.THREADS, "models": MODELS,
                     "original": "LiteMaaS backend, node dist/index.js, NODE_ENV=production "
                                 "(PostgreSQL without TLS: bench.compare._TLS_PATCHES)",
                     "ours": "python -m config.web (granian), APP_ENV=production"},
        "busy": [load for load in loads if load and load.get("busy")],
        "load_average_1m_min_max": [min(x["load_average_1m"] for x in loads),
                                    max(x["load_average_1m"] for x in loads)],
        "cores": os.cpu_count(),
        "bench_seconds": round(time.monotonic() - _BEGAN, 1),
    })
    return result


def main() -> int:
    os.chdir(ROOT)
    result = run()
    table = render(result)
    result["markdown"] = table
    text = json.dumps(result, indent=2, default=str) + "\n"
    print(table)
    print(f"\nload average before the runs: {result['load_average_1m_min_max'][0]} to "
          f"{result['load_average_1m_min_max'][1]} on {result['cores']} cores")
    if result["busy"]:
        BUSY_RESULTS.write_text(text)
        print(f"\nbench-compare: REFUSED to write {RESULTS.name}: the machine was busy before "
              f"{len(result['busy'])} runs (less than {wrk.MIN_IDLE_PCT:g} % idle CPU). "
              f"Figures kept in {BUSY_RESULTS} for reference; retry on an idle machine.",
              file=sys.stderr)
        return 3
    RESULTS.write_text(text)
    note(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
