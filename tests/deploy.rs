//! `deploy/`: the base and every overlay rendered with `kubectl kustomize`, parsed into
//! k8s-openapi types, and held to what issue 5 and SPEC §7 ask of an installation. Without
//! kubectl they skip (and fail in CI, which sets `STSGUARD_NO_SKIP`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, RuleWithOperations, ValidatingWebhookConfiguration,
    WebhookClientConfig,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, Probe, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde_json::Value;
use stsguard::cli::certs::{MUTATE_PATH, VALIDATE_PATH};

/// The paths `stsguard serve` answers on its plain health listener.
const HEALTHZ_PATH: &str = "/healthz";
const READYZ_PATH: &str = "/readyz";
/// The label the API server sets on every namespace.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";
const INJECT_CA_FROM: &str = "cert-manager.io/inject-ca-from";

/// The kinds `stsguard serve` watches for the cluster-aware rules (SPEC §8), as RBAC names
/// them: (API group, resource). Secrets are not among them: they are opt-in.
const WATCHED_KINDS: &[(&str, &str)] = &[
    ("", "services"),
    ("", "nodes"),
    ("", "serviceaccounts"),
    ("", "configmaps"),
    ("storage.k8s.io", "storageclasses"),
    ("scheduling.k8s.io", "priorityclasses"),
    ("node.k8s.io", "runtimeclasses"),
];
/// What the opt-in component adds.
const SECRETS: &[(&str, &str)] = &[("", "secrets")];
/// What a reflector needs: the first list, the watch, and get (kube's `Api::get`).
const READ_VERBS: [&str; 3] = ["get", "list", "watch"];
/// The component that turns `secret-missing` on.
const CLUSTER_SECRETS_COMPONENT: &str = "components/cluster-secrets";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `kubectl kustomize DIR`, every document as JSON; `None` (skipped) without kubectl.
fn kustomize(dir: &Path) -> Option<Vec<Value>> {
    let output = Command::new(common::kubectl()?)
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"));
    assert!(
        output.status.success(),
        "kubectl kustomize {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let objects = stsguard::yaml::parse_stream(&text)
        .into_iter()
        .filter_map(|document| document.expect("kustomize printed valid YAML").value)
        .map(unwrap_base64)
        .collect();
    Some(objects)
}

/// kustomize wraps long base64 values (Secret data, and the caBundle copied from it) at 70
/// columns. The API server decodes them with Go's encoding/base64, which skips line breaks;
/// k8s-openapi's decoder does not, so the breaks are removed before parsing.
fn unwrap_base64(mut object: Value) -> Value {
    let unwrap = |value: &mut Value| {
        if let Some(text) = value.as_str() {
            *value = Value::from(text.replace(['\n', '\r'], ""));
        }
    };
    if object["kind"] == "Secret"
        && let Some(data) = object.get_mut("data").and_then(Value::as_object_mut)
    {
        data.values_mut().for_each(unwrap);
    }
    if let Some(webhooks) = object.get_mut("webhooks").and_then(Value::as_array_mut) {
        for webhook in webhooks {
            if let Some(bundle) = webhook.pointer_mut("/clientConfig/caBundle") {
                unwrap(bundle);
            }
        }
    }
    object
}

/// A rendered installation.
struct Rendered {
    name: String,
    objects: Vec<Value>,
}

impl Rendered {
    fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.objects
            .iter()
            .filter(|object| object["kind"] == kind)
            .collect()
    }

    /// The one object of `kind`, as its k8s-openapi type.
    fn one<T: DeserializeOwned>(&self, kind: &str) -> T {
        let found = self.of_kind(kind);
        assert_eq!(
            found.len(),
            1,
            "{}: {} objects of kind {kind}",
            self.name,
            found.len()
        );
        serde_json::from_value(found[0].clone())
            .unwrap_or_else(|e| panic!("{}: {kind} does not parse: {e}", self.name))
    }

    fn named(&self, kind: &str, name: &str) -> &Value {
        self.of_kind(kind)
            .into_iter()
            .find(|object| object["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{}: no {kind} named {name}", self.name))
    }
}

fn render(overlay: &str) -> Option<Rendered> {
    Some(Rendered {
        name: overlay.to_string(),
        objects: kustomize(&root().join("deploy").join(overlay))?,
    })
}

/// Copies `from` into `to`, leaving out generated certificates.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.path().ends_with("self-signed/certs") {
                continue;
            }
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The self-signed overlay the way its comment says to use it: `stsguard certs` writes into
/// the overlay (in a copy of deploy/), then kustomize renders it.
fn render_self_signed() -> Option<(tempfile::TempDir, Rendered, PathBuf)> {
    let temp = tempfile::tempdir().unwrap();
    let deploy = temp.path().join("deploy");
    copy_tree(&root().join("deploy"), &deploy);
    let overlay = deploy.join("overlays/self-signed");
    let certs = overlay.join("certs");
    let output = common::stsguard_command()
        .args(["certs", "--out-dir"])
        .arg(&certs)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "stsguard certs: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rendered = Rendered {
        name: "overlays/self-signed".into(),
        objects: kustomize(&overlay)?,
    };
    Some((temp, rendered, certs))
}

/// The image `deploy/base/kustomization.yaml` sets through `images:` for `stsguard`.
fn kustomization_image() -> String {
    let text = std::fs::read_to_string(root().join("deploy/base/kustomization.yaml")).unwrap();
    let kustomization = stsguard::yaml::parse_stream(&text)
        .remove(0)
        .unwrap()
        .value
        .unwrap();
    let entry = kustomization["images"]
        .as_array()
        .expect("images: in deploy/base/kustomization.yaml")
        .iter()
        .find(|image| image["name"] == "stsguard")
        .expect("an images: entry for stsguard");
    format!(
        "{}:{}",
        entry["newName"].as_str().unwrap(),
        entry["newTag"].as_str().unwrap()
    )
}

fn labels_match(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    assert!(
        selector.match_expressions.is_none(),
        "selectors here use matchLabels only"
    );
    let wanted = selector.match_labels.as_ref().expect("matchLabels");
    !wanted.is_empty() && wanted.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The port a `--flag=HOST:PORT` argument of the container names.
fn listen_port(container: &Container, flag: &str) -> i32 {
    let prefix = format!("{flag}=");
    let value = container
        .args
        .iter()
        .flatten()
        .find_map(|arg| arg.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("container args have no {flag}="));
    value.rsplit(':').next().unwrap().parse().unwrap()
}

fn container_port(container: &Container, port: &IntOrString) -> i32 {
    match port {
        IntOrString::Int(number) => *number,
        IntOrString::String(name) => {
            container
                .ports
                .iter()
                .flatten()
                .find(|port| port.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("no container port named {name}"))
                .container_port
        }
    }
}

fn env(container: &Container, name: &str) -> String {
    container
        .env
        .iter()
        .flatten()
        .find(|var| var.name == name)
        .and_then(|var| var.value.clone())
        .unwrap_or_else(|| panic!("container has no env {name}"))
}

fn seconds(duration: &str) -> i64 {
    duration
        .strip_suffix('s')
        .unwrap_or_else(|| panic!("{duration:?}: write durations in seconds"))
        .parse()
        .unwrap()
}

fn http_probe(probe: Option<&Probe>, what: &str) -> (String, IntOrString) {
    let get = probe
        .unwrap_or_else(|| panic!("no {what} probe"))
        .http_get
        .as_ref()
        .unwrap_or_else(|| panic!("{what} probe is not an HTTP GET"));
    (get.path.clone().unwrap_or_default(), get.port.clone())
}

/// Everything every installation must satisfy, overlays and base alike.
fn check_installation(rendered: &Rendered) {
    let name = &rendered.name;
    let namespace: Namespace = rendered.one("Namespace");
    let own_namespace = namespace.metadata.name.clone().unwrap();
    for object in &rendered.objects {
        let cluster_scoped = [
            "Namespace",
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
            "ClusterRole",
            "ClusterRoleBinding",
        ];
        if !cluster_scoped.contains(&object["kind"].as_str().unwrap()) {
            assert_eq!(
                object["metadata"]["namespace"], own_namespace,
                "{name}: {} {} is not in {own_namespace}",
                object["kind"], object["metadata"]["name"]
            );
        }
    }
    let account: ServiceAccount = rendered.one("ServiceAccount");
    let deployment: Deployment = rendered.one("Deployment");
    let service: Service = rendered.one("Service");
    let budget: PodDisruptionBudget = rendered.one("PodDisruptionBudget");
    let policy: ConfigMap = rendered.one("ConfigMap");

    // Deployment: replicas, spread, security, probes, resources, shutdown, mounts, image.
    let spec = &deployment.spec;
    let replicas = spec.replicas.unwrap_or(1);
    assert!(replicas >= 2, "{name}: {replicas} replica(s)");
    let template = &spec.template;
    let pod_labels = template
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.labels.clone())
        .unwrap_or_default();
    assert!(
        labels_match(&spec.selector, &pod_labels),
        "{name}: selector"
    );
    let pod = template.spec.as_ref().unwrap();
    assert_eq!(pod.service_account_name, account.metadata.name, "{name}");
    // The token is what the cluster watches authenticate with (SPEC §8); the account itself
    // hands none to other pods that might name it.
    assert_eq!(pod.automount_service_account_token, Some(true), "{name}");
    assert_eq!(
        account.automount_service_account_token,
        Some(false),
        "{name}"
    );
    let spread_over_nodes = pod
        .topology_spread_constraints
        .iter()
        .flatten()
        .any(|spread| {
            spread.topology_key == "kubernetes.io/hostname"
                && spread.when_unsatisfiable == "DoNotSchedule"
                && spread.max_skew == 1
                && spread
                    .label_selector
                    .as_ref()
                    .is_some_and(|selector| labels_match(selector, &pod_labels))
        });
    assert!(
        spread_over_nodes,
        "{name}: replicas are not spread over nodes"
    );

    let pod_security = pod.security_context.as_ref().expect("pod securityContext");
    assert_eq!(pod_security.run_as_non_root, Some(true), "{name}");
    assert!(
        pod_security.run_as_user.is_some_and(|uid| uid > 0),
        "{name}: numeric non-root user"
    );
    assert_eq!(
        pod_security
            .seccomp_profile
            .as_ref()
            .map(|profile| profile.type_.as_str()),
        Some("RuntimeDefault"),
        "{name}"
    );
    assert!(
        pod.init_containers.is_none(),
        "{name}: check init containers too"
    );
    assert_eq!(pod.containers.len(), 1, "{name}");
    let container = &pod.containers[0];
    let security = container
        .security_context
        .as_ref()
        .expect("container securityContext");
    assert_eq!(security.read_only_root_filesystem, Some(true), "{name}");
    assert_eq!(security.allow_privilege_escalation, Some(false), "{name}");
    assert_ne!(security.privileged, Some(true), "{name}");
    assert_ne!(security.run_as_non_root, Some(false), "{name}");
    assert_ne!(security.run_as_user, Some(0), "{name}");
    let dropped = security
        .capabilities
        .as_ref()
        .and_then(|capabilities| capabilities.drop.clone())
        .unwrap_or_default();
    assert!(
        dropped.contains(&"ALL".to_string()),
        "{name}: capabilities not dropped"
    );
    assert!(
        security.capabilities.as_ref().unwrap().add.is_none(),
        "{name}: capabilities added"
    );

    let resources = container.resources.as_ref().expect("resources");
    let requests = resources.requests.as_ref().expect("resource requests");
    let limits = resources.limits.as_ref().expect("resource limits");
    assert!(
        requests.contains_key("cpu") && requests.contains_key("memory"),
        "{name}"
    );
    assert!(limits.contains_key("memory"), "{name}: no memory limit");

    let health_port = listen_port(container, "--health-listen");
    let https_port = listen_port(container, "--listen");
    assert_eq!(
        health_port, 8080,
        "{name}: the server's default --health-listen port"
    );
    assert_eq!(
        https_port, 8443,
        "{name}: the server's default --listen port"
    );
    let (path, port) = http_probe(container.liveness_probe.as_ref(), "liveness");
    assert_eq!(path, HEALTHZ_PATH, "{name}");
    assert_eq!(
        container_port(container, &port),
        health_port,
        "{name}: liveness port"
    );
    let (path, port) = http_probe(container.readiness_probe.as_ref(), "readiness");
    assert_eq!(path, READYZ_PATH, "{name}");
    assert_eq!(
        container_port(container, &port),
        health_port,
        "{name}: readiness port"
    );

    // The grace period covers the server's own drain: not-ready delay, then in-flight requests.
    let drain = seconds(&env(container, "STSGUARD_SHUTDOWN_DELAY"))
        + seconds(&env(container, "STSGUARD_SHUTDOWN_TIMEOUT"));
    let grace = pod
        .termination_grace_period_seconds
        .expect("terminationGracePeriodSeconds");
    assert!(
        grace > drain,
        "{name}: grace period {grace}s, drain {drain}s"
    );

    assert_eq!(
        container.image.as_deref(),
        Some(kustomization_image().as_str()),
        "{name}: image not set by images:"
    );

    // TLS Secret and policy ConfigMap mounted as whole directories, so updates reach the files.
    let mounted_dir = |file: &str, volume_check: &dyn Fn(&k8s_openapi::api::core::v1::Volume)| {
        let dir = Path::new(file).parent().unwrap();
        let mount = container
            .volume_mounts
            .iter()
            .flatten()
            .find(|mount| Path::new(&mount.mount_path) == dir)
            .unwrap_or_else(|| panic!("{name}: nothing mounted at {}", dir.display()));
        assert!(
            mount.sub_path.is_none(),
            "{name}: subPath mounts never update"
        );
        assert_eq!(mount.read_only, Some(true), "{name}");
        let volume = pod
            .volumes
            .iter()
            .flatten()
            .find(|volume| volume.name == mount.name)
            .unwrap();
        volume_check(volume);
    };
    let tls_secret = |volume: &k8s_openapi::api::core::v1::Volume| {
        volume.secret.as_ref().unwrap().secret_name.clone().unwrap()
    };
    mounted_dir(&env(container, "STSGUARD_TLS_CERT"), &|volume| {
        assert_eq!(tls_secret(volume), "stsguard-tls", "{name}");
    });
    mounted_dir(&env(container, "STSGUARD_TLS_KEY"), &|volume| {
        assert_eq!(tls_secret(volume), "stsguard-tls", "{name}");
    });
    let policy_file = env(container, "STSGUARD_POLICY");
    mounted_dir(&policy_file, &|volume| {
        assert_eq!(
            volume
                .config_map
                .as_ref()
                .map(|source| source.name.as_str()),
            policy.metadata.name.as_deref(),
            "{name}: policy volume"
        );
    });
    let key = Path::new(&policy_file)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    let builtin = std::fs::read_to_string(root().join("policies/default.yaml")).unwrap();
    assert_eq!(
        policy.data.as_ref().and_then(|data| data.get(key)),
        Some(&builtin),
        "{name}: the ConfigMap's {key} is not policies/default.yaml"
    );
    for secret in rendered.of_kind("Secret") {
        assert_eq!(
            secret["metadata"]["name"], "stsguard-tls",
            "{name}: a Secret the pods do not mount"
        );
    }

    // PodDisruptionBudget: selects these pods and lets a drain take one at a time.
    let budget_spec = budget.spec.as_ref().unwrap();
    assert!(
        labels_match(budget_spec.selector.as_ref().unwrap(), &pod_labels),
        "{name}: the PDB does not select the Deployment's pods"
    );
    assert_eq!(budget.metadata.namespace, deployment.metadata.namespace);
    let min_available = match budget_spec.min_available.as_ref().expect("minAvailable") {
        IntOrString::Int(count) => *count,
        IntOrString::String(percent) => panic!("{name}: minAvailable {percent}: use a count"),
    };
    assert!(
        min_available >= 1 && min_available < replicas,
        "{name}: minAvailable {min_available}"
    );

    // Service: the webhooks' target, 443 to the server's HTTPS port.
    let service_spec = service.spec.as_ref().unwrap();
    let service_selector = service_spec.selector.clone().unwrap();
    assert!(
        service_selector
            .iter()
            .all(|(k, v)| pod_labels.get(k) == Some(v)),
        "{name}: the Service does not select the pods"
    );
    let service_port = |port: i32| {
        let service_port = service_spec
            .ports
            .iter()
            .flatten()
            .find(|candidate| candidate.port == port)
            .unwrap_or_else(|| panic!("{name}: the Service has no port {port}"));
        container_port(container, service_port.target_port.as_ref().unwrap())
    };

    // Both webhook configurations.
    let mutating: MutatingWebhookConfiguration = rendered.one("MutatingWebhookConfiguration");
    let validating: ValidatingWebhookConfiguration = rendered.one("ValidatingWebhookConfiguration");
    let mutating_hooks = mutating.webhooks.as_ref().unwrap();
    let validating_hooks = validating.webhooks.as_ref().unwrap();
    assert_eq!(mutating_hooks.len(), 1, "{name}");
    assert_eq!(validating_hooks.len(), 1, "{name}");
    let target = |config: &WebhookClientConfig, path: &str| {
        assert!(
            config.url.is_none(),
            "{name}: webhooks call the Service, not a URL"
        );
        let reference = config.service.as_ref().unwrap();
        assert_eq!(
            Some(&reference.name),
            service.metadata.name.as_ref(),
            "{name}"
        );
        assert_eq!(
            Some(&reference.namespace),
            service.metadata.namespace.as_ref(),
            "{name}"
        );
        assert_eq!(
            reference.path.as_deref(),
            Some(path),
            "{name}: not the server's path"
        );
        assert_eq!(
            service_port(reference.port.unwrap_or(443)),
            https_port,
            "{name}"
        );
    };
    let excluded = |selector: Option<&LabelSelector>| {
        let expressions = selector
            .and_then(|selector| selector.match_expressions.clone())
            .unwrap_or_default();
        let values = expressions
            .iter()
            .find(|expression| {
                expression.key == NAMESPACE_NAME_LABEL && expression.operator == "NotIn"
            })
            .and_then(|expression| expression.values.clone())
            .unwrap_or_else(|| panic!("{name}: no `{NAMESPACE_NAME_LABEL} NotIn` selector"));
        assert!(
            values.contains(&own_namespace),
            "{name}: own namespace not excluded"
        );
        assert!(
            values.contains(&"kube-system".into()),
            "{name}: kube-system not excluded"
        );
    };
    let common = |side_effects: &str,
                  timeout: Option<i32>,
                  versions: &[String],
                  match_policy: Option<&String>,
                  rules: Option<&Vec<RuleWithOperations>>| {
        assert_eq!(side_effects, "None", "{name}");
        assert!(
            timeout.is_some_and(|t| (1..=10).contains(&t)),
            "{name}: timeout {timeout:?}"
        );
        assert_eq!(versions, ["v1", "v1beta1"], "{name}");
        assert_eq!(
            match_policy.map(String::as_str),
            Some("Equivalent"),
            "{name}"
        );
        let rules = rules.expect("rules");
        assert_eq!(rules.len(), 1, "{name}: {rules:?}");
        let rule = &rules[0];
        let list = |values: &Option<Vec<String>>| values.clone().unwrap_or_default();
        assert_eq!(list(&rule.api_groups), ["apps"], "{name}");
        assert_eq!(list(&rule.api_versions), ["v1"], "{name}");
        assert_eq!(list(&rule.operations), ["CREATE", "UPDATE"], "{name}");
        // Exactly the main resource: not statefulsets/scale (always allowed untouched), not
        // statefulsets/status, not `*`.
        assert_eq!(list(&rule.resources), ["statefulsets"], "{name}");
        assert_eq!(rule.scope.as_deref(), Some("Namespaced"), "{name}");
    };
    let hook = &mutating_hooks[0];
    common(
        &hook.side_effects,
        hook.timeout_seconds,
        &hook.admission_review_versions,
        hook.match_policy.as_ref(),
        hook.rules.as_ref(),
    );
    assert_eq!(
        hook.failure_policy.as_deref(),
        Some("Ignore"),
        "{name}: mutation fails open"
    );
    assert_eq!(
        hook.reinvocation_policy.as_deref(),
        Some("IfNeeded"),
        "{name}"
    );
    target(&hook.client_config, MUTATE_PATH);
    excluded(hook.namespace_selector.as_ref());
    let hook = &validating_hooks[0];
    common(
        &hook.side_effects,
        hook.timeout_seconds,
        &hook.admission_review_versions,
        hook.match_policy.as_ref(),
        hook.rules.as_ref(),
    );
    assert_eq!(
        hook.failure_policy.as_deref(),
        Some("Fail"),
        "{name}: validation fails closed"
    );
    target(&hook.client_config, VALIDATE_PATH);
    excluded(hook.namespace_selector.as_ref());

    check_cluster_access(rendered, &deployment, container);
}

/// (API group, resource, verb) triples.
type Grants = BTreeSet<(String, String, String)>;

/// Read access (get, list, watch) to these kinds.
fn reads(kinds: &[(&str, &str)]) -> Grants {
    kinds
        .iter()
        .flat_map(|(group, resource)| {
            READ_VERBS.map(|verb| (group.to_string(), resource.to_string(), verb.to_string()))
        })
        .collect()
}

/// What a ClusterRole grants, refusing what would make the list unreadable or larger than it
/// looks: wildcards, aggregation, non-resource URLs. (resourceNames would only narrow a rule,
/// but a reflector lists whole kinds, so it would break the watch: none either.)
fn grants(role: &ClusterRole, installation: &str) -> Grants {
    let name = role.metadata.name.as_deref().unwrap_or("?");
    assert!(
        role.aggregation_rule.is_none(),
        "{installation}: ClusterRole {name} aggregates other roles"
    );
    let mut granted = Grants::new();
    for rule in role.rules.iter().flatten() {
        assert!(
            rule.non_resource_urls.is_none() && rule.resource_names.is_none(),
            "{installation}: ClusterRole {name}: {rule:?}"
        );
        let groups = rule.api_groups.clone().unwrap_or_default();
        let resources = rule.resources.clone().unwrap_or_default();
        for value in groups.iter().chain(&resources).chain(&rule.verbs) {
            assert!(
                !value.contains('*'),
                "{installation}: ClusterRole {name} has a wildcard: {rule:?}"
            );
        }
        for group in &groups {
            for resource in &resources {
                for verb in &rule.verbs {
                    granted.insert((group.clone(), resource.clone(), verb.clone()));
                }
            }
        }
    }
    granted
}

/// The server reads the cluster through its ServiceAccount, with exactly the access the
/// watched kinds need: every ClusterRole is bound to the Deployment's account and nothing
/// else, no namespaced Role exists, and together they grant get/list/watch on the watched
/// kinds — plus Secrets exactly when the Deployment turns `--cluster-secrets` on.
fn check_cluster_access(rendered: &Rendered, deployment: &Deployment, container: &Container) {
    let name = &rendered.name;
    for kind in ["Role", "RoleBinding"] {
        assert!(
            rendered.of_kind(kind).is_empty(),
            "{name}: the server needs no {kind}"
        );
    }
    let pod = deployment.spec.template.spec.as_ref().unwrap();
    let account = pod
        .service_account_name
        .clone()
        .expect("serviceAccountName");
    let namespace = deployment.metadata.namespace.clone().unwrap();
    let roles: BTreeMap<String, ClusterRole> = rendered
        .of_kind("ClusterRole")
        .into_iter()
        .map(|object| {
            let role: ClusterRole = serde_json::from_value(object.clone())
                .unwrap_or_else(|e| panic!("{name}: a ClusterRole does not parse: {e}"));
            (role.metadata.name.clone().unwrap(), role)
        })
        .collect();
    let mut bound = BTreeSet::new();
    for object in rendered.of_kind("ClusterRoleBinding") {
        let binding: ClusterRoleBinding = serde_json::from_value(object.clone())
            .unwrap_or_else(|e| panic!("{name}: a ClusterRoleBinding does not parse: {e}"));
        let binding_name = binding.metadata.name.clone().unwrap();
        assert_eq!(
            binding.role_ref.kind, "ClusterRole",
            "{name}: {binding_name}"
        );
        assert_eq!(
            binding.role_ref.api_group.as_deref(),
            Some("rbac.authorization.k8s.io"),
            "{name}: {binding_name}"
        );
        assert!(
            roles.contains_key(&binding.role_ref.name),
            "{name}: {binding_name} binds {}, which the installation does not define",
            binding.role_ref.name
        );
        let subjects: Vec<(String, String, Option<String>)> = binding
            .subjects
            .iter()
            .flatten()
            .map(|s| (s.kind.clone(), s.name.clone(), s.namespace.clone()))
            .collect();
        assert_eq!(
            subjects,
            [(
                "ServiceAccount".to_string(),
                account.clone(),
                Some(namespace.clone())
            )],
            "{name}: {binding_name} must bind the Deployment's ServiceAccount, and only it"
        );
        bound.insert(binding.role_ref.name.clone());
    }
    let unbound: Vec<&String> = roles.keys().filter(|role| !bound.contains(*role)).collect();
    assert!(
        unbound.is_empty(),
        "{name}: unbound ClusterRoles {unbound:?}"
    );

    let granted: Grants = roles.values().flat_map(|role| grants(role, name)).collect();
    let secrets_on = container
        .env
        .iter()
        .flatten()
        .find(|var| var.name == "STSGUARD_CLUSTER_SECRETS")
        .and_then(|var| var.value.as_deref())
        == Some("true");
    let mut expected = reads(WATCHED_KINDS);
    if secrets_on {
        expected.extend(reads(SECRETS));
    }
    assert_eq!(
        granted,
        expected,
        "{name}: the server's ClusterRoles must grant get/list/watch on the watched kinds{} \
         and nothing else",
        if secrets_on { " and Secrets" } else { "" }
    );
    // On in a pod (where the token above is mounted), off on a laptop.
    assert_eq!(env(container, "STSGUARD_CLUSTER"), "auto", "{name}");
}

fn ca_bundles(rendered: &Rendered) -> Vec<Option<Vec<u8>>> {
    let mutating: MutatingWebhookConfiguration = rendered.one("MutatingWebhookConfiguration");
    let validating: ValidatingWebhookConfiguration = rendered.one("ValidatingWebhookConfiguration");
    let mutating = mutating
        .webhooks
        .unwrap()
        .into_iter()
        .map(|hook| hook.client_config);
    let validating = validating
        .webhooks
        .unwrap()
        .into_iter()
        .map(|hook| hook.client_config);
    mutating
        .chain(validating)
        .map(|config| config.ca_bundle.map(|bundle| bundle.0))
        .collect()
}

fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object["metadata"]["annotations"][key].as_str()
}

#[test]
fn base_renders_and_holds_every_setting() {
    let Some(rendered) = render("base") else {
        return;
    };
    check_installation(&rendered);
    assert!(
        rendered.of_kind("Secret").is_empty(),
        "the overlays make the TLS Secret"
    );
    assert!(ca_bundles(&rendered).iter().all(Option::is_none));
}

#[test]
fn cert_manager_overlay_renders_and_injects_the_ca_of_the_serving_certificate() {
    let Some(rendered) = render("overlays/cert-manager") else {
        return;
    };
    check_installation(&rendered);

    let deployment: Deployment = rendered.one("Deployment");
    let namespace = deployment.metadata.namespace.clone().unwrap();
    let mounted_secret = deployment
        .spec
        .template
        .spec
        .unwrap()
        .volumes
        .unwrap()
        .into_iter()
        .find_map(|volume| volume.secret.and_then(|secret| secret.secret_name))
        .unwrap();
    let service: Service = rendered.one("Service");
    let service_dns = format!("{}.{namespace}.svc", service.metadata.name.unwrap());

    for kind in [
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ] {
        let configuration = rendered.of_kind(kind)[0];
        let source = annotation(configuration, INJECT_CA_FROM)
            .unwrap_or_else(|| panic!("{kind} has no {INJECT_CA_FROM} annotation"));
        let (certificate_namespace, certificate_name) = source.split_once('/').unwrap();
        assert_eq!(certificate_namespace, namespace);
        let certificate = rendered.named("Certificate", certificate_name);
        assert_eq!(certificate["metadata"]["namespace"], namespace);
        // The certificate cainjector reads is the one the pods serve.
        assert_eq!(certificate["spec"]["secretName"], mounted_secret.as_str());
        let names = certificate["spec"]["dnsNames"].as_array().unwrap();
        assert!(
            names.contains(&Value::from(service_dns.clone())),
            "{names:?}"
        );
        assert_ne!(certificate["spec"]["isCA"], true);
        // Its issuer is a CA Issuer whose CA is itself a cert-manager Certificate.
        let issuer_ref = &certificate["spec"]["issuerRef"];
        assert_eq!(issuer_ref["kind"], "Issuer");
        let issuer = rendered.named("Issuer", issuer_ref["name"].as_str().unwrap());
        let ca_secret = issuer["spec"]["ca"]["secretName"]
            .as_str()
            .expect("a CA Issuer");
        let ca = rendered
            .of_kind("Certificate")
            .into_iter()
            .find(|certificate| certificate["spec"]["secretName"] == ca_secret)
            .expect("a Certificate for the CA");
        assert_eq!(ca["spec"]["isCA"], true);
        let root = rendered.named("Issuer", ca["spec"]["issuerRef"]["name"].as_str().unwrap());
        assert!(root["spec"]["selfSigned"].is_object());
    }
    // cainjector fills the caBundle; the manifests leave it out.
    assert!(ca_bundles(&rendered).iter().all(Option::is_none));
}

#[test]
fn self_signed_overlay_renders_from_stsguard_certs_output() {
    let Some((_temp, rendered, certs)) = render_self_signed() else {
        return;
    };
    check_installation(&rendered);

    let ca = std::fs::read(certs.join("ca.crt")).unwrap();
    for bundle in ca_bundles(&rendered) {
        assert_eq!(bundle.as_ref(), Some(&ca), "caBundle is not ca.crt");
    }
    let secret: Secret = rendered.one("Secret");
    assert_eq!(secret.metadata.name.as_deref(), Some("stsguard-tls"));
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    let data = secret.data.unwrap();
    for file in ["tls.crt", "tls.key", "ca.crt"] {
        assert_eq!(
            data.get(file).map(|bytes| &bytes.0),
            Some(&std::fs::read(certs.join(file)).unwrap()),
            "Secret {file}"
        );
    }
}

/// The opt-in component on top of an overlay (`../base` for the base), in a copy of deploy/
/// (where `stsguard certs` has written the self-signed overlay's files), as its comment says
/// to use it: from an overlay of one's own beside the others.
fn render_with_cluster_secrets(deploy: &Path, overlay: &str) -> Option<Rendered> {
    let mine = deploy.join(format!(
        "overlays/{}-cluster-secrets",
        overlay.trim_start_matches("../")
    ));
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(
        mine.join("kustomization.yaml"),
        format!("resources:\n- ../{overlay}\ncomponents:\n- ../../{CLUSTER_SECRETS_COMPONENT}\n"),
    )
    .unwrap();
    Some(Rendered {
        name: format!("overlays/{overlay} + {CLUSTER_SECRETS_COMPONENT}"),
        objects: kustomize(&mine)?,
    })
}

fn identity(object: &Value) -> (String, String) {
    (
        object["kind"].as_str().unwrap().to_string(),
        object["metadata"]["name"].as_str().unwrap().to_string(),
    )
}

#[test]
fn cluster_secrets_component_adds_only_secrets_access_and_the_flag() {
    let temp = tempfile::tempdir().unwrap();
    let deploy = temp.path().join("deploy");
    copy_tree(&root().join("deploy"), &deploy);
    let output = common::stsguard_command()
        .args(["certs", "--out-dir"])
        .arg(deploy.join("overlays/self-signed/certs"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    for overlay in ["cert-manager", "self-signed"] {
        let Some(with) = render_with_cluster_secrets(&deploy, overlay) else {
            return;
        };
        let without = Rendered {
            name: format!("overlays/{overlay}"),
            objects: kustomize(&deploy.join("overlays").join(overlay)).unwrap(),
        };
        // The whole installation still holds, with Secrets granted because the flag is on.
        check_installation(&with);
        let name = &with.name;

        let before: BTreeMap<(String, String), &Value> =
            without.objects.iter().map(|o| (identity(o), o)).collect();
        let added: Vec<(String, String)> = with
            .objects
            .iter()
            .map(identity)
            .filter(|id| !before.contains_key(id))
            .collect();
        assert_eq!(
            added,
            [
                (
                    "ClusterRole".into(),
                    "stsguard-cluster-secrets-reader".into()
                ),
                (
                    "ClusterRoleBinding".into(),
                    "stsguard-cluster-secrets-reader".into()
                ),
            ],
            "{name}: what the component adds"
        );
        let role: ClusterRole = serde_json::from_value(
            with.named("ClusterRole", "stsguard-cluster-secrets-reader")
                .clone(),
        )
        .unwrap();
        assert_eq!(grants(&role, name), reads(SECRETS), "{name}");

        // Every object of the overlay is there, unchanged but the Deployment's new variable.
        assert_eq!(with.objects.len(), without.objects.len() + added.len());
        for object in &with.objects {
            let Some(&original) = before.get(&identity(object)) else {
                continue;
            };
            let mut object = object.clone();
            if object["kind"] == "Deployment" {
                let env = object["spec"]["template"]["spec"]["containers"][0]["env"]
                    .as_array_mut()
                    .unwrap();
                let flag = env
                    .iter()
                    .position(|var| var["name"] == "STSGUARD_CLUSTER_SECRETS")
                    .unwrap_or_else(|| panic!("{name}: no STSGUARD_CLUSTER_SECRETS"));
                assert_eq!(env.remove(flag)["value"], "true", "{name}");
                let mut env = env.clone();
                let mut original_env = original["spec"]["template"]["spec"]["containers"][0]["env"]
                    .as_array()
                    .unwrap()
                    .clone();
                // kustomize may put the new variable anywhere; the order of the others stays.
                env.sort_by_key(|var| var["name"].to_string());
                original_env.sort_by_key(|var| var["name"].to_string());
                assert_eq!(env, original_env, "{name}");
                object["spec"]["template"]["spec"]["containers"][0]["env"] =
                    original["spec"]["template"]["spec"]["containers"][0]["env"].clone();
            }
            assert_eq!(&object, original, "{name}: {:?} changed", identity(&object));
        }
    }
}

#[test]
fn self_signed_overlay_without_certificates_does_not_render() {
    // Nothing half-installed: no Secret means no manifests at all.
    let Some(kubectl) = common::kubectl() else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    copy_tree(&root().join("deploy"), temp.path());
    let output = Command::new(kubectl)
        .arg("kustomize")
        .arg(temp.path().join("overlays/self-signed"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("certs/tls.crt"));
}

#[test]
fn policy_copy_in_deploy_is_the_builtin_policy() {
    let copy = std::fs::read_to_string(root().join("deploy/base/policy.yaml")).unwrap();
    assert_eq!(
        copy,
        stsguard::engine::policy::DEFAULT_POLICY_YAML,
        "deploy/base/policy.yaml differs from policies/default.yaml: copy it again \
         (cp policies/default.yaml deploy/base/policy.yaml)"
    );
}

#[test]
fn image_tag_is_the_crate_version() {
    let image = kustomization_image();
    let (_, tag) = image.rsplit_once(':').unwrap();
    assert_eq!(
        tag,
        env!("CARGO_PKG_VERSION"),
        "bump the images: tag in deploy/base/kustomization.yaml with the version"
    );
}

#[test]
fn rendered_webhooks_of_stsguard_certs_are_the_base_ones() {
    let Some(base) = render("base") else {
        return;
    };
    let rendered = stsguard::cli::certs::render_webhooks("stsguard", "stsguard", b"CA").unwrap();
    let rendered = Rendered {
        name: "stsguard certs --render-webhooks".into(),
        objects: stsguard::yaml::parse_stream(&rendered)
            .into_iter()
            .filter_map(|document| document.unwrap().value)
            .collect(),
    };
    let mut mutating: MutatingWebhookConfiguration = rendered.one("MutatingWebhookConfiguration");
    let mut validating: ValidatingWebhookConfiguration =
        rendered.one("ValidatingWebhookConfiguration");
    for hook in mutating.webhooks.iter_mut().flatten() {
        assert_eq!(hook.client_config.ca_bundle.take().unwrap().0, b"CA");
    }
    for hook in validating.webhooks.iter_mut().flatten() {
        assert_eq!(hook.client_config.ca_bundle.take().unwrap().0, b"CA");
    }
    assert_eq!(mutating, base.one("MutatingWebhookConfiguration"));
    assert_eq!(validating, base.one("ValidatingWebhookConfiguration"));
}

#[test]
fn an_overlay_of_the_overlays_can_roll_out_in_warn_mode() {
    // What the README tells users to do before enforcing: replace the policy ConfigMap with a
    // copy in `mode: warn`, keeping its name so the pods reload it in place.
    let temp = tempfile::tempdir().unwrap();
    let deploy = temp.path().join("deploy");
    copy_tree(&root().join("deploy"), &deploy);
    let overlay = deploy.join("overlays/warn");
    std::fs::create_dir_all(&overlay).unwrap();
    let warn = stsguard::engine::policy::DEFAULT_POLICY_YAML.replace("mode: enforce", "mode: warn");
    assert_ne!(warn, stsguard::engine::policy::DEFAULT_POLICY_YAML);
    std::fs::write(overlay.join("policy.yaml"), &warn).unwrap();
    std::fs::write(
        overlay.join("kustomization.yaml"),
        "resources:\n- ../cert-manager\n\
         configMapGenerator:\n\
         - name: stsguard-policy\n  namespace: stsguard\n  behavior: replace\n\
         \x20 files:\n  - policy.yaml\n",
    )
    .unwrap();
    let Some(objects) = kustomize(&overlay) else {
        return;
    };
    let rendered = Rendered {
        name: "overlays/warn".into(),
        objects,
    };
    let policy: ConfigMap = rendered.one("ConfigMap");
    assert_eq!(policy.metadata.name.as_deref(), Some("stsguard-policy"));
    let text = &policy.data.unwrap()["policy.yaml"];
    assert_eq!(text, &warn);
    stsguard::engine::Policy::from_yaml(text, "policy.yaml").expect("a valid policy");
}

#[test]
fn dockerfile_matches_the_deployment() {
    // The image cannot be built here (no container engine in CI); hold the Dockerfile to the
    // manifests instead.
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let instruction = |name: &str| -> Vec<String> {
        dockerfile
            .lines()
            .filter_map(|line| line.strip_prefix(&format!("{name} ")))
            .map(str::to_string)
            .collect()
    };
    let Some(base) = render("base") else {
        return;
    };
    let deployment: Deployment = base.one("Deployment");
    let pod = deployment.spec.template.spec.unwrap();
    let uid = pod.security_context.unwrap().run_as_user.unwrap();
    assert_eq!(instruction("USER"), [format!("{uid}:{uid}")]);
    assert_eq!(instruction("ENTRYPOINT"), [r#"["/stsguard"]"#]);
    assert_eq!(instruction("CMD"), [r#"["serve"]"#]);
    assert_eq!(
        pod.containers[0].args.as_ref().unwrap()[0],
        "serve",
        "the Deployment's args replace CMD"
    );
    assert_eq!(
        instruction("FROM").len(),
        2,
        "a builder and a runtime stage"
    );
    assert!(dockerfile.contains("cargo build --release --locked"));

    // The build needs the embedded files; the context must never carry keys.
    let ignored: Vec<&str> = include_str!("../.dockerignore")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .collect();
    for needed in [
        "src",
        "policies",
        "deploy",
        "deploy/base",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        assert!(
            !ignored
                .iter()
                .any(|pattern| pattern.trim_end_matches('/') == needed),
            ".dockerignore leaves out {needed}"
        );
    }
    assert!(ignored.contains(&"**/*.key"));
}

/// Every `STSGUARD_*` variable the Deployment sets is one `stsguard serve` reads: a renamed
/// flag must not leave the manifests setting a variable nobody reads.
#[test]
fn deployment_env_vars_are_serve_flags() {
    use clap::CommandFactory;
    let cli = stsguard::cli::Cli::command();
    let serve = cli.find_subcommand("serve").expect("a serve command");
    let known: Vec<String> = serve
        .get_arguments()
        .filter_map(|arg| Some(arg.get_env()?.to_string_lossy().into_owned()))
        .collect();
    // The base with the opt-in component: every variable the manifests may set.
    let temp = tempfile::tempdir().unwrap();
    let deploy = temp.path().join("deploy");
    copy_tree(&root().join("deploy"), &deploy);
    let Some(everything) = render_with_cluster_secrets(&deploy, "../base") else {
        return;
    };
    let deployment: Deployment = everything.one("Deployment");
    let containers = deployment.spec.template.spec.unwrap().containers;
    let mut checked = 0;
    for var in containers.iter().flat_map(|c| c.env.iter().flatten()) {
        if var.name.starts_with("STSGUARD_") {
            assert!(
                known.contains(&var.name),
                "{} is not a serve flag; known: {known:?}",
                var.name
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 6,
        "the Deployment configures serve through STSGUARD_* variables"
    );
}
