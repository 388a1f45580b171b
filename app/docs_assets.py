"""Swagger UI and ReDoc assets served from pinned packages (no CDN: ``/docs`` works offline).

The files come from ``flask-openapi3-swagger`` and ``flask-openapi3-redoc``, used only as
carriers of the upstream builds; only the names listed here are served.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from flask import Blueprint, Flask, abort, send_from_directory

SWAGGER_UI_URL = "/docs/assets/swagger-ui/"
REDOC_URL = "/docs/assets/redoc/redoc.standalone.js"

# Strict, but enough for both UIs: their inline bootstrap script and styles, ReDoc's search
# worker (blob:) and data: images. Nothing is loaded from another origin.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'")


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)  # no import: the package's plugin code is not used
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{name} is not installed (see requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "templates"


ASSETS = {
    "swagger-ui": {
        "swagger-ui.css": ("flask_openapi3_swagger", "swagger/css"),
        "swagger-ui-bundle.js": ("flask_openapi3_swagger", "swagger/js"),
        "swagger-ui-standalone-preset.js": ("flask_openapi3_swagger", "swagger/js"),
    },
    "redoc": {
        "redoc.standalone.js": ("flask_openapi3_redoc", "redoc/js"),
    },
}

blp = Blueprint("docs_assets", __name__, url_prefix="/docs/assets")


@blp.get("/<bundle>/<name>")
def asset(bundle: str, name: str):
    try:
        package, folder = ASSETS[bundle][name]
    except KeyError:
        abort(404)
    return send_from_directory(_package_dir(package) / folder, name, max_age=86400)


def init_docs_assets(app: Flask) -> None:
    app.config.update({
        "OPENAPI_SWAGGER_UI_URL": SWAGGER_UI_URL,
        "OPENAPI_REDOC_PATH": "/redoc",
        "OPENAPI_REDOC_URL": REDOC_URL,
    })
    app.register_blueprint(blp)
