"""A LiteLLM 1.106 proxy simulator (DESIGN §8): the admin endpoints LiteMaaS uses, a chat
endpoint that charges virtual keys, generated daily activity, and ``/_sim`` knobs for faults."""

from litellm_sim.app import create_sim_app
from litellm_sim.config import SimConfig
from litellm_sim.server import SimServer, start_in_thread

__all__ = ["SimConfig", "SimServer", "create_sim_app", "start_in_thread"]
