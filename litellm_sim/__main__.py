"""``python -m litellm_sim --port 4000``: the simulator for ``make run`` and demos.

Knobs come from the environment (SIM_MODELS, SIM_SEED, SIM_LATENCY_MS, SIM_ERROR_RATE, SIM_DOWN,
SIM_PREMIUM, LITELLM_MASTER_KEY) and can be changed while running through ``/_sim/config``.
"""

from __future__ import annotations

import argparse

from werkzeug.serving import run_simple

from litellm_sim.app import create_sim_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="litellm_sim", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4000)
    parser.add_argument("--models", type=int, help="number of models (default SIM_MODELS or 50)")
    parser.add_argument("--seed", type=int, help="generation seed (default SIM_SEED or 42)")
    args = parser.parse_args(argv)
    knobs = {name: value for name, value in (("models", args.models), ("seed", args.seed))
             if value is not None}
    run_simple(args.host, args.port, create_sim_app(**knobs), threaded=True)


if __name__ == "__main__":
    main()
