"""``python -m litellm_sim --port 4000``: the simulator for ``make run`` and demos.

Knobs come from the environment (SIM_MODELS, SIM_SEED, SIM_LATENCY_MS, SIM_ERROR_RATE, SIM_DOWN,
SIM_PREMIUM, LITELLM_MASTER_KEY) and can be changed while running through ``/_sim/config``.
With SIM_ACTIVITY_AUTO=true every live key makes SIM_ACTIVITY_REQUESTS requests every
SIM_ACTIVITY_INTERVAL seconds, so usage views fill up on their own in demos.
"""

from __future__ import annotations

import argparse
import threading

from werkzeug.serving import run_simple

from litellm_sim.app import create_sim_app
from litellm_sim.spend import tick_activity
from litellm_sim.state import SimState


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="litellm_sim", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4000)
    parser.add_argument("--models", type=int, help="number of models (default SIM_MODELS or 50)")
    parser.add_argument("--seed", type=int, help="generation seed (default SIM_SEED or 42)")
    args = parser.parse_args(argv)
    knobs = {name: value for name, value in (("models", args.models), ("seed", args.seed))
             if value is not None}
    app = create_sim_app(**knobs)
    threading.Thread(target=_auto_activity, args=(app.extensions["litellm_sim"],),
                     name="sim-activity", daemon=True).start()
    run_simple(args.host, args.port, app, threaded=True)


def _auto_activity(state: SimState) -> None:
    """Live traffic while the ``activity_auto`` knob is on (it can be flipped at run time)."""
    tick, stop = 0, threading.Event()
    while not stop.wait(state.config.activity_interval):
        config = state.config
        if config.activity_auto:
            with state.lock:
                tick_activity(state, config.activity_requests, tick, config.seed)
            tick += 1


if __name__ == "__main__":
    main()
