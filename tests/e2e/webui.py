"""The upstream LiteMaaS web UI, built from source and served in front of this backend.

``python -m tests.e2e.webui build`` builds ``frontend/`` of the upstream tree
(``UPSTREAM_UI_DIR``, default ``../shared/upstream/litemaas`` beside the repository) in a copy
outside the tree, and keeps the built ``dist/`` in a cache keyed by the hash of the source tree:
a second build of the same tree is a directory lookup.

``python -m tests.e2e.webui serve --backend http://127.0.0.1:8080 --port 3000`` serves that
``dist/`` and forwards ``/api/`` to the backend, as the upstream image's nginx does, so the
browser sees one origin.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import http.client
import mimetypes
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
# What the build adds to the upstream recipe: part of the cache key, so changing it rebuilds.
RECIPE = (
    ("npm", "ci", "--workspace=frontend", "--include-workspace-root", "--no-audit", "--no-fund"),
    # UsagePage imports date-fns; only backend/package.json declares it.
    ("npm", "install", "--no-save", "--no-audit", "--no-fund", "date-fns@2.30.0"),
)
SKIPPED = {"node_modules", "dist", ".git"}


class BuildError(RuntimeError):
    """The UI cannot be built (no sources, or a build step failed)."""


def source_dir() -> Path:
    """``UPSTREAM_UI_DIR``, else ``shared/upstream/litemaas`` beside the repository (or beside
    one of its parents: a git worktree lives deeper than the clone it belongs to)."""
    configured = os.environ.get("UPSTREAM_UI_DIR")
    candidates = [Path(configured)] if configured else [
        parent / "shared" / "upstream" / "litemaas" for parent in ROOT.parents]
    for path in candidates:
        if (path / "frontend" / "package.json").is_file():
            return path.resolve()
    raise BuildError(f"upstream LiteMaaS UI not found at {candidates[0]} (set UPSTREAM_UI_DIR)")


def cache_dir() -> Path:
    configured = os.environ.get("UI_BUILD_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "litemaas" / "ui-build"


def _files(src: Path):
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(name for name in dirnames if name not in SKIPPED)
        for name in sorted(filenames):
            yield Path(dirpath, name)


def tree_hash(src: Path) -> str:
    """Hash of every file path and content of the source tree, and of the build recipe."""
    digest = hashlib.sha256(repr(RECIPE).encode())
    for path in _files(src):
        digest.update(str(path.relative_to(src)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:20]


def _copy_tree(src: Path, dest: Path) -> None:
    """Copy the sources (the shared copy is read-only) and make the copy writable."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(*SKIPPED), symlinks=True,
                    dirs_exist_ok=True, copy_function=shutil.copyfile)
    for dirpath, _dirnames, filenames in os.walk(dest):
        os.chmod(dirpath, os.stat(dirpath).st_mode | stat.S_IWUSR | stat.S_IXUSR)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, os.stat(path).st_mode | stat.S_IWUSR)


def _run(cmd: tuple[str, ...], cwd: Path, log) -> None:
    env = dict(os.environ, CI="true", npm_config_update_notifier="false",
               npm_config_yes="true")
    log.write(f"$ {' '.join(cmd)}  (in {cwd})\n")
    log.flush()
    started = time.monotonic()
    result = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, check=False)
    log.write(f"-> exit {result.returncode} in {time.monotonic() - started:.1f}s\n")
    log.flush()
    if result.returncode:
        raise BuildError(f"UI build step failed: {' '.join(cmd)} (see {log.name})")


def build(src: Path | None = None, cache: Path | None = None, quiet: bool = False) -> Path:
    """The built ``dist/`` of the upstream UI: from the cache when the tree is unchanged."""
    src = src or source_dir()
    cache = cache or cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    key = tree_hash(src)
    dist = cache / key / "dist"
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time per cache
        if (dist / "index.html").is_file():
            say(f"web UI: cached build {dist}")
            return dist
        work = cache / "work"
        started = time.monotonic()
        say(f"web UI: building {src} in {work} (log {cache / 'build.log'})")
        if work.exists():
            # node_modules is kept: npm ci replaces it anyway, and the npm cache is warm.
            for child in work.iterdir():
                if child.name != "node_modules":
                    shutil.rmtree(child) if child.is_dir() and not child.is_symlink() \
                        else child.unlink()
        _copy_tree(src, work)
        with open(cache / "build.log", "w") as log:
            for cmd in RECIPE:
                _run(cmd, work, log)
            _run((str(work / "node_modules" / ".bin" / "vite"), "build"), work / "frontend",
                 log)
        built = work / "frontend" / "dist"
        if not (built / "index.html").is_file():
            raise BuildError(f"UI build produced no index.html (see {cache / 'build.log'})")
        staging = cache / f"{key}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        shutil.move(str(built), staging / "dist")
        staging.rename(cache / key)
        for old in cache.iterdir():  # keep only the current build
            if old.is_dir() and old.name not in {key, "work"}:
                shutil.rmtree(old, ignore_errors=True)
        say(f"web UI: built in {time.monotonic() - started:.0f}s -> {dist}")
        return dist


# -- serving -------------------------------------------------------------------------------

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: UIServer

    def log_message(self, format, *args):
        if self.server.access_log is not None:
            self.server.access_log.write(f"{self.address_string()} {format % args}\n")
            self.server.access_log.flush()

    def _any(self):
        if self.path.startswith("/api/"):
            self._proxy()
        elif self.command in {"GET", "HEAD"}:
            self._static()
        else:
            self._send(405, b"method not allowed", "text/plain")

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _any

    def _send(self, status: int, body: bytes, content_type: str, headers=()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _static(self) -> None:
        """A file of dist/, or index.html for the UI's client-side routes."""
        root = self.server.dist
        relative = urlsplit(self.path).path.lstrip("/")
        path = (root / relative).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            path = root / "index.html"
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        cache = "no-cache" if path.name == "index.html" else "public, max-age=3600"
        self._send(200, path.read_bytes(), content_type, [("Cache-Control", cache)])

    def _proxy(self) -> None:
        """Forward to the backend as nginx does: same Host, X-Forwarded-*, no redirects
        followed (the OAuth callback's 302 must reach the browser)."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {name: value for name, value in self.headers.items()
                   if name.lower() not in HOP_BY_HOP}
        headers["X-Forwarded-For"] = self.client_address[0]
        headers["X-Forwarded-Proto"] = "http"
        headers["X-Forwarded-Host"] = self.headers.get("Host", "")
        target = self.server.backend
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            answer = conn.getresponse()
            payload = answer.read()
        except OSError as exc:
            self._send(502, f"backend unreachable: {exc}".encode(), "text/plain")
            return
        finally:
            conn.close()
        self.send_response(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


class UIServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, dist: Path, backend_url: str, port: int = 0, host: str = "127.0.0.1",
                 access_log=None):
        self.dist = Path(dist).resolve()
        self.backend = urlsplit(backend_url)
        self.access_log = access_log
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> UIServer:
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1},
                         name="webui", daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.webui", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build (or find in the cache) the UI; prints its dist/")
    serve = commands.add_parser("serve", help="serve the built UI with its /api proxy")
    serve.add_argument("--backend", default="http://127.0.0.1:8080")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    try:
        dist = build()
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.command == "build":
        print(dist)
        return 0
    server = UIServer(dist, args.backend, args.port, args.host, access_log=sys.stderr)
    print(f"web UI on {server.url} (API from {args.backend})", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
