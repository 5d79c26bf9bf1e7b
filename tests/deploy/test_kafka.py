"""k8s/kafka — three KRaft nodes, RF 3 / min ISR 2, the topics Job — offline, like test_k8s.py.

Each node's server.properties is written by a shell script at start (the StatefulSet gives every
pod the same template); the script is run here with stand-ins for Kafka's tools, once per pod.
"""

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

KUBERNETES_VERSION = "1.31.0"
NAMESPACE = "kafka"
Objects = list[dict[str, Any]]


def one(objects: Objects, kind: str, name: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def pod_addresses(objects: Objects, port: int) -> list[str]:
    """``<pod>.<headless service>.<namespace>.svc:<port>`` of every StatefulSet pod."""
    sts = one(objects, "StatefulSet", "kafka")
    service = one(objects, "Service", sts["spec"]["serviceName"])
    namespace = service["metadata"]["namespace"]
    return [
        f"kafka-{i}.{service['metadata']['name']}.{namespace}.svc:{port}"
        for i in range(sts["spec"]["replicas"])
    ]


@pytest.fixture(scope="module")
def node_properties(kafka_manifests: Objects, tmp_path_factory: pytest.TempPathFactory):
    """``node_properties(ordinal)``: (server.properties, kafka-storage.sh arguments) as pod
    ``kafka-<ordinal>`` writes them."""
    script = one(kafka_manifests, "ConfigMap", "kafka-node")["data"]["start.sh"]
    cluster_id = one(kafka_manifests, "ConfigMap", "kafka-node")["data"]["CLUSTER_ID"]

    def run(ordinal: int) -> tuple[dict[str, str], str]:
        work = tmp_path_factory.mktemp(f"kafka-{ordinal}")
        bin_dir = work / "bin"
        bin_dir.mkdir()
        for tool in ("kafka-storage.sh", "kafka-server-start.sh"):
            stub = bin_dir / tool
            stub.write_text(f'#!/bin/sh\necho "$@" > {work}/{tool}.args\n')
            stub.chmod(0o755)
        local = script.replace("/opt/kafka/bin/", f"{bin_dir}/").replace(
            "/tmp/server.properties",  # noqa: S108 - the path in the script, replaced
            f"{work}/server.properties",
        )
        subprocess.run(
            ["sh", "-c", local],
            env={
                "PATH": os.environ["PATH"],
                "HOSTNAME": f"kafka-{ordinal}",
                "CLUSTER_ID": cluster_id,
            },
            check=True,
            timeout=30,
        )
        lines = (work / "server.properties").read_text().splitlines()
        props = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
        assert (work / "kafka-server-start.sh.args").read_text().split() == [
            f"{work}/server.properties"
        ]
        return props, (work / "kafka-storage.sh.args").read_text()

    return run


def test_every_object_validates_against_the_kubernetes_schemas(kafka_manifests: Objects) -> None:
    kinds = {o["kind"] for o in kafka_manifests}
    assert kinds >= {"Namespace", "ConfigMap", "Service", "StatefulSet", "PodDisruptionBudget"}
    assert kinds >= {"NetworkPolicy", "Job"}
    for obj in kafka_manifests:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == NAMESPACE


def test_kubectl_kustomize_renders_what_the_test_renderer_renders(
    repo: Path, kafka_manifests: Objects
) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:  # the renderer is checked against kubectl where it is installed
        assert yaml.safe_load((repo / "k8s/kafka/kustomization.yaml").read_text())["resources"]
        return
    done = subprocess.run(
        [kubectl, "kustomize", str(repo / "k8s/kafka")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    theirs = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(done.stdout) if o}
    ours = {(o["kind"], o["metadata"]["name"]): o for o in kafka_manifests}
    assert ours == theirs


def test_three_kraft_nodes_with_stable_names_and_one_disruption_at_a_time(
    kafka_manifests: Objects, containers_of: Callable[[dict[str, Any]], Objects], repo: Path
) -> None:
    sts = one(kafka_manifests, "StatefulSet", "kafka")
    spec = sts["spec"]
    assert spec["replicas"] == 3
    assert spec["podManagementPolicy"] == "Parallel"  # a quorum needs a majority to start
    service = one(kafka_manifests, "Service", spec["serviceName"])
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert {p["port"] for p in service["spec"]["ports"]} == {9092, 9093}
    pdb = one(kafka_manifests, "PodDisruptionBudget", "kafka")
    assert pdb["spec"]["maxUnavailable"] == 1
    labels = spec["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    assert pod["terminationGracePeriodSeconds"] >= 60  # room for a controlled shutdown
    hostname = [c for c in pod["topologySpreadConstraints"] if "hostname" in c["topologyKey"]]
    assert hostname[0]["whenUnsatisfiable"] == "DoNotSchedule"  # never two brokers on a node
    [container] = containers_of(sts)
    compose = yaml.safe_load((repo / "compose/docker-compose.yml").read_text())
    assert container["image"] == compose["services"]["kafka-1"]["image"] == "apache/kafka:4.1.1"
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert mounts >= {"/tmp", "/var/lib/kafka/data"}  # noqa: S108 - an emptyDir
    assert spec["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert container["readinessProbe"]["exec"]["command"] == ["sh", "/opt/switchboard/ready.sh"]
    ready = one(kafka_manifests, "ConfigMap", "kafka-node")["data"]["ready.sh"]
    assert "--under-replicated-partitions" in ready
    assert container["livenessProbe"] and container["startupProbe"]


@pytest.mark.parametrize("ordinal", [0, 1, 2])
def test_each_node_is_broker_and_controller_with_rf_3_and_min_isr_2(
    ordinal: int, node_properties: Any, kafka_manifests: Objects, topics_table: dict[str, Any]
) -> None:
    props, storage = node_properties(ordinal)
    assert props["node.id"] == str(ordinal)
    assert props["process.roles"] == "broker,controller"
    voters = [a.replace(":9092", ":9093") for a in pod_addresses(kafka_manifests, 9092)]
    assert props["controller.quorum.voters"].split(",") == [
        f"{i}@{v}" for i, v in enumerate(voters)
    ]
    assert (
        props["advertised.listeners"]
        == f"PLAINTEXT://{pod_addresses(kafka_manifests, 9092)[ordinal]}"
    )
    assert int(props["default.replication.factor"]) == topics_table["replication_factor"] == 3
    assert int(props["min.insync.replicas"]) == topics_table["min_insync_replicas"] == 2
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["transaction.state.log.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"
    assert props["unclean.leader.election.enable"] == "false"
    assert props["message.max.bytes"] == "1048588"
    assert props["log.dirs"] == "/var/lib/kafka/data"
    cluster_id = one(kafka_manifests, "ConfigMap", "kafka-node")["data"]["CLUSTER_ID"]
    assert (
        len(cluster_id) == 22 and f"-t {cluster_id}" in storage and "--ignore-formatted" in storage
    )


def test_every_client_is_given_every_broker(
    kafka_manifests: Objects, render_overlay: Callable[[str], Objects], topics_table: dict[str, Any]
) -> None:
    brokers = ",".join(pod_addresses(kafka_manifests, 9092))
    job = one(kafka_manifests, "Job", "kafka-topics")
    env = {
        e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["KAFKA_BOOTSTRAP"] == brokers
    for name in ("dev", "prod"):
        objects = render_overlay(name)
        common = one(objects, "ConfigMap", "switchboard-common")["data"]
        assert common["SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS"] == brokers
        assert (
            int(common["SWITCHBOARD_KAFKA__REPLICATION_FACTOR"])
            == topics_table["replication_factor"]
        )
        assert (
            int(common["SWITCHBOARD_KAFKA__MIN_INSYNC_REPLICAS"])
            == topics_table["min_insync_replicas"]
        )
        scaled = [o for o in objects if o["kind"] == "ScaledObject"]
        assert scaled
        for obj in scaled:
            assert obj["spec"]["triggers"][0]["metadata"]["bootstrapServers"] == brokers
        # The services' NetworkPolicies let them reach this namespace's client port.
        for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
            for rule in policy["spec"].get("egress", []):
                for peer in rule.get("to", []):
                    selector = peer.get("namespaceSelector", {}).get("matchLabels", {})
                    if selector.get("kubernetes.io/metadata.name") == NAMESPACE:
                        assert [p["port"] for p in rule["ports"]] == [9092]


def test_the_topics_job_runs_deploy_create_topics_on_the_table(
    kafka_manifests: Objects, repo: Path
) -> None:
    job = one(kafka_manifests, "Job", "kafka-topics")
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    [volume] = [v for v in pod["volumes"] if v["name"] == "deploy"]
    table = one(kafka_manifests, "ConfigMap", volume["configMap"]["name"])["data"]
    assert table == {
        "topics.yaml": (repo / "deploy/topics.yaml").read_text(),
        "create-topics.sh": (repo / "deploy/create-topics.sh").read_text(),
    }
    assert container["command"] == ["sh", f"{mounts['deploy']}/create-topics.sh"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["TOPICS_TABLE"] == f"{mounts['deploy']}/topics.yaml"
    assert "REPLICATION_FACTOR" not in env  # the table's 3 and 2 apply
    assert job["spec"]["backoffLimit"] >= 10  # the brokers may still be starting
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "/tmp" in mounts.values()  # noqa: S108 - an emptyDir


def test_clients_reach_9092_and_only_the_nodes_reach_the_controllers(
    kafka_manifests: Objects,
) -> None:
    policy = one(kafka_manifests, "NetworkPolicy", "kafka")
    rules = {r["ports"][0]["port"]: r["from"] for r in policy["spec"]["ingress"]}
    assert rules[9092] == [{"namespaceSelector": {}}]
    pods = one(kafka_manifests, "StatefulSet", "kafka")["spec"]["template"]["metadata"]["labels"]
    [peer] = rules[9093]
    assert peer["podSelector"]["matchLabels"].items() <= pods.items()
    assert "namespaceSelector" not in peer
