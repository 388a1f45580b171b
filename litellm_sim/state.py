"""Everything the simulator remembers, in memory, behind one lock."""

from __future__ import annotations

import random
import threading
from collections import deque
from typing import Any

from litellm_sim.catalog import ModelCatalog
from litellm_sim.config import SimConfig
from litellm_sim.records import deleted_key_row, token_of

MAX_RECORDED_CALLS = 10_000


class SimState:
    """Keys (by token), deleted keys, users, teams, daily spend rows, recorded calls and knobs.

    Routes hold ``lock`` while they read or change anything here.
    """

    def __init__(self, config: SimConfig) -> None:
        self.lock = threading.RLock()
        self.initial_config = config
        self._reset_to(config)

    def _reset_to(self, config: SimConfig) -> None:
        self.config = config
        self.catalog = ModelCatalog(config.models, config.seed)
        self.fault_rng = random.Random(config.seed)
        self.keys: dict[str, dict] = {}
        self.deleted_keys: dict[str, dict] = {}
        self.users: dict[str, dict] = {}
        self.teams: dict[str, dict] = {}
        self.spend_rows: dict[str, dict] = {}
        self.calls: deque[dict] = deque(maxlen=MAX_RECORDED_CALLS)

    def reset(self) -> None:
        """Back to the state the simulator started in (knobs included)."""
        with self.lock:
            self._reset_to(self.initial_config)

    def configure(self, **changes: Any) -> SimConfig:
        """Change knobs; a new model count or seed regenerates the catalogue (removals kept)."""
        with self.lock:
            config = self.config.updated(**changes)
            if (config.models, config.seed) != (self.config.models, self.config.seed):
                removed = self.catalog.removed
                self.catalog = ModelCatalog(config.models, config.seed)
                self.catalog.removed = removed
                self.fault_rng = random.Random(config.seed)
            self.config = config
            return config

    def record_call(self, method: str, path: str, query: dict, body: Any) -> None:
        with self.lock:
            self.calls.append({"method": method, "path": path, "query": query, "json": body})

    def key_by(self, key: str) -> dict | None:
        """A live key by raw value or token."""
        return self.keys.get(token_of(key))

    def archive_key(self, token: str) -> None:
        """Move a key to the deleted-keys table (``/key/info`` still finds it)."""
        self.deleted_keys[token] = deleted_key_row(self.keys.pop(token))

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {
                "keys": len(self.keys), "deleted_keys": len(self.deleted_keys),
                "users": len(self.users), "teams": len(self.teams),
                "models": len(self.catalog.visible()), "spend_rows": len(self.spend_rows),
                "calls": len(self.calls),
            }
