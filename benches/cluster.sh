#!/usr/bin/env bash
# Load test of the webhook judging against a cluster (SPEC §8): a real kube-apiserver from
# ../shared/k8s holding 10,000 Services and 1,000 Nodes (CLUSTER_SERVICES, CLUSTER_NODES),
# then benches/load.sh (compact review 029) with `--cluster off` and `--cluster on`
# alternately, ROUNDS times (default 2), in one run: only the ratio of the two is read, as
# this machine's speed drifts by the hour. Also prints the server's RSS in each mode.
# Usage: bash benches/cluster.sh [seconds]   (default 10; needs etcd, kubectl, wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
services=${CLUSTER_SERVICES:-10000}
nodes=${CLUSTER_NODES:-1000}
rounds=${ROUNDS:-2}
dir=$(mktemp -d)
trap '../shared/k8s/down "$dir"; rm -rf "$dir"' EXIT
eval "$(../shared/k8s/up "$dir")"
export KUBECONFIG

# The objects, written as List documents of 500 (kubectl sends one request per object).
# Services: 100 namespaces; the cassandra Service of review 029 in default, headless and
# selecting its pods, and the StorageClass its claim template names, so that the review is
# judged and passes: what is measured is the checks, not the reporting of findings. Nodes: 10
# pools in 3 zones, the GPU pools tainted, allocatable set on create.
python3 - "$services" "$nodes" "$dir" <<'PY'
import json, sys
services, nodes, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
per_ns = max(services // 100, 1)
objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"team-{n:03}"}}
           for n in range(100)]
objects.append({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": "fast"}, "provisioner": "example.com/ssd"})
for i in range(services):
    ns, name = ("default", "cassandra") if i == 0 else (f"team-{i // per_ns:03}", f"service-{i:05}")
    objects.append({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"clusterIP": "None", "ports": [{"port": 80}],
                 "selector": {"app": "cassandra"} if i == 0 else {"app.kubernetes.io/name": name}}})
for i in range(nodes):
    pool = i % 10
    name = f"node-{pool}-{i:05}"
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
              "topology.kubernetes.io/zone": "eu-west-1" + "abc"[i % 3],
              "node.kubernetes.io/instance-type": f"m{pool}.4xlarge", "example.com/pool": f"pool-{pool}"}
    allocatable = {"cpu": "15890m", "memory": "63458Mi", "pods": "110"}
    spec = {}
    if pool >= 7:
        allocatable["nvidia.com/gpu"] = "8"
        spec["taints"] = [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    objects.append({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
                    "spec": spec, "status": {"allocatable": allocatable, "capacity": allocatable}})
for start in range(0, len(objects), 500):
    with open(f"{out}/objects-{start // 500:04}.json", "w") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": objects[start:start + 500]}, f)
PY
echo "creating $services Services and $nodes Nodes..."
started=$(date +%s)
for file in "$dir"/objects-*.json; do
  kubectl create -f "$file" >/dev/null
done
echo "created in $(( $(date +%s) - started )) s: $(kubectl get services -A --no-headers | wc -l) Services, $(kubectl get nodes --no-headers | wc -l) Nodes"

cargo build --release --quiet --bin stsguard
for round in $(seq 1 "$rounds"); do
  for mode in off on; do
    echo "== round $round, --cluster $mode"
    STSGUARD_CLUSTER=$mode STSGUARD_CLUSTER_SYNC_TIMEOUT=60s LOAD_BODY=compact \
      bash benches/load.sh "$seconds"
  done
done
