"""Version token reads shared between a process's threads (app/services/read_cache.py,
TokenReader): a read is reused only by requests that arrived before it began, so a write
committed before a request arrived is always seen. A fake connection stands for PostgreSQL."""

from __future__ import annotations

import threading
import time

from app.services.read_cache import TokenReader


class FakeDatabase:
    """cache_versions as one token; ``execute`` sees the token committed when it begins."""

    def __init__(self, delay: float = 0.0) -> None:
        self.token, self.reads, self.delay = 1, 0, delay

    def raw_connection(self):
        return FakeFairy(self)


class FakeFairy:
    def __init__(self, database: FakeDatabase) -> None:
        self.dbapi_connection = FakeConnection(database)

    def detach(self) -> None:
        pass

    def close(self) -> None:
        pass


class FakeConnection:
    autocommit = False

    def __init__(self, database: FakeDatabase) -> None:
        self.database = database

    def cursor(self):
        return FakeCursor(self.database)


class FakeCursor:
    def __init__(self, database: FakeDatabase) -> None:
        self.database, self.row = database, None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def execute(self, sql: str, params: tuple) -> None:
        self.database.reads += 1
        self.row = (self.database.token,)  # the snapshot is taken as the statement begins
        time.sleep(self.database.delay)

    def fetchone(self):
        return self.row


def test_a_request_after_a_write_never_reuses_an_earlier_read():
    database = FakeDatabase()
    reader = TokenReader(database)
    assert reader.read("catalogue") == "1"
    database.token = 2  # a write commits
    assert reader.read("catalogue") == "2"  # the request arrives now: it reads again
    assert database.reads == 2


def test_a_read_that_began_after_a_request_arrived_answers_it_without_another_read():
    database = FakeDatabase()
    reader = TokenReader(database)
    arrived = time.perf_counter()
    assert reader.read("catalogue") == "1"  # another thread's read, begun after the arrival
    assert reader.read("catalogue", not_before=arrived) == "1"
    assert database.reads == 1
    assert reader.read("settings", not_before=arrived) == "1"  # each scope has its own reads
    assert database.reads == 2


def test_requests_queued_behind_a_read_share_the_next_one_and_see_every_earlier_write():
    database = FakeDatabase(delay=0.05)
    reader = TokenReader(database)
    answers: dict[str, str | None] = {}

    def request(name: str) -> None:
        answers[name] = reader.read("catalogue", not_before=time.perf_counter())

    first = threading.Thread(target=request, args=("first",))
    first.start()
    time.sleep(0.01)  # the first read is under way with token 1
    database.token = 2  # committed before the next requests arrive
    queued = [threading.Thread(target=request, args=(f"queued-{n}",)) for n in range(4)]
    for thread in queued:
        thread.start()
    for thread in (first, *queued):
        thread.join()
    assert answers["first"] == "1"
    assert {answers[f"queued-{n}"] for n in range(4)} == {"2"}
    assert database.reads < 1 + len(queued)  # the queued requests shared reads
