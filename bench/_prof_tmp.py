import time, collections, sys
from sqlalchemy import event
from bench import usage as bu
from bench.harness import resolve_services, scratch_database
from datetime import UTC, datetime, timedelta
stats = collections.defaultdict(lambda: [0, 0.0])
keys = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
today = datetime.now(UTC).date()
window = [today - timedelta(days=n) for n in range(100)]
services = resolve_services()
with scratch_database(services.base_database_url) as url:
    app = bu.bench_app(url, services.redis_url)
    from app.extensions import db
    with app.app_context():
        people = bu.seed(keys // 10, 10, 50)
        eng = db.engine
    @event.listens_for(eng, "before_cursor_execute")
    def b(conn, cursor, statement, params, context, executemany):
        conn.info["t"] = time.perf_counter()
    @event.listens_for(eng, "after_cursor_execute")
    def a(conn, cursor, statement, params, context, executemany):
        s = stats[" ".join(statement.split())[:70]]; s[0] += 1; s[1] += time.perf_counter() - conn.info["t"]
    import app.services.usage_rollup as ur
    orig = ur._copy
    def timed_copy(rows):
        t = time.perf_counter(); orig(rows); s = stats["COPY"]; s[0] += 1; s[1] += time.perf_counter() - t
    ur._copy = timed_copy
    for label in ("first", "rerun"):
        stats.clear()
        r = bu.rollup(app, people, window, 50, 7)
        print(label, r)
        for k, (n, t) in sorted(stats.items(), key=lambda x: -x[1][1])[:10]:
            print(f"  {t:7.3f}s {n:5d}  {k}")
    with app.app_context():
        db.engine.dispose()
