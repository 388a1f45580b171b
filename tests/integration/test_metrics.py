"""GET /metrics: Prometheus text for admins only, with request, job and queue figures."""

import time

from prometheus_client.parser import text_string_to_metric_families


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


def test_metrics_report_litellm_call_latency_and_outcomes(client, login, sim):
    admin = login("admin")
    client.get("/api/v1/health/ready")
    sim.configure(down=True)
    client.get("/api/v1/health/ready")
    families = _families(client.get("/metrics", headers=admin).get_data(as_text=True))
    outcomes = {(s.labels["path"], s.labels["outcome"])
                for s in families["litemaas_litellm_calls"].samples}
    assert ("/health/liveliness", "200") in outcomes
    assert ("/health/liveliness", "503") in outcomes
    assert "litemaas_litellm_call_duration_seconds" in families
