//! Rules across documents (offline): the governing Service named by `spec.serviceName`,
//! when the same input holds it.
//!
//! A StatefulSet's stable network identity (`web-0.nginx.default.svc.cluster.local`) comes
//! from DNS records that exist only for a headless Service whose selector picks the pods.
//! Neither the API server nor the controller checks this: a wrong Service is accepted and
//! the pods are simply unreachable by name.

use serde_json::Value;

use crate::engine::doc::Doc;
use crate::engine::finding::Finding;
use crate::engine::rules::Cx;
use crate::engine::view::{StatefulSet, at, get, map_of, str_of};

/// Runs this family's rules.
pub fn check(sts: &StatefulSet<'_>, cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let Some(service_name) = str_of(sts.spec, "serviceName").filter(|s| !s.is_empty()) else {
        return;
    };
    let Some(service) = governing_service(service_name, cx) else {
        return;
    };
    check_headless(service_name, service, out);
    check_selector(sts, service_name, service, out);
}

/// The Service of that name in the StatefulSet's namespace. A Service that names no
/// namespace lands wherever the StatefulSet does (`kubectl apply -n`).
fn governing_service<'a>(name: &str, cx: &Cx<'a>) -> Option<&'a Value> {
    cx.services.iter().find(|service| {
        at(*service, &["metadata", "name"]).and_then(Value::as_str) == Some(name)
            && at(*service, &["metadata", "namespace"])
                .and_then(Value::as_str)
                .is_none_or(|ns| ns == cx.namespace)
    })
}

fn check_headless(name: &str, service: &Value, out: &mut Vec<Finding>) {
    let cluster_ip = get(service, "spec").and_then(|spec| str_of(spec, "clusterIP"));
    if cluster_ip != Some("None") {
        out.push(Finding::new(
            "service-headless",
            "/spec/serviceName",
            format!(
                "the governing Service {name:?} is not headless (clusterIP: {}): the pods get no \
                 per-pod DNS records such as <pod>.{name}.<namespace>.svc",
                cluster_ip.unwrap_or("unset, so one is allocated")
            ),
            format!("set spec.clusterIP: None in Service {name:?} (clusterIP cannot be changed in place: re-create the Service)"),
        ));
    }
}

fn check_selector(sts: &StatefulSet<'_>, name: &str, service: &Value, out: &mut Vec<Finding>) {
    let selector = get(service, "spec").and_then(|spec| map_of(spec, "selector"));
    let labels = sts.template_labels();
    let mismatch = match selector {
        None => Some("it has no selector".to_string()),
        Some(selector) if selector.is_empty() => Some("its selector is empty".to_string()),
        Some(selector) => selector.iter().find_map(|(key, want)| {
            let have = labels.and_then(|labels| labels.get(key));
            (!have.is_some_and(|have| have == want)).then(|| {
                format!(
                    "it selects {key}={} but the pod template has {}",
                    want.as_str().unwrap_or("?"),
                    match have.and_then(Doc::as_str) {
                        Some(value) => format!("{key}={value}"),
                        None => format!("no label {key}"),
                    }
                )
            })
        }),
    };
    if let Some(reason) = mismatch {
        out.push(Finding::new(
            "service-selector",
            "/spec/serviceName",
            format!(
                "the governing Service {name:?} does not select this StatefulSet's pods: {reason}; \
                 the pods get no DNS records"
            ),
            format!("make the selector of Service {name:?} match spec.template.metadata.labels"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::KubeVersion;
    use crate::engine::rules::testing::{self, hits};
    use crate::engine::view::StatefulSet;
    use serde_json::json;

    fn run_with_services(object: &Value, services: &[Value]) -> Vec<Finding> {
        let policy = testing::policy(json!({}));
        let settings = policy.settings_for("default");
        let cx = Cx {
            policy: &policy,
            settings: &settings,
            namespace: "default",
            kube_version: KubeVersion::LATEST,
            strict: false,
            services,
            old: None,
        };
        let mut out = Vec::new();
        check(
            &StatefulSet::new(&crate::engine::doc::Doc::from(object)),
            &cx,
            &mut out,
        );
        out
    }

    fn nginx(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nginx"}, "spec": spec})
    }

    #[test]
    fn accepts_a_headless_service_selecting_the_pods() {
        let service = nginx(json!({"clusterIP": "None", "selector": {"app": "nginx"}}));
        assert_eq!(run_with_services(&testing::web(), &[service]), []);
    }

    #[test]
    fn says_nothing_when_the_service_is_not_in_the_input() {
        let other = json!({"metadata": {"name": "other"}, "spec": {}});
        assert_eq!(run_with_services(&testing::web(), &[other]), []);
    }

    #[test]
    fn rejects_a_service_with_a_cluster_ip() {
        let service = nginx(json!({"selector": {"app": "nginx"}}));
        assert_eq!(
            hits(&run_with_services(&testing::web(), &[service])),
            [("service-headless", "/spec/serviceName")]
        );
    }

    #[test]
    fn rejects_a_service_selecting_other_pods() {
        let service = nginx(json!({"clusterIP": "None", "selector": {"app": "web"}}));
        let findings = run_with_services(&testing::web(), &[service]);
        assert_eq!(hits(&findings), [("service-selector", "/spec/serviceName")]);
        assert!(
            findings[0].message.contains("app=web"),
            "{}",
            findings[0].message
        );
    }

    #[test]
    fn ignores_a_service_of_another_namespace() {
        let mut service = nginx(json!({"selector": {"app": "web"}}));
        service["metadata"]["namespace"] = json!("elsewhere");
        assert_eq!(run_with_services(&testing::web(), &[service]), []);
    }
}
