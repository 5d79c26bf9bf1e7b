"""k8s/ overlays render, validate against the Kubernetes schemas and follow our policies — offline.

Rendering: the real ``kustomize build`` (the conftest's). Core kinds: ``kubernetes-validate``
(ships the Kubernetes JSON schemas, strict: unknown fields fail). KEDA ``ScaledObject``: the CRD's
openAPIV3Schema vendored from kedacore/keda (``schemas/keda-scaledobject-v1alpha1.json``), made
strict the same way, and a focused schema of the Kafka trigger's metadata (a string map there).
"""

import copy
import json
import re
from collections import Counter

import jsonschema
import kubernetes_validate
import pytest

from switchboard.common.topics import CALL_EVENTS, MESSAGE_INBOUND

KUBERNETES_VERSION = "1.31.0"
WORKLOADS = {"Deployment", "StatefulSet"}
# Consumer group → (settings package, topics its worker subscribes to with that group,
# the auto_offset_reset of that subscription, where it is spelled).
CONSUMERS = {
    "history": ("switchboard-history", "services/history/src/switchboard/history/consumers.py"),
    "dialer": ("switchboard-dialer", None),
    "ai": ("switchboard-ai", "services/ai/src/switchboard/ai/consumers.py"),
}
SCALED_OBJECT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "minReplicaCount", "maxReplicaCount", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string"},
                        "kind": {"type": "string"},
                        "apiVersion": {"type": "string"},
                    },
                },
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "advanced": {"type": "object"},
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": {"const": "kafka"},
                            "metadata": {
                                "type": "object",
                                "required": [
                                    "bootstrapServers",
                                    "consumerGroup",
                                    "topic",
                                    "lagThreshold",
                                    "activationLagThreshold",
                                    "offsetResetPolicy",
                                ],
                                # KEDA reads trigger metadata as strings.
                                "additionalProperties": {"type": "string"},
                                "properties": {
                                    "offsetResetPolicy": {"enum": ["earliest", "latest"]},
                                    "lagThreshold": {"pattern": "^[1-9][0-9]*$"},
                                    "activationLagThreshold": {"pattern": "^[0-9]+$"},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}
# Series of the lag exporter under kafka-exporter's names (tools/lag-exporter), not from a service.
KAFKA_EXPORTER_METRICS = {
    "kafka_consumergroup_lag",
    "kafka_topic_partition_under_replicated_partition",
}
SECRETISH = re.compile(
    r"PASSWORD|JWT_KEY|TOKEN|SECRET|API_KEY|ACCOUNTS|CRYPTO__KEYS|MONGO__URL|REDIS__URL|SOURCES|APPS"
)


@pytest.fixture(scope="module")
def keda_crd_schema(repo, strict_schema):
    path = repo / "tests/deploy/schemas/keda-scaledobject-v1alpha1.json"
    return strict_schema(json.loads(path.read_text()))


def by_kind(objects, kind):
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def test_every_manifest_validates_against_the_kubernetes_schemas(overlay):
    _, objects = overlay
    crds = ("keda.sh/", "monitoring.coreos.com/")
    core = [o for o in objects if not o["apiVersion"].startswith(crds)]
    assert len(core) > 30
    for obj in core:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_broken_manifest(overlay):
    _, objects = overlay
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replicas": "two", "replicaz": 1}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_scaled_objects_match_the_keda_crd_schema(overlay, keda_crd_schema):
    _, objects = overlay
    scaled = by_kind(objects, "ScaledObject")
    assert set(scaled) == {"history-worker", "dialer-worker", "ai-worker"}
    for obj in scaled.values():
        jsonschema.validate(obj, keda_crd_schema)
        jsonschema.validate(obj, SCALED_OBJECT)


def test_the_keda_schema_rejects_unknown_and_mistyped_fields(overlay, keda_crd_schema):
    _, objects = overlay
    obj = copy.deepcopy(by_kind(objects, "ScaledObject")["ai-worker"])
    obj["spec"]["maxReplicas"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(obj, keda_crd_schema)
    obj = copy.deepcopy(by_kind(objects, "ScaledObject")["ai-worker"])
    obj["spec"]["cooldownPeriod"] = "5m"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(obj, keda_crd_schema)


def test_names_are_unique_per_kind(overlay):
    _, objects = overlay
    counts = Counter((o["kind"], o["metadata"]["name"]) for o in objects)
    assert [k for k, n in counts.items() if n > 1] == []
    assert {o["metadata"]["namespace"] for o in objects} == {
        {"dev": "switchboard-dev", "prod": "switchboard"}[overlay[0]]
    }


def test_images_are_pinned(overlay, containers_of):
    _, objects = overlay
    for obj in objects:
        for container in containers_of(obj):
            image = container["image"]
            assert re.search(r":[\w][\w.-]*$|@sha256:[0-9a-f]{64}$", image), image
            assert not image.endswith(":latest")


def test_every_container_is_probed_limited_and_unprivileged(overlay, containers_of):
    _, objects = overlay
    checked = 0
    for obj in objects:
        if obj["kind"] not in WORKLOADS | {"Job"}:
            continue
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for container in containers_of(obj):
            checked += 1
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]) and {"cpu", "memory"} <= set(
                resources["limits"]
            )
            security = container["securityContext"]
            assert security["runAsNonRoot"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["readOnlyRootFilesystem"] is True
            assert security["capabilities"]["drop"] == ["ALL"]
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts, "a read-only root needs a writable /tmp"  # noqa: S108
            if obj["kind"] in WORKLOADS:
                assert container["livenessProbe"]["httpGet"]["path"] == "/health"
                assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
                port = container["ports"][0]["containerPort"]
                assert str(port) in {e.get("value") for e in container["env"]}, (
                    "the probed port is the one the process is told to listen on"
                )
    assert checked >= 9


def test_every_workload_has_a_pdb_and_spreads(overlay):
    _, objects = overlay
    pdbs = by_kind(objects, "PodDisruptionBudget")
    for obj in objects:
        if obj["kind"] not in WORKLOADS:
            continue
        labels = obj["spec"]["template"]["metadata"]["labels"]
        matching = [
            p
            for p in pdbs.values()
            if p["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(matching) == 1, obj["metadata"]["name"]
        assert obj["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert obj["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30


def test_switchboard_env_is_real_settings_and_secrets_come_from_secrets(
    overlay, containers_of, image_package, settings_of, has_setting
):
    _, objects = overlay
    configmap = by_kind(objects, "ConfigMap")["switchboard-common"]["data"]
    assert [k for k in configmap if SECRETISH.search(k)] == []
    for obj in objects:
        for container in containers_of(obj):
            cls = settings_of(image_package(container["image"]))
            names = [e["name"] for e in container["env"]] + list(configmap)
            assert [n for n in names if not has_setting(cls, n)] == [], obj["metadata"]["name"]
            for entry in container["env"]:
                if SECRETISH.search(entry["name"]):
                    assert "secretKeyRef" in entry.get("valueFrom", {}), entry["name"]


def test_referenced_secrets_exist_in_dev(containers_of, render_overlay):
    objects = render_overlay("dev")
    secrets = {name: set(s["stringData"]) for name, s in by_kind(objects, "Secret").items()}
    for obj in objects:
        for container in containers_of(obj):
            for entry in container["env"]:
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets.get(ref["name"], set()), ref


def test_prod_commits_no_secrets(render_overlay):
    assert [o for o in render_overlay("prod") if o["kind"] == "Secret"] == []


def test_keda_scales_each_consumer_up_to_its_topic_partitions(
    overlay, topics_table, settings_of, repo
):
    _, objects = overlay
    scaled = by_kind(objects, "ScaledObject")
    deployments = by_kind(objects, "Deployment")
    for group, (package, consumers_file) in CONSUMERS.items():
        obj = scaled[f"{group}-worker"]
        trigger = obj["spec"]["triggers"][0]["metadata"]
        settings = settings_of(package)()
        assert trigger["consumerGroup"] == settings.consumer.group_id == group
        topic = topics_table["scaling"][group]
        assert trigger["topic"] == topic
        assert obj["spec"]["maxReplicaCount"] == topics_table["topics"][topic]["partitions"]
        assert 1 <= obj["spec"]["minReplicaCount"] <= obj["spec"]["maxReplicaCount"]
        assert int(trigger["activationLagThreshold"]) < int(trigger["lagThreshold"])
        assert trigger["allowIdleConsumers"] == "false"
        assert obj["spec"]["scaleTargetRef"]["name"] in deployments
        if consumers_file is None:
            reset = settings.consumer.auto_offset_reset
        else:
            found = set(
                re.findall(r'auto_offset_reset="(\w+)"', (repo / consumers_file).read_text())
            )
            assert len(found) == 1
            reset = found.pop()
        assert trigger["offsetResetPolicy"] == reset
        assert (
            trigger["bootstrapServers"]
            == by_kind(objects, "ConfigMap")["switchboard-common"]["data"][
                "SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS"
            ]
        )
    assert topics_table["scaling"]["ai"] == MESSAGE_INBOUND
    assert topics_table["scaling"]["history"] == CALL_EVENTS


def test_ingress_has_spool_volume_hpa_and_the_only_ingress(overlay, containers_of):
    _, objects = overlay
    sts = by_kind(objects, "StatefulSet")["ingress-serve"]
    container = containers_of(sts)[0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    spool = env["SWITCHBOARD_SPOOL__DIRECTORY"]
    assert {"name": "spool", "mountPath": spool} in container["volumeMounts"]
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "spool"
    hpa = by_kind(objects, "HorizontalPodAutoscaler")
    assert set(hpa) == {"ingress-serve"}
    assert hpa["ingress-serve"]["spec"]["scaleTargetRef"]["kind"] == "StatefulSet"
    assert any(m["type"] == "Resource" for m in hpa["ingress-serve"]["spec"]["metrics"])
    ingresses = by_kind(objects, "Ingress")
    assert list(ingresses) == ["ingress-serve"]
    ingress = ingresses["ingress-serve"]
    assert "cert-manager.io/cluster-issuer" in ingress["metadata"]["annotations"]
    assert ingress["spec"]["tls"]
    backends = {
        p["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    assert backends == {"ingress-serve"}


def test_a_migration_job_per_schema_owner(overlay, containers_of):
    _, objects = overlay
    jobs = by_kind(objects, "Job")
    assert set(jobs) == {"history-migrate", "dialer-migrate", "control-migrate"}
    for name, job in jobs.items():
        container = containers_of(job)[0]
        assert container["args"] == ["migrate"]
        assert (
            container["image"].rsplit("/", 1)[-1].startswith(f"switchboard-{name.split('-')[0]}:")
        )


# The APIs that take the control plane's tokens (common.auth.service.api_auth), each run as
# several replicas (in prod): their per-tenant request limit must be one limit, in Redis.
TOKEN_APIS = ("history-api", "dialer-api", "ai-api")


def test_token_apis_share_their_rate_limit_in_redis(overlay, containers_of):
    _, objects = overlay
    deployments = by_kind(objects, "Deployment")
    policies = by_kind(objects, "NetworkPolicy")
    for name in TOKEN_APIS:
        deployment = deployments[name]
        [container] = containers_of(deployment)
        env = {e["name"]: e for e in container["env"]}
        assert env["SWITCHBOARD_AUTH__RATE_LIMIT_STORE"]["value"] == "redis", name
        ref = env["SWITCHBOARD_REDIS__URL"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "switchboard-redis", name
        # and its pods may reach Redis
        service = deployment["metadata"]["labels"]["app.kubernetes.io/name"]
        redis = [
            rule
            for rule in policies[service]["spec"]["egress"]
            for peer in rule["to"]
            if peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
            == "redis"
        ]
        assert redis and {p["port"] for r in redis for p in r["ports"]} == {6379}, name


def test_network_policies_deny_by_default(overlay):
    _, objects = overlay
    policies = by_kind(objects, "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and deny["ingress"] == [] and deny["egress"] == []
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    for service in ("ingress", "history", "dialer", "ai"):
        ports = {p["port"] for rule in policies[service]["spec"]["egress"] for p in rule["ports"]}
        assert 9092 in ports, service
    assert 443 not in {
        p["port"] for rule in policies["ingress"]["spec"]["egress"] for p in rule["ports"]
    }, "the ingress never calls out"


def test_renderer_applies_overlay_patches(render_overlay, repo):
    prod = render_overlay("prod")
    sts = by_kind(prod, "StatefulSet")["ingress-serve"]
    assert sts["spec"]["replicas"] == 3
    serve = sts["spec"]["template"]["spec"]["containers"][0]
    assert serve["resources"]["limits"]["memory"] == "1Gi"
    assert serve["livenessProbe"]["httpGet"]["path"] == "/health", "merged, not replaced"
    assert by_kind(prod, "ScaledObject")["history-worker"]["spec"]["minReplicaCount"] == 2
    assert all(o["metadata"]["labels"]["switchboard.io/environment"] == "prod" for o in prod)
    dev = by_kind(render_overlay("dev"), "ConfigMap")["switchboard-common"]["data"]
    assert dev["SWITCHBOARD_ENVIRONMENT"] == "local"  # its Secrets are the local examples
    assert dev["SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS"], "base keys kept beside the patched ones"


def test_pod_monitor_scrapes_every_workload_port(overlay, containers_of):
    _, objects = overlay
    monitor = by_kind(objects, "PodMonitor")["switchboard"]["spec"]
    endpoint = monitor["podMetricsEndpoints"][0]
    assert endpoint["path"] == "/metrics"
    for obj in objects:
        if obj["kind"] in WORKLOADS:
            labels = obj["spec"]["template"]["metadata"]["labels"]
            assert monitor["selector"]["matchLabels"].items() <= labels.items()
            ports = {p["name"] for c in containers_of(obj) for p in c["ports"]}
            assert endpoint["port"] in ports


def test_alerts_query_real_metrics_and_labels(overlay, declared_metrics, promql_series):
    _, objects = overlay
    groups = by_kind(objects, "PrometheusRule")["switchboard"]["spec"]["groups"]
    alerts = [rule for group in groups for rule in group["rules"]]
    assert len(alerts) >= 8
    for rule in alerts:
        assert re.fullmatch(r"Switchboard[A-Z]\w+", rule["alert"])
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
        assert re.fullmatch(r"\d+[smh]", rule["for"])
        assert rule["expr"].count("(") == rule["expr"].count(")")
        series = promql_series(rule["expr"])
        # Not a Switchboard series: the lag exporter's (kafka-exporter's names), Prometheus's up.
        external = rule["expr"].startswith("up{") or any(
            metric in rule["expr"] for metric in KAFKA_EXPORTER_METRICS
        )
        assert series or external, rule["alert"]
        for metric, labels in series:
            assert metric in declared_metrics, (rule["alert"], metric)
            assert labels <= declared_metrics[metric], (rule["alert"], labels)


def test_the_lag_exporter_watches_the_groups_keda_scales_on(overlay, containers_of):
    """The lag alerts take every group the exporter exports; the exporter is told which."""
    _, objects = overlay
    [container] = containers_of(by_kind(objects, "Deployment")["lag-exporter"])
    env = {e["name"]: e.get("value") for e in container["env"]}
    watched = set(json.loads(env["SWITCHBOARD_LAG__GROUPS"]))
    scaled = {
        trigger["metadata"]["consumerGroup"]
        for scaled_object in by_kind(objects, "ScaledObject").values()
        for trigger in scaled_object["spec"]["triggers"]
    }
    assert watched == scaled == set(CONSUMERS)
    groups = by_kind(objects, "PrometheusRule")["switchboard"]["spec"]["groups"]
    lag = [r for g in groups for r in g["rules"] if "kafka_consumergroup_lag" in r["expr"]]
    assert lag and not any("consumergroup=" in r["expr"] for r in lag)


def test_network_policy_peers_elsewhere_do_not_need_our_labels(overlay):
    """Pods in other namespaces (Kafka, databases) do not carry Switchboard's labels: a peer
    selecting on them would block the traffic it is meant to allow."""
    _, objects = overlay
    ours = {"app.kubernetes.io/part-of", "switchboard.io/environment"}
    peers = [
        peer
        for policy in by_kind(objects, "NetworkPolicy").values()
        for rule in policy["spec"].get("egress", []) + policy["spec"].get("ingress", [])
        for peer in rule.get("to", []) + rule.get("from", [])
        if "namespaceSelector" in peer
    ]
    assert peers
    for peer in peers:
        assert not ours & set(peer.get("podSelector", {}).get("matchLabels", {})), peer


def test_the_ingress_asks_the_ai_voice_api_and_nothing_else_may(overlay, containers_of):
    """The live voice answers: the ingress names the voice API's Service with a bearer the voice
    API accepts (both from one Secret), and only the ingress's pods may reach its port."""
    _, objects = overlay
    [voice] = containers_of(by_kind(objects, "Deployment")["ai-voice"])
    assert voice["args"] == ["voice"]
    assert {p["containerPort"] for p in voice["ports"]} == {8008}
    voice_env = {e["name"]: e for e in voice["env"]}
    secret_ref = voice_env["SWITCHBOARD_VOICE__INTERNAL_SECRETS"]["valueFrom"]["secretKeyRef"]
    assert secret_ref["name"] == "switchboard-voice"
    [ingress] = containers_of(by_kind(objects, "StatefulSet")["ingress-serve"])
    ingress_env = {e["name"]: e for e in ingress["env"]}
    assert ingress_env["SWITCHBOARD_VOICE__AI_URL"]["value"] == "http://ai-voice:8008"
    service = by_kind(objects, "Service")["ai-voice"]["spec"]
    assert [p["port"] for p in service["ports"]] == [8008]
    assert service["selector"]["app.kubernetes.io/component"] == "voice"
    policies = by_kind(objects, "NetworkPolicy")
    voice_from = [
        rule["from"]
        for rule in policies["ai"]["spec"]["ingress"]
        if any(p["port"] == 8008 for p in rule["ports"])
    ]
    assert voice_from == [[{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress"}}}]]
    assert any(
        p["port"] == 8008 for rule in policies["ingress"]["spec"]["egress"] for p in rule["ports"]
    )
