"""docker-compose.yaml stays valid, keeps the production topology, takes its secrets from .env, and
runs the auth manager the integration tests run (tests/airflow_cluster.py reads it from this file)."""

import shutil
import subprocess

import pytest
import yaml
from stage_runs import PROJECT

COMPOSE = shutil.which("docker-compose")
pytestmark = pytest.mark.skipif(
    COMPOSE is None,
    reason="docker-compose not installed (apt-get install docker-compose); .ci/run installs it",
)
SECRETS = [
    "_AIRFLOW_WWW_USER_PASSWORD",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY",
    "POSTGRES_PASSWORD",
]


def env_file(tmp_path, skip=()):
    lines = [
        line
        for line in (PROJECT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    filled = [
        f"{line}test-value" if line.split("=")[0] in SECRETS and line.split("=")[0] not in skip else line
        for line in lines
    ]
    path = tmp_path / ".env"
    path.write_text("\n".join(filled) + "\n")
    return path


def compose_config(compose_file, env, *args):
    return subprocess.run(
        [COMPOSE, "--env-file", str(env), "-f", str(compose_file), "config", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        timeout=60,
    )


def test_compose_file_is_valid_with_the_documented_env(tmp_path):
    result = compose_config(PROJECT / "docker-compose.yaml", env_file(tmp_path), "-q")
    assert result.returncode == 0, result.stderr


def test_production_topology(tmp_path):
    config = yaml.safe_load(compose_config(PROJECT / "docker-compose.yaml", env_file(tmp_path)).stdout)
    services = config["services"]
    assert {
        "postgres",
        "redis",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
        "airflow-init",
    } <= set(services)
    worker = services["airflow-worker"]
    assert worker["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert worker["environment"]["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    assert "container_name" not in worker  # scalable with --scale airflow-worker=N
    for name in ("postgres", "redis", "airflow-apiserver", "airflow-scheduler", "airflow-worker"):
        assert "healthcheck" in services[name], name
    mounts = {volume.split(":")[1] for volume in worker["volumes"]}  # compose v1 prints host:container:mode
    assert {
        "/opt/airflow/dags",
        "/opt/imdb-sentiment/plugins",
        "/opt/imdb-sentiment/include",
        "/opt/airflow/artifacts",
    } <= mounts


def test_every_airflow_service_runs_the_auth_manager_the_tests_run(tmp_path):
    from airflow_cluster import AUTH_MANAGER, FAB

    config = yaml.safe_load(compose_config(PROJECT / "docker-compose.yaml", env_file(tmp_path)).stdout)
    airflow_services = {name: s for name, s in config["services"].items() if name.startswith("airflow-")}
    assert len(airflow_services) >= 7
    for name, service in airflow_services.items():
        assert service["environment"]["AIRFLOW__CORE__AUTH_MANAGER"] == AUTH_MANAGER == FAB, name
    # The image installs requirements.txt, which must bring that auth manager's provider, pinned.
    pins = (PROJECT / "requirements.txt").read_text().splitlines()
    assert any(line.startswith("apache-airflow-providers-fab==") for line in pins)


def test_compose_file_is_valid_as_checked_out_without_env(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    assert compose_config(PROJECT / "docker-compose.yaml", empty, "-q").returncode == 0


def init_script(tmp_path, skip=()) -> tuple[str, dict]:
    config = yaml.safe_load(compose_config(PROJECT / "docker-compose.yaml", env_file(tmp_path, skip)).stdout)
    init = config["services"]["airflow-init"]
    # `config` prints compose syntax, where $$ stands for a literal $: unescape it as compose does.
    return init["command"][1].replace("$$", "$"), init["environment"]


@pytest.mark.parametrize("secret", SECRETS)
def test_init_refuses_to_start_while_a_secret_is_empty(tmp_path, secret):
    """Every Airflow service waits for airflow-init, which stops at once on an empty secret."""
    script, environment = init_script(tmp_path, skip={secret})
    result = subprocess.run(
        ["bash", "-c", script],
        env={k: "" if v is None else str(v) for k, v in environment.items()},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "is empty: copy .env.example to .env" in result.stderr


def test_secrets_have_no_defaults_in_the_compose_file():
    text = (PROJECT / "docker-compose.yaml").read_text()
    for secret in SECRETS:
        assert f"${{{secret}:-}}" in text, secret


def test_a_broken_compose_file_fails_validation(tmp_path):
    broken = tmp_path / "docker-compose.yaml"
    broken.write_text(
        (PROJECT / "docker-compose.yaml")
        .read_text()
        .replace("    command: scheduler\n", "    command: scheduler\n    restart_policy: sometimes\n")
    )
    assert compose_config(broken, env_file(tmp_path), "-q").returncode != 0
