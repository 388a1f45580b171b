"""Audit trail reading at scale: ``GET /api/v1/audit-logs`` over 1,000,000 rows.

``python -m bench.audit_log [--rows 1000000] [--repeat 30]`` prints JSON: latency (p50/p99,
through the Flask test client, JSON included) of the newest page, of keyset pages deep in the
trail (following ``nextCursor``), of each filter, and of the compatibility page mode (whose
``total`` needs a count). Rows are generated in PostgreSQL (not timed): 1,000 actors, 20
actions, 5 resource types, spread over 90 days.

Uses ``DATABASE_URL`` (a fresh ``litemaas_bench_<id>`` database, dropped afterwards) and
``REDIS_URL``, or the embedded servers of ``make run``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from sqlalchemy import text

from bench.usage import bench_app, scratch_database

SEED_SQL = """
INSERT INTO users (id, username, oauth_provider, oauth_subject)
SELECT gen_random_uuid(), 'bench-user-' || n, 'mock', 'bench-' || n
FROM generate_series(1, 1000) AS n;

INSERT INTO audit_logs (id, actor_id, actor_label, action, resource_type, resource_id, success,
                        ip_address, request_id, details, created_at)
WITH actors AS (SELECT array_agg(id ORDER BY username) AS ids,
                       array_agg(username ORDER BY username) AS names
                FROM users WHERE username LIKE 'bench-user-%')
SELECT gen_random_uuid(), a.ids[1 + g % 1000], 'jwt:' || a.names[1 + g % 1000],
       (ARRAY['LOGIN','LOGOUT','API_KEY_CREATE','API_KEY_DELETE','SUBSCRIPTION_CREATE',
              'SUBSCRIPTION_APPROVED','USER_UPDATE','TEAM_CREATE','TEAM_MEMBER_ADD','JOB_ENQUEUED',
              'JOB_SUCCEEDED','JOB_FAILED','AUTH_FAILED','PERMISSION_DENIED','TOKEN_REFRESH',
              'MODEL_UPDATE','SESSION_REVOKED','PROFILE_UPDATE','API_KEY_ROTATE',
              'ADMIN_API_KEY_USED'])[1 + g % 20],
       (ARRAY['user','api_key','subscription','team','job'])[1 + g % 5],
       'res-' || (g % 50000), g % 17 <> 0, '10.0.0.1', md5(g::text), '{"bench": true}'::jsonb,
       now() - (g * interval '7.776 seconds')
FROM generate_series(1, :rows) AS g, actors AS a;
ANALYZE audit_logs;
ANALYZE users;
"""


def timed(client, headers, url: str, repeat: int) -> dict:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.get_json()
    samples.sort()
    return {"p50_ms": round(statistics.median(samples), 2),
            "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 2)}


def deep_cursor(client, headers, pages: int) -> tuple[str, float]:
    """Follow nextCursor ``pages`` times; returns the last cursor and the mean page time."""
    cursor, started = None, time.perf_counter()
    for _ in range(pages):
        url = "/api/v1/audit-logs?limit=100" + (f"&cursor={cursor}" if cursor else "")
        cursor = client.get(url, headers=headers).get_json()["pagination"]["nextCursor"]
    return cursor, round((time.perf_counter() - started) * 1000 / pages, 2)


def run(rows: int, repeat: int) -> dict:
    with scratch_database() as database_url:
        app = bench_app(database_url)
        with app.app_context():
            from app.extensions import db

            started = time.perf_counter()
            db.session.execute(text(SEED_SQL), {"rows": rows})
            db.session.commit()
            seed_seconds = round(time.perf_counter() - started, 1)
            actor = db.session.scalar(text("SELECT id FROM users WHERE username='bench-user-7'"))
        client = app.test_client()
        token = client.post("/api/v1/auth/login", json={"username": "admin"}).get_json()
        headers = {"Authorization": f"Bearer {token['accessToken']}"}
        cursor, walk_ms = deep_cursor(client, headers, 100)
        deep = f"/api/v1/audit-logs?limit=100&cursor={cursor}"
        results = {
            "rows": rows,
            "seed_seconds": seed_seconds,
            "newest_page_100": timed(client, headers, "/api/v1/audit-logs?limit=100", repeat),
            "keyset_walk_100_pages_mean_ms": walk_ms,
            "keyset_page_after_10000_rows": timed(client, headers, deep, repeat),
            "filter_action": timed(client, headers,
                                   "/api/v1/audit-logs?action=TEAM_CREATE&limit=50", repeat),
            "filter_actor": timed(client, headers, f"/api/v1/audit-logs?actor={actor}&limit=50",
                                  repeat),
            "filter_resource": timed(client, headers, "/api/v1/audit-logs?resourceType=team"
                                     "&resourceId=res-1003&limit=50", repeat),
            "filter_failures": timed(client, headers, "/api/v1/audit-logs?success=false&limit=50",
                                     repeat),
            "filter_time_range": timed(
                client, headers, "/api/v1/audit-logs?limit=50&from=2020-01-01T00:00:00Z"
                "&to=" + time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                       time.gmtime(time.time() - 45 * 86400)), repeat),
            "page_mode_page_1_with_total": timed(client, headers,
                                                 "/api/v1/audit-logs?page=1&limit=100", repeat),
            "page_mode_page_1000_with_total": timed(
                client, headers, "/api/v1/audit-logs?page=1000&limit=100", max(3, repeat // 5)),
        }
        with app.app_context():
            from app.extensions import db

            db.session.remove()
            db.engine.dispose()
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    print(json.dumps(run(args.rows, args.repeat), indent=2))


if __name__ == "__main__":
    main()
