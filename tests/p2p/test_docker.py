"""docker-compose.yml, its production file, the Dockerfile and .dockerignore, read as files
(the test machine has no Docker): start order, health, exposure, secrets, image contents."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("migrate", "seed", "web", "worker", "beat")


def _compose(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def test_application_waits_for_healthy_services_and_finished_migrations():
    services = _compose("docker-compose.yml")["services"]
    for name in ("seed", "web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["db"] == {"condition": "service_healthy"}, name
        assert depends["redis"] == {"condition": "service_healthy"}, name
    assert "migrate" in services["migrate"]["command"]
    assert "DATABASE_ROLE=owner" in services["migrate"]["command"]
    assert "scripts/db_roles.py" in services["migrate"]["command"]
    # Postgres answers on TCP only once initialisation is over.
    assert "-h 127.0.0.1" in " ".join(services["db"]["healthcheck"]["test"])
    assert services["web"]["healthcheck"]["test"][:3] == ["CMD", "python", "scripts/healthcheck.py"]
    for name in ("db", "redis", "web", "worker", "beat"):
        assert services[name]["restart"] == "unless-stopped", name
    for name in ("migrate", "seed"):
        assert services[name]["restart"] == "no", name


def test_one_image_built_once_with_the_env_file_and_the_app_role():
    services = _compose("docker-compose.yml")["services"]
    assert [name for name in services if "build" in services[name]] == ["migrate"]
    images = {services[name]["image"] for name in APP_SERVICES}
    assert images == {"p2p:${P2P_IMAGE_TAG:-dev}"}
    for name in APP_SERVICES:
        assert services[name]["env_file"] == [{"path": ".env", "required": False}], name
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://p2p_app:")
    assert "DATABASE_ADMIN_URL" not in services["web"]["environment"]


def test_nothing_is_published_beyond_this_machine():
    services = _compose("docker-compose.yml")["services"]
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)


def test_production_file_requires_secrets_and_seeds_nothing():
    production = _compose("docker-compose.production.yml")["services"]
    assert production["seed"]["profiles"] == ["demo"]
    for name in ("migrate", "web", "worker", "beat"):
        env = production[name]["environment"]
        assert env["DJANGO_ENV"] == "production", name
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?"), name
        assert env["ALLOWED_HOSTS"].startswith("${ALLOWED_HOSTS:?"), name
        assert "${P2P_APP_DB_PASSWORD:?" in env["DATABASE_URL"], name
    assert production["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_image_holds_the_application_only():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for path in ("tests", "bench", "node_modules", ".env", ".venv", ".git"):
        assert path in ignored, path
    dockerfile = (ROOT / "Dockerfile").read_text()
    final_stage = dockerfile.split("\nFROM ")[-1]
    assert final_stage.startswith("python:3.11-slim")
    # Node and npm only in the build stage; the final image gets the built assets.
    assert "npm" not in final_stage and "nodejs" not in final_stage
    assert "COPY --from=assets /build/node_modules/htmx.org/dist" in final_stage
    assert "USER p2p" in final_stage
