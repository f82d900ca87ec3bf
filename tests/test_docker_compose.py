"""docker-compose.yaml stays valid, keeps the production topology, takes its secrets from .env, and
runs the auth manager the integration tests run (tests/airflow_cluster.py reads it from this file).
Artifacts: the shared folder by default; with the bucket switch of .env.example, minio and minio-init
(profile `bucket`) and an Airflow connection to them.

Validated by Debian's docker-compose (v1.29, no Docker engine needed), whose `config` prints every
service whatever the profiles: which ones `up` starts is worked out here by compose's own rule."""

import json
import os
import re
import shutil
import subprocess
import sys
from urllib.parse import urlsplit

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


# The S3 credentials: .env.example gives them development defaults, the compose file none.
S3_CREDENTIALS = {
    "IMDB_S3_ACCESS_KEY": "imdb-dev-access-key",
    "IMDB_S3_SECRET_KEY": "imdb-dev-secret-key-not-for-production",
}
BUCKET_SERVICES = ("minio", "minio-init")
BUCKET_ROOT = "s3://imdb-artifacts/artifacts"
FOLDER_ROOT = "/opt/airflow/artifacts"


def example_settings(bucket=False) -> dict[str, str]:
    """.env.example's settings; bucket=True also takes its commented-out bucket switch (the lines
    `#NAME=value`), as a user who uncomments them, replacing the folder's IMDB_ARTIFACT_ROOT."""
    settings = {}
    for line in (PROJECT / ".env.example").read_text().splitlines():
        switch = re.fullmatch(r"#([A-Z_]+=\S+)", line)
        if switch and bucket:
            line = switch[1]
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            settings[name] = value
    return settings


def env_file(tmp_path, skip=(), bucket=False, **overrides):
    settings = example_settings(bucket)
    for name in SECRETS:
        if name not in skip:
            settings[name] += "test-value"
    settings |= overrides
    path = tmp_path / (".env.bucket" if bucket else ".env")
    path.write_text("".join(f"{name}={value}\n" for name, value in settings.items()))
    return path


def compose_environment() -> dict[str, str]:
    """This process's environment less what compose would take before the .env file: the variables the
    compose file names (the test session sets IMDB_ARTIFACT_ROOT, say) and compose's own COMPOSE_*."""
    named = set(re.findall(r"\$\{(\w+)", (PROJECT / "docker-compose.yaml").read_text()))
    return {k: v for k, v in os.environ.items() if k not in named and not k.startswith("COMPOSE_")}


def compose_config(compose_file, env, *args, profiles=()):
    options = [arg for profile in profiles for arg in ("--profile", profile)]
    return subprocess.run(
        [COMPOSE, "--env-file", str(env), "-f", str(compose_file), *options, "config", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        env=compose_environment(),
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


def render(tmp_path, bucket=False, **overrides) -> dict:
    """The compose file as compose reads it with .env.example (and, for bucket=True, its bucket switch
    and the profiles it names, as COMPOSE_PROFILES does)."""
    env = env_file(tmp_path, bucket=bucket, **overrides)
    profiles = [p for p in example_settings(bucket).get("COMPOSE_PROFILES", "").split(",") if p]
    if bucket:
        assert profiles == ["bucket"], "the bucket switch of .env.example must set COMPOSE_PROFILES=bucket"
    result = compose_config(PROJECT / "docker-compose.yaml", env, profiles=profiles)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    config["active_profiles"] = set(profiles)
    return config


def started(config) -> set[str]:
    """The services `docker compose up` starts: compose's rule, those without profiles and those with an
    active one; it refuses to start when one of them depends on a service left out, so check that too."""
    services = config["services"]
    on = {
        name
        for name, s in services.items()
        if not s.get("profiles") or config["active_profiles"] & set(s["profiles"])
    }
    for name in on:
        left_out = set(services[name].get("depends_on") or ()) - on
        assert not left_out, f"{name} depends on {left_out}, which this mode does not start"
    return on


def airflow_services(config) -> dict:
    return {name: s for name, s in config["services"].items() if name.startswith("airflow-")}


def mounts(service) -> dict[str, str]:
    """Container path -> source of each mount (v1 prints "source:target[:mode]", v2 a mapping)."""
    pairs = [
        (v["target"], v.get("source", "")) if isinstance(v, dict) else tuple(v.split(":")[1::-1])
        for v in service.get("volumes") or ()
    ]
    return dict(pairs)


def test_bucket_services_are_in_the_bucket_profile_pinned_and_healthy(tmp_path):
    config = render(tmp_path, bucket=True)
    services = config["services"]
    for name in BUCKET_SERVICES:
        assert services[name]["profiles"] == ["bucket"], name
        image, _, tag = services[name]["image"].partition(":")
        assert image in ("minio/minio", "minio/mc"), name
        assert re.fullmatch(r"RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", tag), (
            f"{name}: pin a release tag, not {tag!r}"
        )
    minio, init = services["minio"], services["minio-init"]
    assert "healthcheck" in minio
    for port in minio["ports"]:  # published on this machine only (v1: "ip:host:container/tcp", v2: a mapping)
        assert (port.get("host_ip") if isinstance(port, dict) else port.split(":")[0]) == "127.0.0.1", port
    assert mounts(minio)["/data"] in config["volumes"], minio["volumes"]  # a named volume, no host folder
    assert init["depends_on"] == {"minio": {"condition": "service_healthy"}}
    assert "restart" not in init  # a one-shot job


def test_folder_mode_starts_no_bucket_service_and_keeps_the_shared_folder(tmp_path):
    config = render(tmp_path)
    assert not config["active_profiles"]
    on = started(config)
    assert not on & set(BUCKET_SERVICES)
    assert set(airflow_services(config)) - {"airflow-cli"} <= on
    for name, service in airflow_services(config).items():
        assert service["environment"]["IMDB_ARTIFACT_ROOT"] == FOLDER_ROOT, name
        assert FOLDER_ROOT in mounts(service), name


def test_bucket_mode_starts_minio_and_points_every_airflow_service_at_the_bucket(tmp_path):
    config = render(tmp_path, bucket=True)
    on = started(config)
    assert set(BUCKET_SERVICES) <= on
    for name, service in airflow_services(config).items():
        assert service["environment"]["IMDB_ARTIFACT_ROOT"] == BUCKET_ROOT, name
    assert config["services"]["minio-init"]["environment"]["IMDB_ARTIFACT_ROOT"] == BUCKET_ROOT


@pytest.mark.parametrize("bucket", [False, True], ids=["folder", "bucket"])
def test_airflow_services_get_the_artifact_connection_and_the_sdk_environment(tmp_path, monkeypatch, bucket):
    """Airflow itself reads the connection (the environment-variable secrets backend, then the Amazon
    provider's view of it, which gives tasks their S3 file system): an aws connection to minio's API."""
    from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper
    from airflow.secrets.environment_variables import EnvironmentVariablesBackend

    config = render(tmp_path, bucket=bucket)
    minio = config["services"]["minio"]
    # Container ports: v1 prints "127.0.0.1:9000:9000/tcp", v2 {"target": 9000, ...}.
    minio_ports = {
        int(p["target"]) if isinstance(p, dict) else int(p.split("/")[0].rsplit(":", 1)[-1])
        for p in minio["ports"]
    }
    for name, service in airflow_services(config).items():
        environment = service["environment"]
        conn_id = environment["IMDB_ARTIFACT_CONN_ID"]
        assert conn_id == "imdb_artifacts", name
        variable = f"AIRFLOW_CONN_{conn_id.upper()}"
        assert set(json.loads(environment[variable])) == {"conn_type", "login", "password", "extra"}, name
        monkeypatch.setenv(variable, environment[variable])
        connection = EnvironmentVariablesBackend().get_connection(conn_id)
        assert connection.conn_type == "aws", name
        endpoint = AwsConnectionWrapper(connection).get_service_endpoint_url("s3")
        assert urlsplit(endpoint).hostname == "minio" and urlsplit(endpoint).port in minio_ports, endpoint
        assert (connection.login, connection.password) == tuple(S3_CREDENTIALS.values()), name
        assert connection.extra_dejson["region_name"] == environment["AWS_DEFAULT_REGION"] == "us-east-1"
        # The command-line tools: the same bucket through the SDK's own variables.
        assert environment["AWS_ENDPOINT_URL"] == endpoint, name
        assert (environment["AWS_ACCESS_KEY_ID"], environment["AWS_SECRET_ACCESS_KEY"]) == tuple(
            S3_CREDENTIALS.values()
        ), name
        assert (
            minio["environment"]["MINIO_ROOT_USER"],
            minio["environment"]["MINIO_ROOT_PASSWORD"],
        ) == tuple(S3_CREDENTIALS.values())
        # Each container's own cache: a path in the container, on no mounted volume.
        cache = environment["IMDB_LOCAL_CACHE"]
        assert os.path.isabs(cache), name
        assert not any(cache == m or cache.startswith(m.rstrip("/") + "/") for m in mounts(service)), (
            name,
            cache,
        )


def test_no_credential_but_the_marked_development_defaults(tmp_path):
    """.env.example holds no secret but the S3 development defaults, marked as such; the compose file
    none at all: rendered without a .env, every credential it hands a service is empty."""
    example = (PROJECT / ".env.example").read_text()
    credential = re.compile(r"PASSWORD|SECRET|ACCESS_KEY|_KEY$|TOKEN|ROOT_USER")
    given = {
        name: value
        for name, value in example_settings(bucket=True).items()
        if credential.search(name) and value
    }
    assert given == S3_CREDENTIALS
    block = example[: example.index("IMDB_S3_ACCESS_KEY=")].rsplit("\n\n", 1)[-1].splitlines()[-6:]
    assert any("DEVELOPMENT DEFAULTS, NOT SECRETS" in line for line in block), block
    text = (PROJECT / "docker-compose.yaml").read_text()
    for value in [*S3_CREDENTIALS.values(), "minioadmin"]:
        assert value not in text, value

    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = compose_config(PROJECT / "docker-compose.yaml", empty, profiles=["bucket"])
    assert result.returncode == 0, result.stderr
    for name, service in yaml.safe_load(result.stdout)["services"].items():
        environment = service.get("environment") or {}
        for key, value in environment.items():
            if credential.search(key):
                assert value in ("", None), (name, key, value)
        if "AIRFLOW_CONN_IMDB_ARTIFACTS" in environment:
            connection = json.loads(environment["AIRFLOW_CONN_IMDB_ARTIFACTS"])
            assert connection["login"] == connection["password"] == "", name


def shell_script(service) -> str:
    # `config` prints compose syntax, where $$ stands for a literal $: unescape it as compose does.
    assert service["command"][0] == "-c"
    return service["command"][1].replace("$$", "$")


def run_minio_init(tmp_path, **environment):
    """minio-init's script with a stand-in `mc` that records its arguments."""
    config = render(tmp_path, bucket=True)
    init = config["services"]["minio-init"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / "mc-calls"
    (bin_dir / "mc").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    (bin_dir / "mc").chmod(0o755)
    env = {**{k: str(v or "") for k, v in init["environment"].items()}, **environment}
    result = subprocess.run(
        [
            init["entrypoint"][0] if isinstance(init["entrypoint"], list) else init["entrypoint"],
            "-c",
            shell_script(init),
        ],
        env={**env, "PATH": f"{bin_dir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result, calls.read_text().splitlines() if calls.exists() else []


def test_minio_init_creates_the_bucket_of_the_artifact_root(tmp_path):
    result, calls = run_minio_init(tmp_path)
    assert result.returncode == 0, result.stderr
    user, password = S3_CREDENTIALS.values()
    assert calls == [
        f"alias set local http://minio:9000 {user} {password}",
        "mb --ignore-existing local/imdb-artifacts",
    ]


@pytest.mark.parametrize(
    ("environment", "says"),
    [
        ({"IMDB_ARTIFACT_ROOT": FOLDER_ROOT}, "IMDB_ARTIFACT_ROOT is /opt/airflow/artifacts"),
        ({"MINIO_ROOT_PASSWORD": ""}, "IMDB_S3_SECRET_KEY is empty"),
    ],
    ids=["folder-root", "no-secret"],
)
def test_minio_init_refuses_a_folder_root_or_empty_credentials(tmp_path, environment, says):
    result, calls = run_minio_init(tmp_path, **environment)
    assert result.returncode == 1
    assert says in result.stderr
    assert calls == []


def run_airflow_init(tmp_path, bucket, **environment):
    """airflow-init's script up to Airflow's entrypoint (which it would exec), its folders under tmp_path."""
    config = render(tmp_path, bucket=bucket)
    init = config["services"]["airflow-init"]
    script = shell_script(init)
    assert script.count("/opt/airflow/") >= 4 and "exec /entrypoint " in script
    script = script.replace("/opt/airflow/", f"{tmp_path}/opt/").replace(
        "exec /entrypoint ", "exec echo entrypoint: "
    )
    env = {k: str(v or "") for k, v in init["environment"].items()}
    python_dir = os.path.dirname(sys.executable)  # the container's python has boto3: so has this one
    return subprocess.run(
        ["bash", "-c", script],
        env={**env, **environment, "PATH": f"{python_dir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_airflow_init_waits_for_the_bucket_in_bucket_mode_only(tmp_path, s3_server):
    """Every Airflow service waits for airflow-init, which in bucket mode waits for the bucket: so no
    task runs before minio-init has made it, and compose needs no dependency on an optional service."""
    s3 = {**s3_server.env, "IMDB_BUCKET_WAIT_SECONDS": "0"}
    missing = run_airflow_init(tmp_path, bucket=True, **s3)
    assert missing.returncode == 1, missing.stdout
    assert (
        "the bucket imdb-artifacts of IMDB_ARTIFACT_ROOT does not answer at " + s3["AWS_ENDPOINT_URL"]
        in missing.stderr
    )
    assert "Not Found" in missing.stderr or "404" in missing.stderr, missing.stderr

    s3_server.create_bucket("imdb-artifacts")
    try:
        there = run_airflow_init(tmp_path, bucket=True, **s3)
    finally:
        s3_server.reset()
    assert there.returncode == 0, there.stderr
    assert "the bucket imdb-artifacts answers" in there.stdout
    assert "entrypoint: airflow pools set imdb_training" in there.stdout

    # Folder mode asks no bucket, even with no S3 server anywhere.
    folder = run_airflow_init(
        tmp_path, bucket=False, AWS_ENDPOINT_URL="http://127.0.0.1:9", IMDB_BUCKET_WAIT_SECONDS="0"
    )
    assert folder.returncode == 0, folder.stderr
    assert "bucket" not in folder.stdout + folder.stderr


def test_compose_file_is_valid_in_bucket_mode_without_env(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = compose_config(PROJECT / "docker-compose.yaml", empty, "-q", profiles=["bucket"])
    assert result.returncode == 0, result.stderr


def test_production_doc_names_the_bucket_switch_of_env_example():
    doc = (PROJECT / "docs" / "production.md").read_text()
    switch = re.findall(r"^#([A-Z_]+=\S+)$", (PROJECT / ".env.example").read_text(), flags=re.MULTILINE)
    assert sorted(switch) == ["COMPOSE_PROFILES=bucket", f"IMDB_ARTIFACT_ROOT={BUCKET_ROOT}"]
    for line in switch:
        assert line in doc, line
