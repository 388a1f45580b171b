"""Shared set-up for the usage tests: users and keys in our database *and* in the simulator,
simulated traffic, and the figures every endpoint must show, computed independently from the
simulator's raw daily spend rows (LiteLLM_DailyUserSpend), with Decimal.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import requests

from app.litellm import LiteLLMClient
from tests.support.jobs import wait_for_job

Q = Decimal("0.00000001")  # usage_daily keeps spend to 8 decimal places
PRICED_MODELS = ("gpt-4o", "gpt-4o-mini", "mistral-large-latest", "granite-3-8b-instruct")
METRICS = ("requests", "successful_requests", "failed_requests", "prompt_tokens",
           "completion_tokens", "total_tokens", "spend")


def today() -> date:
    return datetime.now(UTC).date()


def days_ago(n: int) -> date:
    return today() - timedelta(days=n)


@dataclass
class Key:
    id: uuid.UUID
    raw: str
    user: str

    @property
    def token(self) -> str:
        return hashlib.sha256(self.raw.encode()).hexdigest()


@dataclass
class World:
    """Who exists: usernames → user ids, key names → keys, team names → team ids."""

    app: object
    sim: object
    users: dict[str, uuid.UUID] = field(default_factory=dict)
    keys: dict[str, Key] = field(default_factory=dict)
    teams: dict[str, uuid.UUID] = field(default_factory=dict)

    # -- building ----------------------------------------------------------------------------

    def catalogue(self) -> dict[str, str]:
        """Our models table from the simulator's catalogue (model id → provider)."""
        from app.extensions import db
        from app.models import Model
        from litellm_sim.spend import model_identity

        with self.sim.state.lock:
            providers = {m["model_name"]: model_identity(m)[2]
                         for m in self.sim.state.catalog.visible()}
        with self.app.app_context():
            for name, provider in providers.items():
                db.session.merge(Model(id=name, provider=provider, content_hash="test",
                                       litellm_info={}))
            db.session.commit()
        return providers

    def team(self, name: str) -> uuid.UUID:
        from app.extensions import db
        from app.models import Team

        with self.app.app_context():
            team = Team(name=name, litellm_team_id=f"lt-{name}")
            db.session.add(team)
            db.session.commit()
            self.teams[name] = team.id
        return self.teams[name]

    def user(self, username: str, **columns) -> uuid.UUID:
        """A user known to LiteLLM (``litellm_user_id`` set); reuses a signed-in user's row."""
        from sqlalchemy import select

        from app.extensions import db
        from app.models import User

        with self.app.app_context():
            user = db.session.scalar(select(User).where(User.username == username))
            if user is None:
                user = User(username=username, oauth_provider="mock", oauth_subject=username,
                            roles=["user"])
                db.session.add(user)
                db.session.flush()
            user.litellm_user_id = str(user.id)
            for name, value in columns.items():
                setattr(user, name, value)
            db.session.commit()
            self.users[username] = user.id
        return self.users[username]

    def key(self, name: str, username: str, models=PRICED_MODELS[:3], team: str | None = None,
            **columns) -> Key:
        """A key in our database and in LiteLLM, owned by ``username``."""
        from app.extensions import db
        from app.models import ApiKey

        raw = "sk-" + secrets.token_urlsafe(36)
        user_id = self.users[username]
        with self.app.app_context():
            row = ApiKey(user_id=user_id, name=name, key_prefix=raw[:8],
                         key_hash=hashlib.sha256(raw.encode()).hexdigest(),
                         provisioning_state="active",
                         team_id=self.teams[team] if team else None, **columns)
            db.session.add(row)
            db.session.commit()
            key = Key(row.id, raw, username)
        self.litellm().key_generate(key=raw, user_id=str(user_id), models=list(models),
                                    team_id=f"lt-{team}" if team else None)
        self.keys[name] = key
        return key

    def delete_key(self, name: str) -> None:
        """The key is gone: its row in our database and the key in LiteLLM."""
        from app.extensions import db
        from app.models import ApiKey

        key = self.keys[name]
        with self.app.app_context():
            db.session.delete(db.session.get(ApiKey, key.id))
            db.session.commit()
        self.litellm().key_delete([key.raw])

    def litellm(self) -> LiteLLMClient:
        return LiteLLMClient(self.sim.url, api_key=self.sim.master_key, timeout=5.0)

    def traffic(self, days: int = 7, per_day: int = 12, seed: int = 1) -> None:
        """Deterministic activity for every live key over the last ``days`` days."""
        answer = requests.post(f"{self.sim.url}/_sim/activity", timeout=10,
                               headers={"Authorization": f"Bearer {self.sim.master_key}"},
                               json={"days": days, "requests_per_key_per_day": per_day,
                                     "seed": seed})
        assert answer.status_code == 200, answer.text

    # -- what LiteLLM recorded -----------------------------------------------------------------

    def raw_rows(self) -> list[dict]:
        with self.sim.state.lock:
            return [dict(row) for row in self.sim.state.spend_rows.values()]

    def expected(self, start: date | None = None, end: date | None = None,
                 where: Callable[[dict], bool] = lambda row: True) -> dict:
        """Totals of the simulator's raw rows in [start, end] that ``where`` keeps."""
        start, end = start or days_ago(29), end or today()
        rows = [r for r in self.raw_rows()
                if start.isoformat() <= r["date"] <= end.isoformat() and where(r)]
        return totals_of(rows)

    def expected_by(self, group: Callable[[dict], object], start: date | None = None,
                    end: date | None = None, where: Callable[[dict], bool] = lambda r: True):
        start, end = start or days_ago(29), end or today()
        groups: dict[object, list[dict]] = {}
        for row in self.raw_rows():
            if start.isoformat() <= row["date"] <= end.isoformat() and where(row):
                groups.setdefault(group(row), []).append(row)
        return {name: totals_of(rows) for name, rows in groups.items()}

    def token_of(self, name: str) -> str:
        return self.keys[name].token


def totals_of(rows: list[dict]) -> dict:
    return {
        "requests": sum(r["api_requests"] for r in rows),
        "successful_requests": sum(r["successful_requests"] for r in rows),
        "failed_requests": sum(r["failed_requests"] for r in rows),
        "prompt_tokens": sum(r["prompt_tokens"] for r in rows),
        "completion_tokens": sum(r["completion_tokens"] for r in rows),
        "total_tokens": sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows),
        "spend": sum((Decimal(repr(r["spend"])).quantize(Q) for r in rows), Decimal(0)),
    }


def wire_metrics(metrics: dict) -> dict:
    """An API metrics object in the shape of ``totals_of`` (spend read back exactly)."""
    return {
        "requests": metrics["requests"],
        "successful_requests": metrics["successfulRequests"],
        "failed_requests": metrics["failedRequests"],
        "prompt_tokens": metrics["promptTokens"],
        "completion_tokens": metrics["completionTokens"],
        "total_tokens": metrics["totalTokens"],
        "spend": Decimal(repr(metrics["spend"])).quantize(Q),
    }


def exact_json(response) -> dict:
    """The body with JSON numbers read as Decimal (no float rounding in the comparison)."""
    return json.loads(response.data, parse_float=Decimal)


def run_rollup(client, headers, body=None, timeout: float = 60.0) -> dict:
    """Ask for a rollup and wait until the worker finishes it; returns the job."""
    response = client.post("/api/v1/admin/usage/rollup", json=body or {}, headers=headers)
    assert response.status_code == 202, response.get_json()
    return wait_for_job(client, headers, response.get_json()["jobId"], timeout=timeout)


def db_rows(app) -> list[dict]:
    """usage_daily as plain dicts (spend as Decimal)."""
    from sqlalchemy import text

    from app.extensions import db

    with app.app_context():
        rows = db.session.execute(text(
            "SELECT day, user_id, team_id, api_key_id, api_key_hash, model_id, provider, "
            "requests, successful_requests, failed_requests, prompt_tokens, completion_tokens, "
            "total_tokens, spend FROM usage_daily")).mappings().all()
        db.session.remove()
    return [dict(row) for row in rows]


def totals_table_agrees(app) -> bool:
    """usage_daily_totals is exactly usage_daily summed per (day, model, provider)."""
    from sqlalchemy import text

    from app.extensions import db

    sums = ", ".join(f"sum({m}) AS {m}" for m in METRICS)
    with app.app_context():
        raw = db.session.execute(text(
            f"SELECT day, model_id, provider, {sums} FROM usage_daily "
            "GROUP BY day, model_id, provider")).all()
        kept = db.session.execute(text(
            f"SELECT day, model_id, provider, {', '.join(METRICS)} FROM usage_daily_totals")).all()
        db.session.remove()
    def ordered(rows):
        return sorted((tuple(row) for row in rows), key=lambda row: (row[0], row[1], row[2] or ""))

    return ordered(raw) == ordered(kept)
