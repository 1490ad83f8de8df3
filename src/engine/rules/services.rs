//! The governing Service named by `spec.serviceName`: it must exist (`service-missing`), be
//! headless (`service-headless`) and select the pods (`service-selector`). It is looked up in
//! the same input (offline) and in the cluster (SPEC §8).
//!
//! A StatefulSet's stable network identity (`web-0.nginx.default.svc.cluster.local`) comes
//! from DNS records that exist only for a headless Service whose selector picks the pods.
//! Neither the API server nor the controller checks this: a wrong or missing Service is
//! accepted and the pods are simply unreachable by name.

use crate::engine::catalog::RuleId;
use crate::engine::cluster::{Lookup, Service};
use crate::engine::doc::Doc;
use crate::engine::finding::Finding;
use crate::engine::rules::Cx;
use crate::engine::suggest;
use crate::engine::view::{StatefulSet, str_of};

/// Runs this family's rules.
pub fn check(sts: &StatefulSet<'_>, cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let Some(name) = str_of(sts.spec, "serviceName").filter(|s| !s.is_empty()) else {
        return;
    };
    // A Service that names no namespace in the input lands wherever the StatefulSet does
    // (`kubectl apply -n`).
    match cx.known.service(cx.namespace, name) {
        Lookup::Found(service) => {
            check_headless(name, service, out);
            check_selector(sts, name, service, out);
        }
        Lookup::Missing => {
            let candidates = cx.known.service_names(cx.namespace);
            out.push(Finding::new(
                RuleId::ServiceMissing,
                "/spec/serviceName",
                format!(
                    "the governing Service {name:?} does not exist in namespace {}{}: the pods \
                     get no DNS records such as <pod>.{name}.{}.svc",
                    cx.namespace,
                    suggest::closest(name, candidates.iter().copied())
                        .map(|found| format!(" (did you mean {found:?}?)"))
                        .unwrap_or_default(),
                    cx.namespace
                ),
                format!(
                    "create a headless Service {name:?} (clusterIP: None) selecting the pods' \
                     labels in namespace {}",
                    cx.namespace
                ),
            ));
        }
        Lookup::Unknown => {}
    }
}

fn check_headless(name: &str, service: &Service, out: &mut Vec<Finding>) {
    if !service.is_headless() {
        out.push(Finding::new(
            RuleId::ServiceHeadless,
            "/spec/serviceName",
            format!(
                "the governing Service {name:?} is not headless (clusterIP: {}): the pods get no \
                 per-pod DNS records such as <pod>.{name}.<namespace>.svc",
                service
                    .cluster_ip
                    .as_deref()
                    .unwrap_or("unset, so one is allocated")
            ),
            format!("set spec.clusterIP: None in Service {name:?} (clusterIP cannot be changed in place: re-create the Service)"),
        ));
    }
}

fn check_selector(sts: &StatefulSet<'_>, name: &str, service: &Service, out: &mut Vec<Finding>) {
    let labels = sts.template_labels();
    let mismatch = match service.selector.as_deref() {
        None => Some("it has no selector".to_string()),
        Some([]) => Some("its selector is empty".to_string()),
        Some(selector) => selector.iter().find_map(|(key, want)| {
            let have = labels
                .and_then(|labels| labels.get(key))
                .and_then(Doc::as_str);
            (have != Some(&**want)).then(|| {
                format!(
                    "it selects {key}={want} but the pod template has {}",
                    match have {
                        Some(value) => format!("{key}={value}"),
                        None => format!("no label {key}"),
                    }
                )
            })
        }),
    };
    if let Some(reason) = mismatch {
        out.push(Finding::new(
            RuleId::ServiceSelector,
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
    use std::sync::Arc;

    use super::*;
    use crate::engine::cluster::{Inventory, Known, Services};
    use crate::engine::rules::testing::{self, hits};
    use serde_json::{Value, json};

    fn run_with_services(object: &Value, services: &[Value]) -> Vec<Finding> {
        run_in(object, &Inventory::from_input(services), None)
    }

    /// With `input` from the same files and, when given, the cluster's Services.
    fn run_in(object: &Value, input: &Inventory, cluster: Option<&Inventory>) -> Vec<Finding> {
        let known = Known::new(Some(input), cluster);
        testing::run_known(check, object, &testing::policy(json!({})), known)
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

    fn cluster_with(names: &[(&str, &str)]) -> Inventory {
        let mut services = Services::default();
        for (namespace, name) in names {
            let selector = [("app", "nginx")];
            services.insert(namespace, name, Service::new(Some("None"), Some(selector)));
        }
        Inventory {
            services: Some(Arc::new(services)),
            ..Inventory::default()
        }
    }

    #[test]
    fn reports_a_governing_service_the_cluster_does_not_have() {
        let cluster = cluster_with(&[("default", "ngnix"), ("other", "nginx")]);
        let findings = run_in(&testing::web(), &Inventory::default(), Some(&cluster));
        assert_eq!(hits(&findings), [("service-missing", "/spec/serviceName")]);
        assert!(
            findings[0].message.contains("(did you mean \"ngnix\"?)"),
            "{}",
            findings[0].message
        );
    }

    #[test]
    fn a_service_in_the_cluster_or_the_input_is_not_missing() {
        let cluster = cluster_with(&[("default", "nginx")]);
        assert_eq!(
            run_in(&testing::web(), &Inventory::default(), Some(&cluster)),
            []
        );
        let empty = cluster_with(&[]);
        let service = nginx(json!({"clusterIP": "None", "selector": {"app": "nginx"}}));
        let input = Inventory::from_input(&[service]);
        assert_eq!(run_in(&testing::web(), &input, Some(&empty)), []);
        // Without the cluster's Services nothing is missing.
        assert_eq!(run_in(&testing::web(), &Inventory::default(), None), []);
    }

    #[test]
    fn judges_the_cluster_service_at_admission() {
        let mut services = Services::default();
        services.insert(
            "default",
            "nginx",
            Service::new(Some("10.0.0.1"), Some([("app", "web")])),
        );
        let cluster = Inventory {
            services: Some(Arc::new(services)),
            ..Inventory::default()
        };
        assert_eq!(
            hits(&run_in(
                &testing::web(),
                &Inventory::default(),
                Some(&cluster)
            )),
            [
                ("service-headless", "/spec/serviceName"),
                ("service-selector", "/spec/serviceName")
            ]
        );
    }
}
