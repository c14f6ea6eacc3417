"""The Kubernetes deployment (hub/k8s): manifests valid for a current Kubernetes, Helm values the z2jh chart
reads, and only settings alphabook knows.

Offline: kubernetes-validate bundles the Kubernetes JSON schemas; no cluster, helm or network is needed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from alphabook.core.config import PROJECT_ROOT, Settings

try:
    import kubernetes_validate
    from kubernetes_validate import utils as kubernetes_validate_utils
except ImportError:  # reported by the fixture below, never skipped
    kubernetes_validate = None
    kubernetes_validate_utils = None

K8S = PROJECT_ROOT / "hub" / "k8s"
MANIFESTS = K8S / "manifests"
VALUES = K8S / "values.yaml"
SERVICES = ("api", "dashboards", "voila")
#: Set for user pods but read by the notebook SDK (alphabook.sdk), not by the servers' Settings.
CLIENT_SIDE = {"ALPHABOOK_API_URL"}
ENV_NAME = re.compile(r"^ALPHABOOK_[A-Z0-9_]+$")


@pytest.fixture(scope="module")
def validator() -> Any:
    if kubernetes_validate is None:
        pytest.fail(
            "kubernetes-validate is not installed; install it with "
            "`.venv/bin/pip install kubernetes-validate` (it validates manifests offline against the "
            "Kubernetes JSON schemas it bundles)",
            pytrace=False,
        )
    return kubernetes_validate


def _documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        with path.open() as handle:
            found += [(f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc)
                      for doc in yaml.safe_load_all(handle) if doc]
    return found


DOCUMENTS = _documents()


def _of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in DOCUMENTS if doc["kind"] == kind}


def _values() -> dict[str, Any]:
    with VALUES.open() as handle:
        return yaml.safe_load(handle)


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def _set_names(node: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every ALPHABOOK_* variable set in a YAML tree: mapping keys (ConfigMap data, Secret stringData, chart
    extraEnv) and ``env`` entries (``name`` with ``value`` or ``valueFrom``)."""
    if isinstance(node, dict):
        name = node.get("name")
        if isinstance(name, str) and ENV_NAME.match(name) and ("value" in node or "valueFrom" in node):
            yield name, where
        for key, child in node.items():
            if isinstance(key, str) and ENV_NAME.match(key):
                yield key, f"{where}.{key}"
            yield from _set_names(child, f"{where}.{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _set_names(child, f"{where}[{index}]")


def test_the_deployment_files_exist() -> None:
    assert VALUES.is_file(), VALUES
    assert (K8S / "README.md").is_file()
    kinds = {doc["kind"] for _, doc in DOCUMENTS}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "Job", "ConfigMap", "Secret", "NetworkPolicy",
            "RuntimeClass"} <= kinds


@pytest.mark.parametrize(("label", "doc"), DOCUMENTS, ids=[label for label, _ in DOCUMENTS])
def test_manifest_is_valid_kubernetes(validator: Any, label: str, doc: dict[str, Any]) -> None:
    version = kubernetes_validate_utils.latest_version()
    try:
        validator.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        pytest.fail(f"{label} is not a valid Kubernetes {version} object: {error.message} at "
                    f"{'/'.join(map(str, error.absolute_path))}", pytrace=False)


def test_every_container_has_resources_probes_and_a_locked_down_security_context() -> None:
    workloads = [(name, doc) for _, doc in DOCUMENTS if doc["kind"] in {"Deployment", "Job"}
                 for name in [f"{doc['kind']}/{doc['metadata']['name']}"]]
    assert workloads
    for name, doc in workloads:
        pod = doc["spec"]["template"]["spec"]
        for container in _containers(doc):
            where = f"{name} container {container['name']}"
            assert set(container["resources"]) == {"requests", "limits"}, where
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][part]), f"{where} {part}"
            if doc["kind"] == "Deployment":  # a one-shot Job has nothing to probe
                assert "livenessProbe" in container and "readinessProbe" in container, where
            context = container["securityContext"]
            assert context.get("runAsNonRoot") or pod.get("securityContext", {}).get("runAsNonRoot"), where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where


def test_the_services_are_reachable_by_the_hub_with_their_jupyterhub_environment() -> None:
    deployments, services = _of_kind("Deployment"), _of_kind("Service")
    ports = {"api": 8010, "dashboards": 8020, "voila": 8030}
    for name in SERVICES:
        deployment = deployments[f"alphabook-{name}"]
        service = services[f"alphabook-{name}"]
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        assert service["spec"]["ports"][0]["port"] == ports[name]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        env = _env(container)
        expected = {
            "JUPYTERHUB_API_URL": "http://hub:8081/hub/api",
            "JUPYTERHUB_SERVICE_NAME": name,
            "JUPYTERHUB_SERVICE_PREFIX": f"/services/{name}/",
            "JUPYTERHUB_CLIENT_ID": f"service-{name}",
            "JUPYTERHUB_OAUTH_CALLBACK_URL": f"/services/{name}/oauth_callback",
            "JUPYTERHUB_BASE_URL": "/",
            "JUPYTERHUB_SERVICE_URL": f"http://0.0.0.0:{ports[name]}",
        }
        for variable, value in expected.items():
            assert env[variable]["value"] == value, f"{name}: {variable}"
        token = env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert token == {"name": "alphabook-secrets", "key": f"{name}-service-token"}
    api = deployments["alphabook-api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["command"] == ["alphabook", "api"]
    assert api["readinessProbe"]["httpGet"]["path"] == "/services/api/api/health"


def test_scheduler_and_migration_run_alphabook_commands() -> None:
    deployments, autoscalers = _of_kind("Deployment"), _of_kind("HorizontalPodAutoscaler")
    beat = deployments["alphabook-scheduler-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    assert _containers(beat)[0]["command"] == ["alphabook", "scheduler", "run"]
    worker = deployments["alphabook-scheduler-worker"]
    assert _containers(worker)[0]["command"] == ["alphabook", "scheduler", "worker"]
    for name in ("alphabook-api", "alphabook-dashboards", "alphabook-scheduler-worker"):
        target = autoscalers[name]["spec"]
        assert target["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert target["metrics"][0]["resource"]["name"] == "cpu"
    (job,) = _of_kind("Job").values()
    assert _containers(job)[0]["command"] == ["alphabook", "db", "upgrade"]
    config = _of_kind("ConfigMap")["alphabook-config"]["data"]
    assert config["ALPHABOOK_SCHEDULER_BACKEND"] == "celery"
    secret = _of_kind("Secret")["alphabook-secrets"]["stringData"]
    assert {"ALPHABOOK_DATABASE_URL", "ALPHABOOK_REDIS_URL", "ALPHABOOK_CELERY_BROKER_URL"} <= set(secret)
    assert all("REPLACE_ME" in value for value in secret.values()), "the Secret is a template: placeholders only"


def test_the_sandbox_executor_runs_apart_under_gvisor_with_no_egress() -> None:
    deployment = _of_kind("Deployment")["alphabook-sandbox"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["alphabook", "sandbox", "serve", "--host", "0.0.0.0"]
    assert pod["runtimeClassName"] == "gvisor" and _of_kind("RuntimeClass")["gvisor"]["handler"] == "runsc"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v1/health"
    assert "envFrom" not in container, "the sandbox must not get the shared settings and secrets"
    assert all("emptyDir" in volume for volume in pod.get("volumes", [])), "nor any data volume"
    assert set(_env(container)) & {"ALPHABOOK_DATABASE_URL", "ALPHABOOK_STRIPE_SECRET_KEY"} == set()
    token = _env(container)["ALPHABOOK_SANDBOX_SERVICE_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert token["key"] in _of_kind("Secret")["alphabook-secrets"]["stringData"]
    service = _of_kind("Service")["alphabook-sandbox"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    config = _of_kind("ConfigMap")["alphabook-config"]["data"]
    assert config["ALPHABOOK_SANDBOX_URL"] == f"http://alphabook-sandbox:{service['spec']['ports'][0]['port']}"
    assert _of_kind("HorizontalPodAutoscaler")["alphabook-sandbox"]["spec"]["scaleTargetRef"]["name"] == \
        "alphabook-sandbox"

    policy = _of_kind("NetworkPolicy")["alphabook-sandbox"]["spec"]
    assert "Egress" in policy["policyTypes"]
    assert not policy.get("egress"), "sandbox pods must have no egress rule at all (deny everything)"
    assert "Ingress" in policy["policyTypes"]
    (rule,) = policy["ingress"]
    callers = [peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in rule["from"]]
    assert callers == ["api", "scheduler-worker"] and rule["ports"] == [{"protocol": "TCP", "port": 8040}]
    assert policy["podSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    api = _of_kind("Deployment")["alphabook-api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", "the API runs no creator code"


def test_values_have_what_the_z2jh_chart_reads() -> None:
    # The chart's values.schema.json is not packaged anywhere offline, so the keys we rely on are checked here.
    values = _values()
    singleuser, hub, cull = values["singleuser"], values["hub"], values["cull"]
    assert singleuser["image"]["name"] == "alphabook/singleuser"
    assert isinstance(singleuser["image"]["tag"], str) and singleuser["image"]["tag"]
    profiles = singleuser["profileList"]
    assert profiles and all(p["display_name"] and p["kubespawner_override"] for p in profiles)
    assert sum(bool(p.get("default")) for p in profiles) == 1
    assert singleuser["storage"]["type"] == "dynamic"
    assert singleuser["extraEnv"]["ALPHABOOK_API_URL"] == "http://alphabook-api:8010/services/api/api"
    assert "ALPHABOOK_PUBLIC_URL" in singleuser["extraEnv"]
    assert cull["enabled"] is True
    assert cull["timeout"] == Settings.model_fields["idle_cull_timeout"].default
    assert hub["db"]["type"] == "postgres"
    assert hub["extraEnv"]["ALPHABOOK_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "alphabook-secrets"
    ports = {"api": 8010, "dashboards": 8020, "voila": 8030}
    for name in SERVICES:
        assert hub["services"][name]["url"] == f"http://alphabook-{name}:{ports[name]}"
        assert "command" not in hub["services"][name], "external services: their Deployments run them"
    roles = hub["loadRoles"]
    assert set(roles["user"]["scopes"]) == {"self", "access:services"}
    assert set(roles["alphabook-api"]["scopes"]) == {"list:users", "read:users", "read:groups"}
    assert set(roles["alphabook-api"]["services"]) == {"api", "dashboards"}
    config = "\n".join(hub["extraConfig"].values())
    compile(config, "hub.extraConfig", "exec")
    assert "AlphabookAuthenticator" in config


def test_every_alphabook_variable_is_a_setting() -> None:
    known = {f"ALPHABOOK_{name.upper()}" for name in Settings.model_fields}
    sdk = "".join(path.read_text() for path in (PROJECT_ROOT / "backend" / "alphabook" / "sdk").rglob("*.py"))
    assert all(name in sdk for name in CLIENT_SIDE), "exempted names must be ones the SDK reads"
    places: dict[str, list[str]] = {}
    trees = [("values.yaml", _values()), *DOCUMENTS]
    for label, tree in trees:
        for name, where in _set_names(tree, label):
            places.setdefault(name.upper(), []).append(where)
    assert places, "no ALPHABOOK_* variable found at all"
    client_only = {name for name in places if name in CLIENT_SIDE}
    for name in client_only:
        assert all(where.startswith("values.yaml.singleuser") for where in places[name]), places[name]
    unknown = {name: where for name, where in places.items() if name not in known and name not in CLIENT_SIDE}
    assert not unknown, "ALPHABOOK_* variables that are not fields of alphabook.core.config.Settings: " + "; ".join(
        f"{name} (set in {', '.join(sorted(set(where)))})" for name, where in sorted(unknown.items()))


def test_values_and_manifests_agree_on_ports_and_timeouts() -> None:
    config = _of_kind("ConfigMap")["alphabook-config"]["data"]
    assert int(config["ALPHABOOK_IDLE_CULL_TIMEOUT"]) == _values()["cull"]["timeout"]
    for name, port in {"api": 8010, "dashboards": 8020, "voila": 8030}.items():
        assert int(config[f"ALPHABOOK_{name.upper()}_PORT"]) == port
        assert Settings.model_fields[f"{name}_port"].default == port


def test_readme_covers_install() -> None:
    text = Path(K8S / "README.md").read_text()
    for needle in ("helm repo add jupyterhub https://hub.jupyter.org/helm-chart/", "-f hub/k8s/values.yaml",
                   "kubectl apply -f hub/k8s/manifests/", "gVisor", "NetworkPolicy"):
        assert needle in text, needle
