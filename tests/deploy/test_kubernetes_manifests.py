"""deploy/kubernetes: every manifest valid against Kubernetes' schemas (kubernetes-validate, strict) and
KServe's CRD schemas (vendored), each overlay as kustomize renders it, and consistent with the image:
the ports it listens on, the variables it reads, the probe paths it answers, the user it runs as."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.support.paths import REPO
from webapp.container_entrypoint import ROLES, launch_for
from webapp.http import health
from webapp.settings import SETTINGS

KUBERNETES = REPO / "deploy" / "kubernetes"
KSERVE = KUBERNETES / "kserve"
OVERLAYS = ("slim", "full")
#: The oldest Kubernetes the manifests are for (preStop's sleep action is GA there) and the newest schemas.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
#: Variables the entrypoint reads as TF Serving's image does, besides the server's settings.
ENTRYPOINT_VARIABLES = {"MODEL_NAME", "MODEL_BASE_PATH", "SAGEMAKER_BIND_TO_PORT"}
DOCKERFILE = (REPO / "Dockerfile").read_text()


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def render(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        message = "kubectl (kustomize v4 or later inside) is not installed"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    rendered = subprocess.run([kubectl, "kustomize", str(KUBERNETES / "overlays" / overlay)],
                              capture_output=True, text=True, check=True, timeout=60)
    return [document for document in yaml.safe_load_all(rendered.stdout) if document]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request) -> list[dict[str, Any]]:
    return render(request.param)


def by_kind(documents: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {document["metadata"]["name"]: document for document in documents if document["kind"] == kind}


def containers(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [container for deployment in by_kind(documents, "Deployment").values()
            for container in deployment["spec"]["template"]["spec"]["containers"]]


def test_every_base_manifest_is_valid_kubernetes():
    files = sorted((KUBERNETES / "base").glob("*.yaml"))
    resources = [document for path in files if path.name != "kustomization.yaml"
                 for document in load_documents(path)]
    assert {document["kind"] for document in resources} >= {
        "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "PersistentVolumeClaim"}
    for version in KUBERNETES_VERSIONS:
        for document in resources:
            kubernetes_validate.validate(document, version, strict=True)


def test_each_overlay_renders_valid_kubernetes(rendered):
    for version in KUBERNETES_VERSIONS:
        for document in rendered:
            kubernetes_validate.validate(document, version, strict=True)


def test_a_schema_violation_is_caught():
    deployment = by_kind(load_documents(KUBERNETES / "base" / "model-server.yaml"), "Deployment")
    (document,) = deployment.values()
    document["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpc"]["port"] = "grpc"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(document, KUBERNETES_VERSIONS[0], strict=True)


def test_overlays_pick_the_image_targets():
    targets = set(re.findall(r"^FROM \S+ AS (\S+)$", DOCKERFILE, re.M))
    for overlay in OVERLAYS:
        images = {container["image"] for container in containers(render(overlay))}
        assert images == {f"localhost/emnist-serving:{overlay}"}
        assert overlay in targets


def test_full_overlay_gives_tensorflow_its_memory():
    slim, full = (by_kind(render(overlay), "Deployment")["emnist-model-server"] for overlay in OVERLAYS)

    def memory(deployment: dict) -> str:
        return deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"]

    assert memory(slim) == "512Mi" and memory(full) == "1536Mi"


def image_user() -> tuple[int, int]:
    user, group = re.search(r"^USER (\d+):(\d+)$", DOCKERFILE, re.M).groups()
    return int(user), int(group)


def exposed_ports() -> set[int]:
    return {int(port) for line in re.findall(r"^EXPOSE (.+)$", DOCKERFILE, re.M) for port in line.split()}


def test_containers_agree_with_the_image(rendered, tmp_path):
    settings_variables = {setting.variable for setting in SETTINGS}
    probe_paths = {route.rule for route in health.ROUTES.routes}
    user, group = image_user()
    for deployment in by_kind(rendered, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (user, group)
        for container in pod["containers"]:
            environment = {item["name"]: item["value"] for item in container.get("env", [])}
            assert set(environment) <= settings_variables | ENTRYPOINT_VARIABLES
            role = container["args"][0]
            assert role in ROLES
            launch = launch_for(container["args"], environment, tmp_path)  # flags the entrypoint takes
            named = {port["name"]: port["containerPort"] for port in container["ports"]}
            assert set(named.values()) <= exposed_ports()
            rest_port = int(launch.arguments[launch.arguments.index("--rest_api_port") + 1]) \
                if "--rest_api_port" in launch.arguments else 8000
            assert named["http"] == rest_port
            for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
                probe = container.get(kind)
                if probe is None:
                    continue
                if "httpGet" in probe:
                    assert probe["httpGet"]["path"] in probe_paths
                    assert named[probe["httpGet"]["port"]] == rest_port
                else:
                    assert role == "model-server" and probe["grpc"]["port"] == named["grpc"] == 8500


def test_stopping_fits_in_the_grace_period(rendered):
    from webapp import gunicorn_conf

    drain = next((setting.default for setting in SETTINGS if setting.key == "DRAIN_SECONDS"), 0.0)
    for deployment in by_kind(rendered, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        for container in pod["containers"]:
            pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
            assert pre_stop + drain + gunicorn_conf.graceful_timeout < pod["terminationGracePeriodSeconds"]


def test_front_end_reaches_the_model_servers_over_grpc(rendered):
    services = by_kind(rendered, "Service")
    deployments = by_kind(rendered, "Deployment")
    front_end = deployments["emnist-front-end"]["spec"]["template"]["spec"]["containers"][0]
    target = {item["name"]: item["value"] for item in front_end["env"]}["EMNIST_MODEL_SERVER"]
    host, port = re.fullmatch(r"grpc://([^:]+):(\d+)", target).groups()
    service = services[host]
    assert service["spec"]["clusterIP"] == "None"  # every replica resolved, calls spread over them
    (grpc_port,) = service["spec"]["ports"]
    assert (grpc_port["port"], grpc_port["appProtocol"]) == (int(port), "grpc")
    model_server = by_kind(rendered, "Deployment")["emnist-model-server"]
    assert service["spec"]["selector"].items() <= \
        model_server["spec"]["template"]["metadata"]["labels"].items()
    for budget in by_kind(rendered, "PodDisruptionBudget").values():
        assert budget["spec"]["maxUnavailable"] == 1


def kserve_schema(kind: str, version: str) -> dict[str, Any]:
    with gzip.open(KSERVE / "schemas" / f"{kind.lower()}.{version}.json.gz") as file:
        return json.load(file)


@pytest.mark.parametrize("file", ["cluster-serving-runtime.yaml", "inference-service.yaml"])
def test_kserve_manifests_match_kserves_crd_schemas(file):
    (document,) = load_documents(KSERVE / file)
    group, version = document["apiVersion"].split("/")
    assert group == "serving.kserve.io"
    jsonschema.validate(document, kserve_schema(document["kind"], version))


def test_kserve_schemas_catch_a_wrong_field():
    (document,) = load_documents(KSERVE / "cluster-serving-runtime.yaml")
    document["spec"]["protocolVersions"] = "v1"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, kserve_schema("ClusterServingRuntime", "v1alpha1"))


def test_kserve_runtime_runs_the_image_as_kserve_expects(tmp_path):
    (runtime,) = load_documents(KSERVE / "cluster-serving-runtime.yaml")
    (service,) = load_documents(KSERVE / "inference-service.yaml")
    (container,) = runtime["spec"]["containers"]
    assert container["name"] == "kserve-container"
    assert set(runtime["spec"]["protocolVersions"]) == {"v1", "v2"}
    arguments = [argument.replace("{{.Name}}", service["metadata"]["name"]) for argument in container["args"]]
    launch = launch_for(arguments, {"MODEL_NAME": "emnist", "MODEL_BASE_PATH": "/models"}, tmp_path)
    links = Path(launch.environment["EMNIST_MODEL_BASE_PATH"])
    assert (links / service["metadata"]["name"]).readlink() == Path("/mnt/models")
    assert launch.environment["EMNIST_MODEL_NAME"] == service["metadata"]["name"]
    (port,) = container["ports"]
    assert launch.arguments[launch.arguments.index("--rest_api_port") + 1] == str(port["containerPort"])
    assert container["readinessProbe"]["httpGet"]["port"] == port["containerPort"]
    assert container["securityContext"]["runAsUser"] == image_user()[0]
    model = service["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["protocolVersion"] in runtime["spec"]["protocolVersions"]
    assert model["modelFormat"]["name"] in {fmt["name"] for fmt in runtime["spec"]["supportedModelFormats"]}
