"""A small OAuth2 / OpenID Connect provider for tests, served over real HTTP.

It speaks both dialects LiteMaaS signs in with:

- OIDC: ``/.well-known/openid-configuration``, ``/authorize``, ``/token`` (client auth, PKCE
  S256, one-use codes that expire), ``/jwks``, ``/userinfo``; id_tokens are RS256-signed JWTs.
- OpenShift: ``/oauth/authorize``, ``/oauth/token`` and the user API
  ``/apis/user.openshift.io/v1/users/~``.

``/authorize`` consents at once as ``provider.user``. Knobs make it misbehave the ways a
hostile or broken provider would: expired codes, id_tokens signed with another key, from
another issuer, for another audience, with another nonce, already expired; a discovery document
naming another issuer; being down.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


@dataclass
class FakeUser:
    sub: str = "u-1001"
    username: str = "alice"
    email: str | None = "alice@example.com"
    name: str | None = "Alice Example"
    groups: list[str] = field(default_factory=lambda: ["developers"])
    email_verified: bool | None = True  # None: the claim is left out


@dataclass
class Knobs:
    code_ttl_seconds: float = 60.0
    sign_with_wrong_key: bool = False
    id_token_issuer: str | None = None  # default: the provider's own issuer
    id_token_audience: str | None = None  # default: the client id
    id_token_nonce: str | None = None  # default: the nonce of the authorization request
    id_token_lifetime: int = 300
    discovery_issuer: str | None = None
    down: bool = False
    groups_in_id_token: bool = True


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class FakeProvider:
    def __init__(self, client_id: str = "litemaas-test", client_secret: str = "s3cr3t-oidc"):
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = RSAKey.generate_key(2048, parameters={"kid": "fake-key-1", "use": "sig",
                                                         "alg": "RS256"}, private=True)
        # Same kid, different key: what a forged token looks like.
        self.wrong_key = RSAKey.generate_key(2048, parameters={"kid": "fake-key-1"},
                                             private=True)
        self.lock = threading.Lock()
        self.reset()
        self.app = self._build_app()
        self._server: BaseWSGIServer | None = None
        self.url = ""

    def reset(self) -> None:
        with self.lock:
            self.user = FakeUser()
            self.knobs = Knobs()
            self.codes: dict[str, dict] = {}
            self.access_tokens: dict[str, FakeUser] = {}
            self.token_requests: list[dict] = []
            self.issued: list[str] = []  # every token value handed out (for secret greps)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeProvider:
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True,
                                   request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True, name="fake-oidc").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- tokens ------------------------------------------------------------------------------

    def id_token(self, user: FakeUser, nonce: str | None) -> str:
        knobs = self.knobs
        now = int(time.time())
        claims = {
            "iss": knobs.id_token_issuer or self.url,
            "aud": knobs.id_token_audience or self.client_id,
            "sub": user.sub,
            "iat": now,
            "exp": now + knobs.id_token_lifetime,
            "nonce": knobs.id_token_nonce or nonce,
            "preferred_username": user.username,
            "email": user.email,
            "email_verified": user.email_verified,
            "name": user.name,
        }
        if knobs.groups_in_id_token:
            claims["groups"] = list(user.groups)
        key = self.wrong_key if knobs.sign_with_wrong_key else self.key
        return jwt.encode({"alg": "RS256", "kid": "fake-key-1"},
                          {k: v for k, v in claims.items() if v is not None}, key)

    # -- HTTP --------------------------------------------------------------------------------

    def _build_app(self) -> Flask:
        app = Flask("fake_oidc")
        provider = self

        @app.before_request
        def maybe_down():
            if provider.knobs.down:
                return jsonify({"error": "temporarily_unavailable"}), 503
            return None

        @app.get("/.well-known/openid-configuration")
        def discovery():
            base = provider.url
            return jsonify({
                "issuer": provider.knobs.discovery_issuer or base,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "jwks_uri": f"{base}/jwks",
                "userinfo_endpoint": f"{base}/userinfo",
                "end_session_endpoint": f"{base}/logout",
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "subject_types_supported": ["public"],
            })

        @app.get("/jwks")
        def jwks():
            return jsonify(KeySet([provider.key]).as_dict(private=False))

        @app.get("/authorize")
        @app.get("/oauth/authorize")
        def authorize():
            args = request.args
            problems = [name for name in ("client_id", "redirect_uri", "state", "code_challenge")
                        if not args.get(name)]
            if (problems or args.get("client_id") != provider.client_id
                    or args.get("response_type") != "code"
                    or args.get("code_challenge_method") != "S256"):
                return jsonify({"error": "invalid_request", "missing": problems}), 400
            code = secrets.token_urlsafe(24)
            with provider.lock:
                provider.codes[code] = {
                    "user": provider.user, "issued_at": time.monotonic(),
                    "redirect_uri": args["redirect_uri"], "challenge": args["code_challenge"],
                    "nonce": args.get("nonce"), "scope": args.get("scope", ""),
                }
                provider.issued.append(code)
            query = urlencode({"code": code, "state": args["state"]})
            return redirect(f"{args['redirect_uri']}?{query}", code=302)

        @app.post("/token")
        @app.post("/oauth/token")
        def token():
            return provider._token()

        @app.get("/userinfo")
        def userinfo():
            user = provider._bearer_user()
            if user is None:
                return jsonify({"error": "invalid_token"}), 401
            return jsonify({"sub": user.sub, "preferred_username": user.username,
                            "email": user.email, "groups": list(user.groups)})

        @app.get("/logout")
        def end_session():
            """RP-initiated logout: back to ``post_logout_redirect_uri``, else a page."""
            target = request.args.get("post_logout_redirect_uri")
            if target:
                return redirect(target, code=302)
            return "<h1>Signed out</h1><p>You have been signed out of the provider.</p>"

        @app.get("/apis/user.openshift.io/v1/users/~")
        def openshift_user():
            user = provider._bearer_user()
            if user is None:
                return jsonify({"kind": "Status", "status": "Failure", "reason": "Unauthorized",
                                "code": 401}), 401
            return jsonify({"kind": "User", "apiVersion": "user.openshift.io/v1",
                            "metadata": {"name": user.username, "uid": user.sub},
                            "fullName": user.name, "identities": [f"htpasswd:{user.username}"],
                            "groups": list(user.groups)})

        return app

    def _bearer_user(self) -> FakeUser | None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        with self.lock:
            return self.access_tokens.get(value) if scheme.lower() == "bearer" else None

    def _client_authenticated(self) -> bool:
        auth = request.authorization
        if auth is not None:
            return (auth.username, auth.password) == (self.client_id, self.client_secret)
        form = request.form
        return (form.get("client_id"), form.get("client_secret")) == (self.client_id,
                                                                       self.client_secret)

    def _token(self):
        form = request.form
        with self.lock:
            self.token_requests.append(dict(form))
            grant = self.codes.pop(form.get("code", ""), None)  # one use
        if not self._client_authenticated():
            return jsonify({"error": "invalid_client"}), 401
        if form.get("grant_type") != "authorization_code" or grant is None:
            return jsonify({"error": "invalid_grant",
                            "error_description": "unknown or used code"}), 400
        if time.monotonic() - grant["issued_at"] > self.knobs.code_ttl_seconds:
            return jsonify({"error": "invalid_grant", "error_description": "code expired"}), 400
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return jsonify({"error": "invalid_grant", "error_description": "redirect_uri"}), 400
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if not verifier or challenge != grant["challenge"]:
            return jsonify({"error": "invalid_grant", "error_description": "PKCE"}), 400
        access = secrets.token_urlsafe(32)
        body = {"access_token": access, "token_type": "Bearer", "expires_in": 300,
                "scope": grant["scope"]}
        if "openid" in grant["scope"].split():
            body["id_token"] = self.id_token(grant["user"], grant["nonce"])
        with self.lock:
            self.access_tokens[access] = grant["user"]
            self.issued.extend([access, body.get("id_token", access)])
        return jsonify(body)
