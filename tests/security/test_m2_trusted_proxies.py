"""M2: behind a reverse proxy (TRUSTED_PROXIES=N) the client IP and scheme come from the
forwarded headers of the last N hops: every client gets its own anonymous rate-limit bucket,
the audit trail records its address and HSTS is sent behind TLS termination. Without the
setting, X-Forwarded-* are ignored, so a client cannot spoof them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog
from config.settings import ConfigError
from tests.support.apps import extra_app

PROXY = {"REMOTE_ADDR": "10.0.0.2"}
PATH = "/api/v1/auth/config"


def forwarded(ip: str, proto: str = "http") -> dict[str, str]:
    return {"X-Forwarded-For": ip, "X-Forwarded-Proto": proto}


def test_without_trusted_proxies_spoofed_forwarded_for_is_ignored(app, settings):
    with extra_app(settings, RATE_LIMIT_ANONYMOUS=2) as other:
        client = other.test_client()
        codes = [client.get(PATH, headers=forwarded(f"198.51.100.{n}"),
                            environ_base=PROXY).status_code for n in range(3)]
        assert codes == [200, 200, 429]  # one bucket: the peer's address, whatever the header


def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(app, settings):
    with extra_app(settings, RATE_LIMIT_ANONYMOUS=2, TRUSTED_PROXIES=1) as other:
        client = other.test_client()
        first = [client.get(PATH, headers=forwarded("203.0.113.5"), environ_base=PROXY)
                 .status_code for _ in range(3)]
        assert first == [200, 200, 429]
        # another client behind the same proxy is not blocked by the first one
        assert client.get(PATH, headers=forwarded("203.0.113.6"),
                          environ_base=PROXY).status_code == 200
        # a client writing its own X-Forwarded-For: the proxy appends the real address, and
        # only the last (trusted) hop counts, so the spoofed value changes nothing
        spoofed = client.get(PATH, headers=forwarded("203.0.113.6, 203.0.113.5"),
                             environ_base=PROXY)
        assert spoofed.status_code == 429


def test_audit_records_the_forwarded_client_address(app, settings):
    with extra_app(settings, TRUSTED_PROXIES=1) as other:
        response = other.test_client().post("/api/v1/auth/login", json={"username": "user"},
                                          headers=forwarded("203.0.113.9"), environ_base=PROXY)
        assert response.status_code == 200
        with other.app_context():
            ips = db.session.scalars(select(AuditLog.ip_address)
                                     .where(AuditLog.action == "LOGIN")).all()
        assert ips == ["203.0.113.9"]


def test_hsts_behind_tls_termination_only_with_trusted_proxies(app, settings):
    with extra_app(settings, TRUSTED_PROXIES=1) as other:
        response = other.test_client().get(PATH, headers=forwarded("203.0.113.10", "https"),
                                         environ_base=PROXY)
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    with extra_app(settings) as other:
        response = other.test_client().get(PATH, headers=forwarded("203.0.113.10", "https"),
                                         environ_base=PROXY)
        assert "Strict-Transport-Security" not in response.headers


def test_trusted_proxies_must_be_a_small_hop_count(app, settings):
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        settings.with_overrides(TRUSTED_PROXIES=-1).validate()
