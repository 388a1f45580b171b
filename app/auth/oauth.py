"""Sign-in with an external provider: OpenShift OAuth or generic OIDC.

Both use the authorization-code flow with PKCE (authlib's OAuth2 client). The flow's state
(PKCE verifier, OIDC nonce, redirect URI and a hash of a browser-binding cookie) lives in
Redis under a short TTL and is consumed on first use, so the callback may land on any web
worker and a state can never be replayed. OIDC id_tokens are verified (signature against
the provider's JWKS, issuer, audience, expiry, nonce) before anything in them is trusted.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from flask import current_app
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from app.auth.identity import sha256_hex
from app.errors import ServiceUnavailable
from app.extensions import redis_client, redis_key

log = logging.getLogger(__name__)

ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
                       "ES384", "ES512"]
DISCOVERY_TTL_SECONDS = 3600
CLOCK_LEEWAY_SECONDS = 60


@dataclass(frozen=True)
class ExternalUser:
    """Who the provider says signed in.

    ``subject`` is the provider's stable id of the account (the identity is bound to it);
    ``email`` is set only when the provider verified it; ``username_verified`` says whether the
    provider vouches for the username (OpenShift's user name: yes; an OIDC
    ``preferred_username``: no, the user may choose it)."""

    provider: str
    subject: str
    username: str
    email: str | None
    full_name: str | None
    groups: tuple[str, ...]
    username_verified: bool = False


# Claim sizes a sign-in accepts: larger ones are refused (400), never stored or logged.
MAX_SUBJECT = 255
MAX_USERNAME = 255
MAX_EMAIL = 320
MAX_FULL_NAME = 255
MAX_GROUP = 255
MAX_GROUPS = 500
MAX_CLAIM_INPUT = 4096  # a display value longer than this is refused, not cleaned
_MARKUP = frozenset('<>"`\\;{}')
_SPACES = re.compile(r"\s+")


def clean_display_name(value: object, max_length: int = MAX_FULL_NAME) -> str | None:
    """A provider's display value made safe to show: no markup characters, no control or
    format characters (line breaks, bidi overrides, zero-width), single spaces; cut to
    ``max_length``. None when nothing is left."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", str(value))
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if char.isspace() or category in ("Zl", "Zp"):
            kept.append(" ")
        elif category[0] == "C" or char in _MARKUP:
            continue
        else:
            kept.append(char)
    cleaned = _SPACES.sub(" ", "".join(kept)).strip()[:max_length].strip()
    return cleaned or None


def clean_username(value: object) -> str | None:
    """A provider's username as a handle: a cleaned display value without spaces."""
    cleaned = clean_display_name(value, MAX_USERNAME + 1)
    return cleaned.replace(" ", "_") if cleaned else None


def _checked(user: ExternalUser, raw: dict[str, object]) -> ExternalUser:
    """Refuse claims too large to be a real account's (400, the claim's name audited, never its
    value); clean display values; keep at most ``MAX_GROUPS`` groups of sane length."""
    too_long = sorted(name for name, value in raw.items()
                      if value is not None and len(str(value)) > MAX_CLAIM_INPUT)
    if len(user.subject) > MAX_SUBJECT or not user.subject:
        too_long.append("sub")
    if user.email is not None and len(user.email) > MAX_EMAIL:
        too_long.append("email")
    username = clean_username(user.username)
    if username is None or len(username) > MAX_USERNAME:
        too_long.append("username")
    if too_long:
        raise SignInRefused("claim_too_long:" + ",".join(sorted(set(too_long))),
                            "The identity provider sent account details this service cannot "
                            "accept", 400)
    groups = tuple(g for g in user.groups if 0 < len(g) <= MAX_GROUP)[:MAX_GROUPS]
    return ExternalUser(provider=user.provider, subject=user.subject, username=username,
                        email=user.email, full_name=clean_display_name(user.full_name),
                        groups=groups, username_verified=user.username_verified)


class SignInRefused(Exception):
    """The sign-in cannot complete (bad state, provider refusal, invalid token)."""

    def __init__(self, reason: str, message: str, status: int = 401):
        super().__init__(reason)
        self.reason, self.message, self.status = reason, message, status


class ProviderUnavailable(Exception):
    """The provider could not be reached or answered garbage."""


# --- login state in Redis -------------------------------------------------------------------


def _state_key(state: str) -> str:
    return redis_key("oauth-state", sha256_hex(state))


def begin(redirect_uri: str, ui: bool = False) -> tuple[str, str]:
    """Start a sign-in: returns (provider authorization URL, browser-binding cookie value).

    ``ui``: started by the web UI (``POST /api/auth/login``): the callback hands the browser
    back to the UI with a UI-session token."""
    provider = get_provider()
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    nonce = secrets.token_urlsafe(24)
    binding = secrets.token_urlsafe(32)
    url = provider.authorization_url(redirect_uri, state, verifier, nonce)
    record = {"provider": provider.name, "verifier": verifier, "nonce": nonce,
              "binding": sha256_hex(binding), "redirect_uri": redirect_uri, "ui": ui}
    try:
        redis_client().set(_state_key(state), json.dumps(record),
                           ex=current_app.config["OAUTH_STATE_TTL_SECONDS"], nx=True)
    except redis.RedisError:
        raise ServiceUnavailable("Sign-in is unavailable, retry shortly",
                                 headers={"Retry-After": "5"}) from None
    return url, binding


def take_state(state: str | None, binding: str | None) -> dict:
    """Consume a login state (one use); refuses unknown, expired or foreign states."""
    if not state:
        raise SignInRefused("missing_state", "Invalid or expired state parameter", 400)
    try:
        pipe = redis_client().pipeline(transaction=True)
        pipe.get(_state_key(state))
        pipe.delete(_state_key(state))
        raw, _ = pipe.execute()
    except redis.RedisError:
        raise ServiceUnavailable("Sign-in is unavailable, retry shortly",
                                 headers={"Retry-After": "5"}) from None
    if raw is None:
        raise SignInRefused("invalid_state", "Invalid or expired state parameter", 400)
    record = json.loads(raw)
    if not binding or not secrets.compare_digest(record["binding"], sha256_hex(binding)):
        # The state was issued to another browser: a login-CSRF attempt or a stale tab.
        raise SignInRefused("state_not_bound", "Invalid or expired state parameter", 400)
    if record["provider"] != get_provider().name:
        raise SignInRefused("invalid_state", "Invalid or expired state parameter", 400)
    return record


def complete(code: str, record: dict) -> ExternalUser:
    """Exchange the code and read the user from the provider (claims checked and cleaned)."""
    return get_provider().exchange(code, record)


# --- providers -----------------------------------------------------------------------------


def _config(name: str) -> Any:
    return current_app.config[name]


def _timeout() -> float:
    return float(_config("OAUTH_HTTP_TIMEOUT_SECONDS"))


def is_configured() -> bool:
    return bool(_config("OAUTH_CLIENT_ID") and _config("OAUTH_ISSUER_URL"))


def get_provider() -> OpenShiftProvider | OIDCProvider:
    if not is_configured():
        raise ProviderUnavailable("OAuth is not configured (OAUTH_CLIENT_ID, OAUTH_ISSUER_URL)")
    if _config("OAUTH_PROVIDER") == "oidc":
        return OIDCProvider()
    return OpenShiftProvider()


def _client(scope: str, redirect_uri: str) -> OAuth2Session:
    return OAuth2Session(
        client_id=_config("OAUTH_CLIENT_ID"),
        client_secret=_config("OAUTH_CLIENT_SECRET") or None,
        scope=scope,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )


def _fetch_token(client: OAuth2Session, token_url: str, code: str, verifier: str) -> dict:
    try:
        return dict(client.fetch_token(token_url, code=code, code_verifier=verifier,
                                       grant_type="authorization_code", timeout=_timeout()))
    except OAuthError as exc:
        # invalid_grant: the code expired, was used already, or the verifier does not match.
        raise SignInRefused(f"token_{exc.error or 'error'}", "Authentication failed") from None
    except (requests.RequestException, ValueError) as exc:
        raise ProviderUnavailable(f"token endpoint: {type(exc).__name__}") from None
    finally:
        client.close()


def _get_json(url: str, access_token: str | None = None) -> dict:
    headers = {"Accept": "application/json"}
    if access_token:
        headers["Authorization"] = f"Bearer {access_token}"
    try:
        response = requests.get(url, headers=headers, timeout=_timeout())
    except requests.RequestException as exc:
        raise ProviderUnavailable(f"{urlsplit(url).path}: {type(exc).__name__}") from None
    if response.status_code in (401, 403):
        raise SignInRefused("provider_refused_token", "Authentication failed")
    if response.status_code >= 400:
        raise ProviderUnavailable(f"{urlsplit(url).path}: HTTP {response.status_code}")
    try:
        payload = response.json()
    except ValueError:
        raise ProviderUnavailable(f"{urlsplit(url).path}: answer is not JSON") from None
    if not isinstance(payload, dict):
        raise ProviderUnavailable(f"{urlsplit(url).path}: answer is not an object")
    return payload


class OpenShiftProvider:
    """OpenShift's OAuth server; the user and groups come from the user API (``users/~``)."""

    name = "openshift"
    scope = "user:info user:check-access"

    @property
    def issuer(self) -> str:
        return _config("OAUTH_ISSUER_URL").rstrip("/")

    @property
    def api_url(self) -> str:
        explicit = _config("OPENSHIFT_API_URL")
        if explicit:
            return explicit.rstrip("/")
        # oauth-openshift.apps.<cluster> → api.<cluster>:6443
        parts = urlsplit(self.issuer)
        host = parts.hostname or ""
        if host.startswith("oauth-openshift.apps."):
            host = "api." + host.removeprefix("oauth-openshift.apps.") + ":6443"
            return urlunsplit((parts.scheme, host, "", "", ""))
        return self.issuer

    def authorization_url(self, redirect_uri: str, state: str, verifier: str,
                          nonce: str) -> str:
        client = _client(self.scope, redirect_uri)
        url, _ = client.create_authorization_url(f"{self.issuer}/oauth/authorize", state=state,
                                                 code_verifier=verifier)
        return url

    def exchange(self, code: str, record: dict) -> ExternalUser:
        client = _client(self.scope, record["redirect_uri"])
        token = _fetch_token(client, f"{self.issuer}/oauth/token", code, record["verifier"])
        access_token = token.get("access_token")
        if not access_token:
            raise SignInRefused("no_access_token", "Authentication failed")
        user = _get_json(f"{self.api_url}/apis/user.openshift.io/v1/users/~", access_token)
        metadata = user.get("metadata") or {}
        name, uid = metadata.get("name"), metadata.get("uid")
        if not name or not uid:
            raise ProviderUnavailable("user API answered without metadata.name/uid")
        # The cluster owns user names (unique, set by its identity providers' mapping): they
        # are the OpenShift account itself, so they count as verified.
        return _checked(ExternalUser(
            provider=self.name, subject=str(uid), username=str(name),
            email=str(name) if "@" in str(name) else None,
            full_name=user.get("fullName") or None,
            groups=_groups(user.get("groups")), username_verified=True,
        ), {"name": name, "fullName": user.get("fullName")})


_discovery_cache: dict[str, tuple[float, dict]] = {}
_jwks_cache: dict[str, KeySet] = {}
_cache_lock = threading.Lock()


class OIDCProvider:
    """Any OpenID Connect provider, found through discovery; the id_token is verified."""

    name = "oidc"

    @property
    def issuer(self) -> str:
        return _config("OAUTH_ISSUER_URL").rstrip("/")

    def discovery(self) -> dict:
        with _cache_lock:
            cached = _discovery_cache.get(self.issuer)
        if cached and time.monotonic() - cached[0] < DISCOVERY_TTL_SECONDS:
            return cached[1]
        doc = _get_json(f"{self.issuer}/.well-known/openid-configuration")
        if str(doc.get("issuer", "")).rstrip("/") != self.issuer:
            raise SignInRefused("discovery_issuer_mismatch", "Authentication failed")
        for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not doc.get(field):
                raise ProviderUnavailable(f"discovery document has no {field}")
        with _cache_lock:
            _discovery_cache[self.issuer] = (time.monotonic(), doc)
        return doc

    def end_session_url(self) -> str | None:
        try:
            return self.discovery().get("end_session_endpoint")
        except (ProviderUnavailable, SignInRefused):
            return None

    def authorization_url(self, redirect_uri: str, state: str, verifier: str,
                          nonce: str) -> str:
        client = _client(_config("OIDC_SCOPES"), redirect_uri)
        url, _ = client.create_authorization_url(self.discovery()["authorization_endpoint"],
                                                 state=state, code_verifier=verifier,
                                                 nonce=nonce)
        return url

    def exchange(self, code: str, record: dict) -> ExternalUser:
        doc = self.discovery()
        client = _client(_config("OIDC_SCOPES"), record["redirect_uri"])
        token = _fetch_token(client, doc["token_endpoint"], code, record["verifier"])
        id_token = token.get("id_token")
        if not id_token:
            raise SignInRefused("no_id_token", "Authentication failed")
        claims = self.verify_id_token(id_token, record["nonce"])
        groups = claims.get(_config("OIDC_GROUPS_CLAIM"))
        if groups is None and doc.get("userinfo_endpoint") and token.get("access_token"):
            userinfo = _get_json(doc["userinfo_endpoint"], token["access_token"])
            if userinfo.get("sub") == claims["sub"]:
                groups = userinfo.get(_config("OIDC_GROUPS_CLAIM"))
        # Only a verified email is trusted (kept, matched against INITIAL_ADMIN_USERS);
        # preferred_username is the user's choice: a handle, never a proof of who they are.
        email = claims.get("email") if claims.get("email_verified") is True else None
        email = str(email) if isinstance(email, str) and email else None
        username = claims.get("preferred_username") or email or claims["sub"]
        return _checked(ExternalUser(
            provider=self.name, subject=str(claims["sub"]), username=str(username),
            email=email, full_name=claims.get("name"), groups=_groups(groups),
        ), {"preferred_username": claims.get("preferred_username"), "name": claims.get("name"),
            "email": claims.get("email")})

    def verify_id_token(self, id_token: str, nonce: str) -> dict:
        """Signature (JWKS), issuer, audience, authorized party, expiry and nonce."""
        jwks_uri = self.discovery()["jwks_uri"]
        try:
            try:
                token = jwt.decode(id_token, self._keys(jwks_uri), algorithms=ID_TOKEN_ALGORITHMS)
            except InvalidKeyIdError:  # the provider may have rotated its keys
                token = jwt.decode(id_token, self._keys(jwks_uri, refresh=True),
                                   algorithms=ID_TOKEN_ALGORITHMS)
        except JoseError as exc:
            raise SignInRefused(f"id_token_{exc.error}", "Authentication failed") from None
        client_id = _config("OAUTH_CLIENT_ID")
        registry = jwt.JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY_SECONDS,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        claims = dict(token.claims)
        if isinstance(claims.get("iss"), str):
            claims["iss"] = claims["iss"].rstrip("/")
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise SignInRefused(f"id_token_{exc.error}", "Authentication failed") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != client_id:
            raise SignInRefused("id_token_invalid_azp", "Authentication failed")
        return claims

    def _keys(self, jwks_uri: str, refresh: bool = False) -> KeySet:
        with _cache_lock:
            keys = None if refresh else _jwks_cache.get(jwks_uri)
        if keys is None:
            try:
                keys = KeySet.import_key_set(_get_json(jwks_uri))
            except (JoseError, ValueError, KeyError, TypeError):
                raise ProviderUnavailable("JWKS document is not a key set") from None
            with _cache_lock:
                _jwks_cache[jwks_uri] = keys
        return keys


def _groups(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list):
        return tuple(str(item) for item in value[:MAX_GROUPS * 2])
    return ()


def end_session_url() -> str | None:
    """Where the browser goes to end the provider session too (OIDC only)."""
    if not is_configured() or _config("OAUTH_PROVIDER") != "oidc":
        return None
    return OIDCProvider().end_session_url()


__all__ = ["ExternalUser", "ProviderUnavailable", "SignInRefused", "begin", "complete",
           "end_session_url", "get_provider", "is_configured", "take_state"]
