"""Run the simulator on a real socket in a daemon thread (tests) — ``start_in_thread()``."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from litellm_sim.app import create_sim_app
from litellm_sim.state import SimState


class QuietRequestHandler(WSGIRequestHandler):
    """No access log: tests start many simulators and query strings may carry key tokens."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@dataclass
class SimServer:
    url: str
    state: SimState
    _server: BaseWSGIServer
    _thread: threading.Thread

    @property
    def master_key(self) -> str:
        return self.state.config.master_key

    def configure(self, **knobs: Any) -> None:
        self.state.configure(**knobs)

    def reset(self) -> None:
        self.state.reset()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_in_thread(port: int = 0, host: str = "127.0.0.1", **knobs: Any) -> SimServer:
    """Serve a new simulator (``create_sim_app(**knobs)``); port 0 picks a free port."""
    app = create_sim_app(**knobs)
    server = make_server(host, port, app, threaded=True, request_handler=QuietRequestHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="litellm-sim", daemon=True)
    thread.start()
    return SimServer(f"http://{host}:{server.server_port}", app.extensions["litellm_sim"],
                     server, thread)
