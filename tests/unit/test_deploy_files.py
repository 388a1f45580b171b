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
