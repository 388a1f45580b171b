"""GET /metrics: Prometheus text for admins only, with request, job and queue figures."""

import time

from prometheus_client.parser import text_string_to_metric_families

from tests.support.jobs import wait_for_job


def _families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_metrics_are_admin_only(client, login):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=login("user")).status_code == 403
    assert client.get("/metrics", headers=login("adminro")).status_code == 200


def test_metrics_count_requests_by_route_template_and_status(client, login):
    admin = login("admin")
    client.get("/api/v1/jobs/00000000-0000-0000-0000-000000000000", headers=admin)
    response = client.get("/metrics", headers=admin)
    assert response.content_type.startswith("text/plain")
    families = _families(response.get_data(as_text=True))
    samples = families["litemaas_http_requests"].samples
    routes = {(s.labels["route"], s.labels["status"]) for s in samples}
    # the route template, never the concrete id (bounded label cardinality)
    assert ("/api/v1/jobs/<uuid:job_id>", "404") in routes
    assert "litemaas_http_request_duration_seconds" in families


def test_metrics_report_jobs_and_queue_lengths(client, login, celery_worker):
    admin = login("admin")
    job_id = client.post("/api/v1/jobs/ping", json={}, headers=admin).get_json()["jobId"]
    deadline = time.monotonic() + 20
    while client.get(f"/api/v1/jobs/{job_id}", headers=admin).get_json()["status"] != "succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    families = _families(client.get("/metrics", headers=admin).get_data(as_text=True))
    jobs = {(s.labels["kind"], s.labels["status"]): s.value
            for s in families["litemaas_jobs"].samples}
    assert jobs[("worker_ping", "succeeded")] == 1
    queues = {s.labels["queue"] for s in families["litemaas_queue_length"].samples}
    assert queues == {"sync", "provisioning", "usage", "default"}


def test_metrics_report_litellm_call_latency_and_outcomes(app, client, login, sim):
    from app.api.health import probe_cache

    admin = login("admin")
    probe_cache(app).forget()
    client.get("/api/v1/health/ready")
    sim.configure(down=True)
    probe_cache(app).forget()  # readiness probes are cached a few seconds
    client.get("/api/v1/health/ready")
    families = _families(client.get("/metrics", headers=admin).get_data(as_text=True))
    outcomes = {(s.labels["path"], s.labels["outcome"])
                for s in families["litemaas_litellm_calls"].samples}
    assert ("/health/liveliness", "200") in outcomes
    assert ("/health/liveliness", "503") in outcomes
    assert "litemaas_litellm_call_duration_seconds" in families


def _wait_succeeded(client, headers, job_id):
    body = wait_for_job(client, headers, job_id, timeout=30)
    assert body["status"] == "succeeded", body
    return body


def test_metrics_report_job_run_times_as_a_histogram_by_kind_and_outcome(
        client, login, celery_worker):
    admin = login("admin")
    job_id = client.post("/api/v1/jobs/ping", json={}, headers=admin).get_json()["jobId"]
    _wait_succeeded(client, admin, job_id)
    families = _families(client.get("/metrics", headers=admin).get_data(as_text=True))
    samples = [s for s in families["litemaas_job_duration_seconds"].samples
               if s.labels.get("kind") == "worker_ping" and s.labels.get("status") == "succeeded"]
    by_name = {}
    for sample in samples:
        by_name.setdefault(sample.name, []).append(sample)
    assert by_name["litemaas_job_duration_seconds_count"][0].value == 1
    assert by_name["litemaas_job_duration_seconds_sum"][0].value >= 0
    buckets = {s.labels["le"]: s.value for s in by_name["litemaas_job_duration_seconds_bucket"]}
    assert buckets["+Inf"] == 1
    values = [buckets[le] for le in sorted(buckets, key=lambda le: float(le))]
    assert values == sorted(values)  # cumulative


def test_metrics_report_the_last_usage_rollup(client, login, sim, celery_worker):
    admin = login("admin")
    response = client.post("/api/v1/admin/usage/rollup", json={}, headers=admin)
    assert response.status_code == 202, response.get_json()
    result = _wait_succeeded(client, admin, response.get_json()["jobId"])["result"]
    families = _families(client.get("/metrics", headers=admin).get_data(as_text=True))
    figures = {s.labels["figure"]: s.value for s in families["litemaas_last_usage_rollup"].samples}
    assert figures["users"] == result["users"]
    assert figures["rows"] == result["rows"]
    assert figures["finished_at_seconds"] > 0 and figures["duration_seconds"] >= 0


class _QueuesUnreadable:
    """The app's Redis client, except that queue lengths cannot be read."""

    def __init__(self, real):
        self.real = real

    def __getattr__(self, name):
        return getattr(self.real, name)

    def llen(self, key):
        raise ConnectionError("redis is down")


def test_a_store_outage_removes_its_figures_not_the_scrape(app, client, login, monkeypatch):
    admin = login("admin")
    monkeypatch.setitem(app.extensions, "redis", _QueuesUnreadable(app.extensions["redis"]))
    response = client.get("/metrics", headers=admin)
    assert response.status_code == 200
    families = _families(response.get_data(as_text=True))
    up = {s.labels["source"]: s.value for s in families["litemaas_metrics_source_up"].samples}
    assert up == {"jobs": 1, "sync": 1, "usage_rollup": 1, "queues": 0, "governance": 1}
    assert "litemaas_queue_length" not in families
    assert "litemaas_jobs" in families and "litemaas_http_requests" in families


def test_the_separate_scrape_bind_serves_the_database_figures_too(app):
    from prometheus_client import generate_latest

    from app.metrics import registry_for

    families = _families(generate_latest(registry_for(app)).decode())
    assert {"litemaas_jobs", "litemaas_queue_length", "litemaas_last_sync",
            "litemaas_metrics_source_up"} <= families.keys()
