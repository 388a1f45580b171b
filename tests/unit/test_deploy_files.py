import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def test_compose_parses_and_runs_the_procfile_commands():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("postgres", "redis", "litellm", "web", "worker", "beat", "flower", "migrate"):
        assert name in services, name
    for name, command in _procfile().items():
        assert services[name]["command"] == command, name


def test_litellm_service_uses_the_repo_config():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    volumes = compose["services"]["litellm"]["volumes"]
    assert any(v.startswith("./config/litellm.yaml") for v in volumes)
    assert (ROOT / "config/litellm.yaml").exists()


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci/run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make run" in readme


def test_compose_puts_the_upstream_web_ui_in_front_of_the_web_service():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    frontend = services["frontend"]
    image, _, tag = frontend["image"].rpartition(":")
    assert image == "quay.io/rh-aiservices-bu/litemaas-frontend"
    assert re.fullmatch(r"\d+\.\d+\.\d+", tag), "pinned to a release, not a moving tag"
    assert frontend["environment"]["BACKEND_URL"] == "http://web:8080"
    assert "8080:8080" in services["web"]["ports"]
    published = frontend["ports"][0].split(":")[0]
    app_env = services["web"]["environment"]
    assert f"localhost:{published}}}" in app_env["FRONTEND_URL"]
    assert f"localhost:{published}/api/auth/callback}}" in app_env["OAUTH_CALLBACK_URL"]


def test_browsers_reach_only_litellms_openai_routes():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert "ports" not in services["litellm"]
    public = services["litellm-public"]
    assert any(v.startswith("./config/litellm-public.nginx.conf") for v in public["volumes"])
    conf = (ROOT / "config/litellm-public.nginx.conf").read_text()
    locations = re.findall(r"location\s+(\S+)\s*\{([^}]*)\}", conf)
    assert [path for path, body in locations if "proxy_pass" in body] == ["/v1/"]
    published = public["ports"][0].split(":")[0]
    assert f"localhost:{published}}}" in services["web"]["environment"]["LITELLM_PUBLIC_URL"]
