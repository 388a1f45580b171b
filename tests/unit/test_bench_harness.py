"""The benchmark's statistics and load-generator plumbing (no servers needed)."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.harness import latency_summary, median, median_of, percentile
from bench.http_load import Target, run_load


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    assert percentile([3, 1, 2], 50) == 2  # order of input does not matter


def test_p99_of_a_small_sample_is_its_maximum():
    assert percentile([1, 2, 3, 4, 50], 99) == 50


def test_percentile_refuses_empty_input_and_bad_ranks():
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1], 0)
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_median_of_odd_and_even_counts():
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5
    with pytest.raises(ValueError):
        median([])


def test_median_of_repeated_runs_walks_nested_figures():
    runs = [{"latency_ms": {"p99": 30.0}}, {"latency_ms": {"p99": 10.0}},
            {"latency_ms": {"p99": 20.0}}]
    assert median_of(runs, "latency_ms", "p99") == 20.0


def test_latency_summary_of_nothing_has_no_figures():
    assert latency_summary([])["p99"] is None
    summary = latency_summary([1.0, 2.0, 3.0, 4.0])
    assert (summary["p50"], summary["max"], summary["mean"]) == (2.0, 4.0, 2.5)


def test_load_generator_refuses_addresses_off_this_machine():
    with pytest.raises(ValueError):
        Target.build("http://10.0.0.1:8080/")
    with pytest.raises(ValueError):
        Target.build("https://127.0.0.1:8080/")
    target = Target.build("http://127.0.0.1:9/x?a=1", "POST", ["X-Test: 1"], "{}")
    assert target.request.startswith(b"POST /x?a=1 HTTP/1.1\r\n")
    assert target.request.endswith(b"Content-Length: 2\r\n\r\n{}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = json.dumps({"path": self.path}).encode()
        status = 200 if self.path == "/ok" else 404
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_load_generator_counts_answers_by_status_over_keep_alive_connections():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        ok = asyncio.run(run_load(Target.build(f"http://127.0.0.1:{port}/ok"), 2, 0.3, 0.05))
        missing = asyncio.run(run_load(Target.build(f"http://127.0.0.1:{port}/no"), 1, 0.2, 0))
    finally:
        server.shutdown()
        server.server_close()
    assert ok["requests"] > 0 and ok["statuses"] == {"200": ok["requests"]}
    assert ok["ok_requests"] == ok["requests"] and ok["errors"] == {}
    assert ok["reconnects"] == 0  # one connection each, kept alive
    assert ok["latency_ms"]["p99"] is not None and ok["rps"] > 0
    assert missing["ok_requests"] == 0 and set(missing["statuses"]) == {"404"}
