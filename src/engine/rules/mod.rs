//! The validation rules of SPEC §3, one file per family. Each family exposes
//! `check(sts, cx, out)`, which pushes findings at their catalog severity; the engine then
//! applies the policy's levels, suppression and ratcheting.

// The catalog lives beside the rules (`engine::catalog`), since the policy and the findings
// read it too; this name stays for the callers that still use it.
pub use super::catalog;
pub mod cluster;
pub mod gpu;
pub mod names;
pub mod schema;
pub mod services;
pub mod spec;
pub mod update;
pub mod volumes;

use super::KubeVersion;
use super::cluster::Known;
use super::finding::Finding;
use super::policy::{Policy, Settings};
use super::view::StatefulSet;

/// What a rule may read besides the object itself.
pub struct Cx<'a> {
    pub policy: &'a Policy,
    /// The policy as resolved for the object's namespace.
    pub settings: &'a Settings,
    /// The namespace the object lives in (its own, the request's, or `--namespace`).
    pub namespace: &'a str,
    pub kube_version: KubeVersion,
    /// `--strict`: unknown fields are errors.
    pub strict: bool,
    /// The objects of the same input and of the cluster the object refers to (SPEC §8).
    pub known: Known<'a>,
    /// The previous version of the object, on UPDATE.
    pub old: Option<StatefulSet<'a>>,
}

/// Runs every rule family over one StatefulSet.
pub fn check_all(sts: &StatefulSet<'_>, cx: &Cx<'_>, out: &mut Vec<Finding>) {
    spec::check_api_version(sts, cx, out);
    schema::check(sts, cx, out);
    names::check(sts, cx, out);
    volumes::check(sts, cx, out);
    gpu::check(sts, cx, out);
    spec::check(sts, cx, out);
    services::check(sts, cx, out);
    cluster::check(sts, cx, out);
    update::check(sts, cx, out);
}

/// Helpers for the rule families' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use serde_json::{Value, json};

    use super::Cx;
    use crate::engine::cluster::Known;
    use crate::engine::doc::Doc;
    use crate::engine::finding::Finding;
    use crate::engine::policy::Policy;
    use crate::engine::view::StatefulSet;
    use crate::engine::{KubeVersion, normalize};

    pub type Check = fn(&StatefulSet<'_>, &Cx<'_>, &mut Vec<Finding>);

    /// A policy with the given `spec` (JSON), checked like a file.
    pub fn policy(spec: Value) -> Policy {
        Policy::from_value(json!({
            "apiVersion": "stsguard.dev/v1",
            "kind": "StatefulSetPolicy",
            "metadata": {"name": "test"},
            "spec": spec,
        }))
        .unwrap_or_else(|problems| panic!("test policy refused: {problems:?}"))
    }

    /// Runs one family's check over `object` (normalised as the engine does for files)
    /// with an empty policy (every rule at its default).
    pub fn run(check: Check, object: &Value) -> Vec<Finding> {
        run_with(check, object, &policy(json!({})), None, KubeVersion::LATEST)
    }

    /// Runs one family's check with a given policy, old object and Kubernetes version.
    pub fn run_with(
        check: Check,
        object: &Value,
        policy: &Policy,
        old: Option<&Value>,
        kube_version: KubeVersion,
    ) -> Vec<Finding> {
        run_full(check, object, policy, old, kube_version, Known::default())
    }

    /// Runs one family's check knowing the input's and the cluster's objects (SPEC §8).
    pub fn run_known(
        check: Check,
        object: &Value,
        policy: &Policy,
        known: Known<'_>,
    ) -> Vec<Finding> {
        run_full(check, object, policy, None, KubeVersion::LATEST, known)
    }

    fn run_full(
        check: Check,
        object: &Value,
        policy: &Policy,
        old: Option<&Value>,
        kube_version: KubeVersion,
        known: Known<'_>,
    ) -> Vec<Finding> {
        let object = normalize::apply(object);
        let old = old.map(normalize::apply);
        let (object, old) = (Doc::from(&object), old.as_ref().map(Doc::from));
        let settings = policy.settings_for("default");
        let cx = Cx {
            policy,
            settings: &settings,
            namespace: "default",
            kube_version,
            strict: false,
            known,
            old: old.as_ref().map(StatefulSet::new),
        };
        let mut out = Vec::new();
        check(&StatefulSet::new(&object), &cx, &mut out);
        out
    }

    /// `(rule, path)` of each finding, for compact assertions.
    pub fn hits(findings: &[Finding]) -> Vec<(&'static str, &str)> {
        findings
            .iter()
            .map(|f| (f.rule.id(), f.path.as_str()))
            .collect()
    }

    /// The volume-relevant parts of the seed example `mysql.yaml`.
    pub fn mysql() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "test-mysql-123-mysql", "namespace": "default"},
            "spec": {
                "replicas": 1,
                "serviceName": "mysql",
                "selector": {"matchLabels": {"app.kubernetes.io/name": "mysql"}},
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/name": "mysql"}},
                    "spec": {
                        "volumes": [
                            {"name": "conf", "emptyDir": {}},
                            {"name": "init-scripts", "emptyDir": {}},
                            {"name": "config-map", "configMap": {"name": "test-mysql-123-mysql", "defaultMode": 420}},
                            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}
                        ],
                        "initContainers": [{
                            "name": "init",
                            "resources": {},
                            "volumeMounts": [
                                {"name": "conf", "mountPath": "/etc/mysql"},
                                {"name": "config-map", "mountPath": "/mnt/conf"},
                                {"name": "data", "mountPath": "/var/lib/mysql"}
                            ]
                        }],
                        "containers": [
                            {"name": "mysql",
                             "resources": {"limits": {"cpu": "1", "memory": "1Gi"},
                                           "requests": {"cpu": "100m", "memory": "512Mi"}},
                             "volumeMounts": [
                                {"name": "conf", "mountPath": "/etc/mysql"},
                                {"name": "data", "mountPath": "/var/lib/mysql"}]},
                            {"name": "sidecar",
                             "volumeMounts": [
                                {"name": "conf", "mountPath": "/etc/mysql"},
                                {"name": "data", "mountPath": "/var/lib/mysql"}]},
                            {"name": "metrics-exporter"},
                            {"name": "pt-heartbeat",
                             "volumeMounts": [{"name": "conf", "mountPath": "/etc/mysql"}]}
                        ]
                    }
                },
                "volumeClaimTemplates": [{
                    "kind": "PersistentVolumeClaim",
                    "apiVersion": "v1",
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"limits": {"storage": "1Gi"}, "requests": {"storage": "1Gi"}},
                        "storageClassName": "local-path",
                        "volumeMode": "Filesystem"
                    }
                }]
            }
        })
    }

    pub fn notebook() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "notebook", "annotations": {"nvidia.com/use-gputype": "A100,H100"}},
            "spec": {
                "serviceName": "notebook", "replicas": 1,
                "selector": {"matchLabels": {"app": "notebook"}},
                "template": {
                    "metadata": {
                        "labels": {"app": "notebook"},
                        "annotations": {
                            "hami.io/gpu-scheduler-policy": "binpack",
                            "hami.io/node-scheduler-policy": "spread"
                        }
                    },
                    "spec": {"containers": [{
                        "name": "jupyter",
                        "image": "quay.io/jupyter/pytorch-notebook:cuda12-2024-10-14",
                        "resources": {"limits": {
                            "nvidia.com/gpu": 1, "nvidia.com/gpumem": 8000, "nvidia.com/gpucores": 30
                        }},
                        "volumeMounts": [{"name": "home", "mountPath": "/home/jovyan"}]
                    }]}
                },
                "volumeClaimTemplates": [{
                    "metadata": {"name": "home"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}
                }]
            }
        })
    }

    /// JSON versions of the seed examples `gpu-inference.yaml` (llm) and
    /// `gpu-mig-and-vgpu.yaml` (embedder, notebook).
    pub fn gpu_examples() -> Vec<Value> {
        vec![
            json!({
                "apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": "llm", "namespace": "default"},
                "spec": {
                    "serviceName": "llm", "replicas": 2,
                    "selector": {"matchLabels": {"app": "llm"}},
                    "template": {
                        "metadata": {"labels": {"app": "llm"}},
                        "spec": {
                            "containers": [{
                                "name": "server",
                                "image": "vllm/vllm-openai:v0.6.3",
                                "resources": {
                                    "limits": {"nvidia.com/gpu": 1, "memory": "32Gi"},
                                    "requests": {"cpu": "4", "memory": "32Gi"}
                                },
                                "volumeMounts": [
                                    {"name": "models", "mountPath": "/models"},
                                    {"name": "shm", "mountPath": "/dev/shm"}
                                ]
                            }],
                            "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}}]
                        }
                    },
                    "volumeClaimTemplates": [{
                        "metadata": {"name": "models"},
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "200Gi"}}}
                    }]
                }
            }),
            json!({
                "apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": "embedder"},
                "spec": {
                    "serviceName": "embedder", "replicas": 3,
                    "selector": {"matchLabels": {"app": "embedder"}},
                    "template": {
                        "metadata": {"labels": {"app": "embedder"}},
                        "spec": {"containers": [{
                            "name": "embedder",
                            "image": "ghcr.io/example/embedder:1.4",
                            "resources": {"limits": {"nvidia.com/mig-1g.10gb": 1}},
                            "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]
                        }]}
                    },
                    "volumeClaimTemplates": [{
                        "metadata": {"name": "cache"},
                        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast",
                                 "resources": {"requests": {"storage": "20Gi"}}}
                    }]
                }
            }),
            notebook(),
        ]
    }

    /// A small valid StatefulSet (the seed example `web`), to modify in tests.
    pub fn web() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "serviceName": "nginx",
                "replicas": 2,
                "selector": {"matchLabels": {"app": "nginx"}},
                "template": {
                    "metadata": {"labels": {"app": "nginx"}},
                    "spec": {"containers": [{
                        "name": "nginx",
                        "image": "registry.k8s.io/nginx-slim:0.8",
                        "ports": [{"containerPort": 80, "name": "web"}],
                        "volumeMounts": [{"name": "www", "mountPath": "/usr/share/nginx/html"}]
                    }]}
                },
                "volumeClaimTemplates": [{
                    "metadata": {"name": "www"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}}
                    }
                }]
            }
        })
    }
}
