"""compose/ is valid Compose and wires settings the services really read — checked without Docker.

The schema is the Compose Specification's own (vendored from compose-spec/compose-spec
``schema/compose-spec.json`` into ``schemas/``).
"""

import json
import os
import re
import shutil
import subprocess

import jsonschema
import pytest
import yaml

from switchboard.common.config import TOPIC_CONFIGS
from switchboard.common.topics import ALL_TOPICS, CONTROL_CONFIG, UNOWNED_EVENTS, dlq

VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")
# Compose service → its process's /health port (the Prometheus targets too).
APP_PORTS = {
    "ingress": 8000,
    "history-worker": 8001,
    "history-api": 8004,
    "dialer-worker": 8005,
    "dialer-api": 8002,
    "ai-worker": 8003,
    "ai-api": 8006,
    "ai-voice": 8008,
    "provider-sim": 8010,
    "lag-exporter": 8011,
    "control": 8007,
}


BROKERS = ["kafka-1:9092", "kafka-2:9092", "kafka-3:9092"]


@pytest.fixture(scope="module")
def compose(repo):
    return yaml.safe_load((repo / "compose/docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def env_example(repo) -> dict[str, str]:
    values = {}
    for line in (repo / "compose/.env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


def interpolate(value: str, env: dict[str, str]) -> str:
    return VARIABLE.sub(lambda m: env[m.group(1)], value)


def test_compose_matches_the_compose_specification_schema(repo, compose):
    schema = json.loads((repo / "tests/deploy/schemas/compose-spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_the_schema_rejects_a_broken_file(repo, compose):
    """Guards against a schema that accepts anything."""
    schema = json.loads((repo / "tests/deploy/schemas/compose-spec.json").read_text())
    broken = json.loads(json.dumps(compose))
    broken["services"]["ingress"]["depends_on"]["kafka-1"] = {"condition": "service_happy"}
    broken["services"]["ingress"]["restart_policy"] = "always"
    assert len(list(jsonschema.Draft7Validator(schema).iter_errors(broken))) >= 2


def test_every_variable_is_documented_in_env_example_and_used(repo, env_example):
    text = (repo / "compose/docker-compose.yml").read_text()
    used = set(VARIABLE.findall(text))
    assert used - set(env_example) == set(), "referenced but not in .env.example"
    assert set(env_example) - used == set(), "documented but never used"
    blocks = (repo / "compose/.env.example").read_text().split("\n\n")
    for block in blocks:
        lines = block.strip().splitlines()
        for index, line in enumerate(lines):
            if line and not line.startswith("#"):
                assert index > 0 and lines[index - 1].startswith(("#", line[:3])), line


def test_switchboard_variables_exist_in_the_service_settings(
    compose, image_package, settings_of, has_setting
):
    checked = 0
    for name, service in compose["services"].items():
        image = service.get("image", "")
        if not image.startswith("switchboard-"):
            continue
        cls = settings_of(image_package(image))
        variables = [v for v in service.get("environment", {}) if v.startswith("SWITCHBOARD_")]
        unknown = [v for v in variables if not has_setting(cls, v)]
        assert unknown == [], f"{name}: {unknown} are not fields of {cls.__name__}"
        checked += len(variables)
    assert checked > 100


def test_env_example_values_load_into_each_service_settings(
    compose, env_example, image_package, settings_of, monkeypatch
):
    """The JSON-valued settings of .env.example parse with the real pydantic models."""
    for name in list(os.environ):
        if name.startswith("SWITCHBOARD_"):
            monkeypatch.delenv(name)
    for name, service in compose["services"].items():
        image = service.get("image", "")
        if not image.startswith("switchboard-"):
            continue
        environment = {
            k: interpolate(str(v), env_example) for k, v in service["environment"].items()
        }
        with monkeypatch.context() as patch:
            for key, value in environment.items():
                patch.setenv(key, value)
            settings = settings_of(image_package(image))()
        assert settings.kafka.bootstrap_servers == ",".join(BROKERS), name
        assert (settings.kafka.replication_factor, settings.kafka.min_insync_replicas) == (3, 2)


def test_images_are_pinned(compose):
    built = {s["image"] for s in compose["services"].values() if "build" in s}
    for name, service in compose["services"].items():
        image = service["image"]
        repository, _, tag = image.partition(":")
        assert tag and tag != "latest", f"{name}: {image}"
        if repository.startswith("switchboard-"):
            assert tag == "${SWITCHBOARD_VERSION}"
            assert image in built, f"{name}: no service builds {image}"
        else:
            assert re.match(r"v?\d+(\.\d+)+", tag), f"{name}: pin a version, not {tag}"


def test_dependencies_wait_for_health_or_completion(compose):
    services = compose["services"]
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            condition = rule["condition"]
            assert condition in {
                "service_healthy",
                "service_completed_successfully",
                "service_started",
            }
            if condition == "service_healthy":
                assert "test" in services[dependency].get("healthcheck", {}), (name, dependency)
            if condition == "service_started":
                # only the telemetry pipeline (distroless collector, and the trace backend it
                # feeds) is not health-checked: nothing waits for traces to be stored
                assert dependency in {"otel-collector", "jaeger"}, (name, dependency)


def test_app_services_are_hardened_and_health_checked(compose):
    for name, port in APP_PORTS.items():
        service = compose["services"][name]
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        assert service["user"] == "10001:10001"
        assert "no-new-privileges:true" in service["security_opt"]
        test = service["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"] and f":{port}/health" in test[3], name


def test_migrations_run_before_the_services_of_their_database(compose):
    services = compose["services"]
    for owner in ("history", "dialer"):
        migrate = services[f"{owner}-migrate"]
        assert migrate["command"] == ["migrate"] and migrate["restart"] == "no"
        for process in ("worker", "api"):
            rule = services[f"{owner}-{process}"]["depends_on"][f"{owner}-migrate"]
            assert rule == {"condition": "service_completed_successfully"}


def test_token_apis_share_their_rate_limit_in_redis(compose):
    """The APIs taking the control plane's tokens may be scaled: one per-tenant limit, in Redis."""
    services = compose["services"]
    for name in ("history-api", "dialer-api", "ai-api"):
        service = services[name]
        env = service["environment"]
        assert env["SWITCHBOARD_AUTH__RATE_LIMIT_STORE"] == "redis", name
        assert env["SWITCHBOARD_REDIS__URL"].startswith("redis://redis:6379/"), name
        assert service["depends_on"]["redis"] == {"condition": "service_healthy"}, name


def test_simulator_is_behind_the_sim_profile(compose):
    profiled = {n for n, s in compose["services"].items() if s.get("profiles")}
    assert profiled == {"provider-sim"}
    assert compose["services"]["provider-sim"]["profiles"] == ["sim"]


def test_ingress_spool_is_a_named_volume(compose):
    ingress = compose["services"]["ingress"]
    spool = ingress["environment"]["SWITCHBOARD_SPOOL__DIRECTORY"]
    assert f"ingress-spool:{spool}" in ingress["volumes"]
    assert "ingress-spool" in compose["volumes"]


def test_topic_table_covers_every_topic_and_its_dead_letters(topics_table):
    expected = set(ALL_TOPICS) | {dlq(t) for t in ALL_TOPICS} | {CONTROL_CONFIG, UNOWNED_EVENTS}
    assert set(topics_table["topics"]) == expected
    # the control plane's topic is compacted (its followers read every key's last value)
    assert topics_table["topics"][CONTROL_CONFIG]["cleanup_policy"] == "compact"
    for topic, scaling_topic in topics_table["scaling"].items():
        assert scaling_topic in ALL_TOPICS, topic


def test_topic_init_script_creates_the_table_exactly(repo, topics_table, compose):
    init = compose["services"]["topic-init"]
    assert init["entrypoint"] == ["sh", "/deploy/create-topics.sh"]
    assert "../deploy:/deploy:ro" in init["volumes"]
    result = subprocess.run(
        ["sh", str(repo / "deploy/create-topics.sh")],
        env={
            "PATH": os.environ["PATH"],
            "KAFKA_TOPICS_BIN": "echo",
            "TOPICS_TABLE": str(repo / "deploy/topics.yaml"),
        },
        capture_output=True,
        text=True,
        check=True,
    )
    created = {}
    for line in result.stdout.splitlines():
        words = line.split()
        assert words[words.index("--replication-factor") + 1] == "3"
        assert "--if-not-exists" in words
        topic = words[words.index("--topic") + 1]
        configs = dict(words[i + 1].split("=") for i, w in enumerate(words) if w == "--config")
        assert configs.pop("min.insync.replicas") == "2"
        created[topic] = (int(words[words.index("--partitions") + 1]), configs)
    expected = {
        name: (
            row["partitions"],
            {"cleanup.policy": "compact", "segment.ms": str(int(TOPIC_CONFIGS["segment.ms"]))}
            if row.get("cleanup_policy") == "compact"
            else {"retention.ms": str(row["retention_hours"] * 3_600_000)},
        )
        for name, row in topics_table["topics"].items()
    }
    assert created == expected


def test_prometheus_scrapes_every_process(repo):
    config = yaml.safe_load((repo / "compose/prometheus/prometheus.yml").read_text())
    targets = {
        job["job_name"]: {target for group in job["static_configs"] for target in group["targets"]}
        for job in config["scrape_configs"]
    }
    # The lag exporter gives the consumer lag the dashboard and the lag alerts query; all but the
    # simulator (a profile) are job "switchboard", which SwitchboardTargetDown watches.
    assert targets == {
        "switchboard": {f"{n}:{p}" for n, p in APP_PORTS.items() if n != "provider-sim"},
        "provider-sim": {"provider-sim:8010"},
    }
    assert all(job["metrics_path"] == "/metrics" for job in config["scrape_configs"])


def test_prometheus_loads_the_one_rules_file_and_alerts_alertmanager(repo, compose):
    config = yaml.safe_load((repo / "compose/prometheus/prometheus.yml").read_text())
    mounts = dict(
        volume.rsplit(":", 1)[0].split(":", 1)
        for volume in compose["services"]["prometheus"]["volumes"]
        if volume.endswith(":ro")
    )
    assert mounts["../deploy/monitoring/rules.yml"] in config["rule_files"]
    assert (repo / "compose" / "../deploy/monitoring/rules.yml").is_file()
    [alertmanagers] = config["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert "alertmanager" in compose["services"]


def test_alertmanager_config_is_valid(repo, compose):
    amtool = shutil.which("amtool")
    assert amtool, "amtool not found: bash scripts/infra/infra.sh install alertmanager"
    path = repo / "compose/alertmanager/alertmanager.yml"
    done = subprocess.run(
        [amtool, "check-config", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    mounts = compose["services"]["alertmanager"]["volumes"]
    assert "./alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro" in mounts


def test_grafana_is_provisioned_with_the_dashboard(repo, compose):
    datasource = yaml.safe_load(
        (repo / "compose/grafana/provisioning/datasources/prometheus.yaml").read_text()
    )["datasources"][0]
    provider = yaml.safe_load(
        (repo / "compose/grafana/provisioning/dashboards/switchboard.yaml").read_text()
    )["providers"][0]
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts
    dashboard = json.loads((repo / "compose/grafana/dashboards/switchboard.json").read_text())
    assert dashboard["panels"]
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == datasource["uid"]
        assert all(
            target["expr"].count("(") == target["expr"].count(")") for target in panel["targets"]
        )


SCRAPE_LABELS = {"service", "process", "job", "instance", "le"}
"""Labels Prometheus adds (compose/prometheus/prometheus.yml) or histograms have."""


def test_dashboard_queries_only_metrics_and_labels_the_code_declares(
    repo, declared_metrics, promql_series
):
    dashboard = json.loads((repo / "compose/grafana/dashboards/switchboard.json").read_text())
    queried = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for metric, labels in promql_series(target["expr"]):
                assert metric in declared_metrics, (panel["title"], metric)
                assert labels <= declared_metrics[metric] | SCRAPE_LABELS, (panel["title"], labels)
                queried.add(metric)
    assert len(queried) >= 10


def test_kafka_is_a_three_broker_kraft_cluster(compose, env_example, topics_table):
    """One cluster id and voter list, RF 3 / min ISR 2 (as deploy/topics.yaml says), a volume
    each, and every client (services, the lag exporter, topic-init) given all three brokers."""
    services = compose["services"]
    brokers = {name: s for name, s in services.items() if s["image"].startswith("apache/kafka")}
    brokers.pop("topic-init")
    assert sorted(brokers) == ["kafka-1", "kafka-2", "kafka-3"]
    voters = {f"{n}@kafka-{n}:9093" for n in (1, 2, 3)}
    for name, broker in brokers.items():
        env = broker["environment"]
        node = name.removeprefix("kafka-")
        assert env["KAFKA_NODE_ID"] == node
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert set(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        assert env["CLUSTER_ID"] == "${KAFKA_CLUSTER_ID}"
        replication = int(env["KAFKA_DEFAULT_REPLICATION_FACTOR"])
        assert replication == topics_table["replication_factor"] == 3
        assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) == topics_table["min_insync_replicas"] == 2
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2"
        assert env["KAFKA_MESSAGE_MAX_BYTES"] == "1048588"
        assert env["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"] == "false"
        assert broker["volumes"] == [f"{name}-data:{env['KAFKA_LOG_DIRS']}"]
        assert f"{name}-data" in compose["volumes"]
    assert len(env_example["KAFKA_CLUSTER_ID"]) == 22  # a base64url 16-byte UUID
    init = services["topic-init"]
    assert init["environment"]["KAFKA_BOOTSTRAP"] == ",".join(BROKERS)
    assert set(init["depends_on"]) == set(brokers)
