"""The e2e tooling that builds and serves the upstream web UI (tests/e2e/webui.py)."""

from __future__ import annotations

import http.client
import threading

import pytest
import requests
from flask import Flask, jsonify, redirect, request
from werkzeug.serving import make_server

from tests.e2e import webui


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "litemaas"
    (src / "frontend" / "src").mkdir(parents=True)
    (src / "frontend" / "package.json").write_text('{"name": "frontend"}')
    (src / "frontend" / "src" / "App.tsx").write_text("export default 1;")
    (src / "package-lock.json").write_text("{}")
    return src


def test_tree_hash_follows_sources_not_build_outputs(tree):
    first = webui.tree_hash(tree)
    (tree / "node_modules" / "x").mkdir(parents=True)
    (tree / "node_modules" / "x" / "index.js").write_text("1")
    (tree / "frontend" / "dist").mkdir()
    (tree / "frontend" / "dist" / "index.html").write_text("<html>")
    assert webui.tree_hash(tree) == first
    (tree / "frontend" / "src" / "App.tsx").write_text("export default 2;")
    assert webui.tree_hash(tree) != first


def test_a_built_tree_is_not_built_again(tree, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    dist = cache / webui.tree_hash(tree) / "dist"
    dist.mkdir(parents=True)
    (dist / "index.html").write_text("<html>cached</html>")
    monkeypatch.setattr(webui, "_run", lambda *a: pytest.fail("a cached build ran a command"))
    assert webui.build(tree, cache, quiet=True) == dist


def test_a_changed_tree_is_built_in_a_writable_copy(tree, tmp_path, monkeypatch):
    """The shared sources are read-only: the build runs in a copy, and the result is cached."""
    for path in tree.rglob("*"):
        path.chmod(0o555 if path.is_dir() else 0o444)
    ran = []

    def fake_run(cmd, cwd, log):
        ran.append((cmd[-2:], cwd))
        (cwd / "probe").write_text("writable")
        if cmd[-1] == "build":
            (cwd / "dist").mkdir()
            (cwd / "dist" / "index.html").write_text("<html>built</html>")

    monkeypatch.setattr(webui, "_run", fake_run)
    cache = tmp_path / "cache"
    dist = webui.build(tree, cache, quiet=True)
    assert (dist / "index.html").read_text() == "<html>built</html>"
    assert dist.parent.name == webui.tree_hash(tree)
    assert [cwd.name for _, cwd in ran] == ["work", "work", "frontend"]
    assert not (tree / "probe").exists()


@pytest.fixture
def backend():
    app = Flask("backend")

    @app.route("/api/v1/echo", methods=["GET", "POST"])
    def echo():
        return jsonify({"host": request.host, "method": request.method,
                        "body": request.get_data(as_text=True),
                        "forwardedFor": request.headers.get("X-Forwarded-For"),
                        "auth": request.headers.get("Authorization")})

    @app.get("/api/auth/callback")
    def callback():
        return redirect("http://ui.example/auth/callback#token=abc", code=302)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def ui(tmp_path, backend):
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<html>app</html>")
    (dist / "assets" / "app.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("outside dist")
    server = webui.UIServer(dist, backend).start()
    yield server
    server.stop()


def test_the_ui_server_serves_files_and_the_app_for_client_routes(ui):
    asset = requests.get(f"{ui.url}/assets/app.js", timeout=5)
    assert asset.status_code == 200 and asset.text == "console.log(1)"
    assert "javascript" in asset.headers["Content-Type"]
    for route in ("/", "/models", "/auth/callback"):
        page = requests.get(ui.url + route, timeout=5)
        assert page.status_code == 200 and page.text == "<html>app</html>", route
    conn = http.client.HTTPConnection(ui.server_address[0], ui.server_address[1], timeout=5)
    conn.request("GET", "/../secret.txt")  # sent as is: no client normalises it away
    escape = conn.getresponse().read().decode()
    conn.close()
    assert escape == "<html>app</html>"


def test_the_ui_server_proxies_api_calls_as_the_same_origin(ui):
    answer = requests.post(f"{ui.url}/api/v1/echo", data="payload", timeout=5,
                           headers={"Authorization": "Bearer t0k"})
    body = answer.json()
    assert body["method"] == "POST" and body["body"] == "payload"
    assert body["auth"] == "Bearer t0k"
    assert body["host"] == ui.url.removeprefix("http://")  # the browser's Host, as nginx
    assert body["forwardedFor"] == "127.0.0.1"
    # Redirects reach the browser (the OAuth callback's 302 carries the UI's token).
    callback = requests.get(f"{ui.url}/api/auth/callback", allow_redirects=False, timeout=5)
    assert callback.status_code == 302
    assert callback.headers["Location"] == "http://ui.example/auth/callback#token=abc"


def test_the_ui_server_answers_502_when_the_backend_is_down(tmp_path):
    (tmp_path / "index.html").write_text("x")
    server = webui.UIServer(tmp_path, "http://127.0.0.1:9").start()
    try:
        assert requests.get(f"{server.url}/api/v1/config", timeout=5).status_code == 502
    finally:
        server.stop()
