//! The kinds stsguard reads from the cluster, and how each object is reduced to what the rules
//! read before it is kept ([`Folded`]). Watches and lists share these folds, so `serve` and
//! `validate --cluster` see the same cluster the same way.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Secret, Service, ServiceAccount};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{ListParams, ObjectList};
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::engine::cluster::{self as inventory, Inventory, Names, NamespacedNames, Nodes};
use crate::engine::quantity::Quantity;

/// A kind the cluster rules read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Service,
    StorageClass,
    Node,
    PriorityClass,
    RuntimeClass,
    ServiceAccount,
    ConfigMap,
    Secret,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Service,
        Kind::StorageClass,
        Kind::Node,
        Kind::PriorityClass,
        Kind::RuntimeClass,
        Kind::ServiceAccount,
        Kind::ConfigMap,
        Kind::Secret,
    ];

    /// The kind's name, as in metrics (`kind="Service"`) and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Service => "Service",
            Kind::StorageClass => "StorageClass",
            Kind::Node => "Node",
            Kind::PriorityClass => "PriorityClass",
            Kind::RuntimeClass => "RuntimeClass",
            Kind::ServiceAccount => "ServiceAccount",
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
        }
    }

    /// The rules that read this kind: off while it is not known.
    pub fn rules(self) -> &'static [&'static str] {
        match self {
            Kind::Service => &["service-missing", "service-headless", "service-selector"],
            Kind::StorageClass => &["storage-class-missing", "storage-class-no-default"],
            Kind::Node => &["node-fit"],
            Kind::PriorityClass => &["priority-class-missing"],
            Kind::RuntimeClass => &["runtime-class-missing"],
            Kind::ServiceAccount => &["service-account-missing"],
            Kind::ConfigMap => &["config-map-missing"],
            Kind::Secret => &["secret-missing"],
        }
    }

    /// Position in [`Kind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Does `work` with the Rust type this kind is read as.
    pub fn with<W: WithKind>(self, work: W) -> W::Output {
        match self {
            Kind::Service => work.with::<Service>(),
            Kind::StorageClass => work.with::<StorageClass>(),
            Kind::Node => work.with::<Node>(),
            Kind::PriorityClass => work.with::<PriorityClass>(),
            Kind::RuntimeClass => work.with::<RuntimeClass>(),
            Kind::ServiceAccount => work.with::<PartialObjectMeta<ServiceAccount>>(),
            Kind::ConfigMap => work.with::<PartialObjectMeta<ConfigMap>>(),
            Kind::Secret => work.with::<PartialObjectMeta<Secret>>(),
        }
    }
}

/// Something done with the Rust type of a [`Kind`] ([`Kind::with`]).
pub trait WithKind {
    type Output;
    fn with<K: Folded>(self) -> Self::Output;
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the objects of one kind are read from the API server and folded into the inventory.
///
/// `State` is what is kept between events. For most kinds it is the inventory's own index
/// behind an `Arc`: changing it after it was published copies it once (`Arc::make_mut`), and
/// the previous copy goes away when the last request reading it is done, so at rest the
/// index exists once. An event that changes nothing the rules read (a Node's heartbeat, a
/// ConfigMap's data) changes nothing here, and publishes nothing.
pub trait Folded:
    Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + 'static
{
    const KIND: Kind;
    type State: Default + Send + Sync + 'static;

    /// Adds or updates an object; whether anything the rules read changed.
    fn upsert(state: &mut Self::State, object: &Self) -> bool;
    /// Removes an object; whether it was there.
    fn remove(state: &mut Self::State, object: &Self) -> bool;
    fn count(state: &Self::State) -> usize;
    /// Puts the state into the inventory as the kind's index.
    fn publish(state: &Self::State, inventory: &mut Inventory);

    /// The list-then-watch stream of the kind, all namespaces. For `PartialObjectMeta<K>`
    /// kube asks the API server for metadata only (`PartialObjectMetadata`): never a
    /// ConfigMap's data or a Secret's.
    fn watch(
        client: Client,
        config: watcher::Config,
    ) -> BoxStream<'static, watcher::Result<Event<Self>>> {
        watcher::watcher(Api::<Self>::all(client), config).boxed()
    }

    /// One page of a list of the kind, all namespaces (metadata only, as above).
    fn list(
        client: Client,
        params: ListParams,
    ) -> BoxFuture<'static, kube::Result<ObjectList<Self>>> {
        async move { Api::<Self>::all(client).list(&params).await }.boxed()
    }
}

/// Edits an index behind an `Arc` when `needed` (copying it first if a published inventory
/// shares it); whether it changed. An event that changes nothing the rules read edits
/// nothing, so nothing is copied or published.
fn change<T: Clone>(state: &mut Arc<T>, needed: bool, edit: impl FnOnce(&mut T)) -> bool {
    if needed {
        edit(Arc::make_mut(state));
    }
    needed
}

/// `(namespace, name)` of an object.
fn key<K: Resource>(object: &K) -> (String, String) {
    (object.namespace().unwrap_or_default(), object.name_any())
}

impl Folded for Service {
    const KIND: Kind = Kind::Service;
    type State = Arc<inventory::Services>;

    fn upsert(state: &mut Self::State, object: &Self) -> bool {
        let (namespace, name) = key(object);
        let spec = object.spec.as_ref();
        let service = inventory::Service::new(
            spec.and_then(|s| s.cluster_ip.as_deref()),
            spec.and_then(|s| s.selector.as_ref())
                .map(|selector| selector.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        );
        let new = state.get(&namespace, &name) != Some(&service);
        change(state, new, |s| s.insert(&namespace, &name, service))
    }

    fn remove(state: &mut Self::State, object: &Self) -> bool {
        let (namespace, name) = key(object);
        let there = state.get(&namespace, &name).is_some();
        change(state, there, |s| s.remove(&namespace, &name))
    }

    fn count(state: &Self::State) -> usize {
        state.len()
    }

    fn publish(state: &Self::State, inventory: &mut Inventory) {
        inventory.services = Some(Arc::clone(state));
    }
}

impl Folded for StorageClass {
    const KIND: Kind = Kind::StorageClass;
    type State = Arc<inventory::StorageClasses>;

    fn upsert(state: &mut Self::State, object: &Self) -> bool {
        let name = object.name_any();
        let class = inventory::StorageClass::from_annotations(
            object
                .annotations()
                .iter()
                .map(|(key, value)| (key.as_str(), value.as_str())),
        );
        let new = state.get(&name) != Some(&class);
        change(state, new, |s| s.insert(&name, class))
    }

    fn remove(state: &mut Self::State, object: &Self) -> bool {
        let name = object.name_any();
        let there = state.get(&name).is_some();
        change(state, there, |s| s.remove(&name))
    }

    fn count(state: &Self::State) -> usize {
        state.len()
    }

    fn publish(state: &Self::State, inventory: &mut Inventory) {
        inventory.storage_classes = Some(Arc::clone(state));
    }
}

/// A Node as `node-fit` reads it.
fn node(object: &Node) -> inventory::Node {
    let spec = object.spec.as_ref();
    inventory::Node {
        name: object.name_any().into(),
        labels: object
            .labels()
            .iter()
            .map(|(key, value)| (key.as_str().into(), value.as_str().into()))
            .collect(),
        taints: spec
            .and_then(|spec| spec.taints.as_ref())
            .into_iter()
            .flatten()
            .map(|taint| inventory::Taint {
                key: taint.key.as_str().into(),
                value: taint.value.as_deref().unwrap_or_default().into(),
                effect: taint.effect.as_str().into(),
            })
            .collect(),
        unschedulable: spec.and_then(|spec| spec.unschedulable).unwrap_or(false),
        allocatable: object
            .status
            .as_ref()
            .and_then(|status| status.allocatable.as_ref())
            .into_iter()
            .flatten()
            // The kubelet writes valid quantities; one that is not is left out.
            .filter_map(|(resource, amount)| {
                Some((resource.as_str().into(), Quantity::parse(&amount.0).ok()?))
            })
            .collect(),
    }
}

impl Folded for Node {
    const KIND: Kind = Kind::Node;
    /// Nodes are grouped for the fit check when published; the state keeps each one.
    type State = BTreeMap<Box<str>, inventory::Node>;

    fn upsert(state: &mut Self::State, object: &Self) -> bool {
        let node = node(object);
        if state.get(&node.name) == Some(&node) {
            return false;
        }
        state.insert(node.name.clone(), node);
        true
    }

    fn remove(state: &mut Self::State, object: &Self) -> bool {
        state.remove(object.name_any().as_str()).is_some()
    }

    fn count(state: &Self::State) -> usize {
        state.len()
    }

    fn publish(state: &Self::State, inventory: &mut Inventory) {
        inventory.nodes = Some(Arc::new(Nodes::new(state.values().cloned())));
    }
}

/// Cluster-scoped kinds of which only names are read.
macro_rules! named {
    ($kind:ty, $variant:ident, $field:ident) => {
        impl Folded for $kind {
            const KIND: Kind = Kind::$variant;
            type State = Arc<Names>;

            fn upsert(state: &mut Self::State, object: &Self) -> bool {
                let name = object.name_any();
                let new = state.contains(&name).is_none();
                change(state, new, |s| s.insert(&name))
            }

            fn remove(state: &mut Self::State, object: &Self) -> bool {
                let name = object.name_any();
                let there = state.contains(&name).is_some();
                change(state, there, |s| s.remove(&name))
            }

            fn count(state: &Self::State) -> usize {
                state.len()
            }

            fn publish(state: &Self::State, inventory: &mut Inventory) {
                inventory.$field = Some(Arc::clone(state));
            }
        }
    };
}

named!(PriorityClass, PriorityClass, priority_classes);
named!(RuntimeClass, RuntimeClass, runtime_classes);

/// Namespaced kinds of which only names are read, as metadata.
macro_rules! namespaced_names {
    ($kind:ty, $variant:ident, $field:ident) => {
        impl Folded for PartialObjectMeta<$kind> {
            const KIND: Kind = Kind::$variant;
            type State = Arc<NamespacedNames>;

            fn upsert(state: &mut Self::State, object: &Self) -> bool {
                let (namespace, name) = key(object);
                let new = state.contains(&namespace, &name).is_none();
                change(state, new, |s| s.insert(&namespace, &name))
            }

            fn remove(state: &mut Self::State, object: &Self) -> bool {
                let (namespace, name) = key(object);
                let there = state.contains(&namespace, &name).is_some();
                change(state, there, |s| s.remove(&namespace, &name))
            }

            fn count(state: &Self::State) -> usize {
                state.len()
            }

            fn publish(state: &Self::State, inventory: &mut Inventory) {
                inventory.$field = Some(Arc::clone(state));
            }
        }
    };
}

namespaced_names!(ServiceAccount, ServiceAccount, service_accounts);
namespaced_names!(ConfigMap, ConfigMap, config_maps);
namespaced_names!(Secret, Secret, secrets);

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{NodeStatus, ServiceSpec};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity as Amount;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn meta(namespace: Option<&str>, name: &str) -> ObjectMeta {
        ObjectMeta {
            namespace: namespace.map(str::to_string),
            name: Some(name.to_string()),
            ..ObjectMeta::default()
        }
    }

    fn service(cluster_ip: &str, resource_version: &str) -> Service {
        Service {
            metadata: ObjectMeta {
                resource_version: Some(resource_version.into()),
                ..meta(Some("shop"), "db")
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some(cluster_ip.into()),
                ..ServiceSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn a_service_change_the_rules_do_not_read_changes_nothing() {
        let mut state = <Service as Folded>::State::default();
        assert!(Service::upsert(&mut state, &service("None", "1")));
        // A new resourceVersion alone (status, annotations, ports): nothing to publish.
        assert!(!Service::upsert(&mut state, &service("None", "2")));
        assert!(Service::upsert(&mut state, &service("10.0.0.1", "3")));
        let mut inventory = Inventory::default();
        Service::publish(&state, &mut inventory);
        let services = inventory.services.as_deref().unwrap();
        assert!(!services.get("shop", "db").unwrap().is_headless());
        assert!(Service::remove(&mut state, &service("None", "4")));
        assert!(!Service::remove(&mut state, &service("None", "4")));
        assert_eq!(Service::count(&state), 0);
    }

    #[test]
    fn a_published_index_does_not_change_under_its_readers() {
        let mut state = <Service as Folded>::State::default();
        Service::upsert(&mut state, &service("None", "1"));
        let mut inventory = Inventory::default();
        Service::publish(&state, &mut inventory);
        Service::remove(&mut state, &service("None", "2"));
        // The snapshot a review holds keeps the Service; the next one will not have it.
        assert!(inventory.services.unwrap().get("shop", "db").is_some());
        assert_eq!(Service::count(&state), 0);
    }

    #[test]
    fn a_node_heartbeat_changes_nothing_and_allocatable_does() {
        let node = |gpus: &str, heartbeat: &str| Node {
            metadata: ObjectMeta {
                resource_version: Some(heartbeat.into()),
                ..meta(None, "gpu-a1")
            },
            spec: None,
            status: Some(NodeStatus {
                allocatable: Some(BTreeMap::from([
                    ("nvidia.com/gpu".to_string(), Amount(gpus.into())),
                    ("cpu".to_string(), Amount("not a quantity".into())),
                ])),
                ..NodeStatus::default()
            }),
        };
        let mut state = <Node as Folded>::State::default();
        assert!(Node::upsert(&mut state, &node("2", "1")));
        assert!(!Node::upsert(&mut state, &node("2", "2")));
        assert!(Node::upsert(&mut state, &node("4", "3")));
        let kept = &state["gpu-a1"];
        // A quantity the kubelet would never write is left out rather than read as 0.
        assert_eq!(kept.allocatable.len(), 1);
        let mut inventory = Inventory::default();
        Node::publish(&state, &mut inventory);
        assert!(inventory.nodes.unwrap().advertise("nvidia.com/gpu"));
    }

    #[test]
    fn names_only_kinds_keep_names() {
        let config_map = |name: &str| PartialObjectMeta::<ConfigMap> {
            types: None,
            metadata: meta(Some("shop"), name),
            _phantom: std::marker::PhantomData,
        };
        let mut state = <PartialObjectMeta<ConfigMap> as Folded>::State::default();
        assert!(PartialObjectMeta::<ConfigMap>::upsert(
            &mut state,
            &config_map("settings")
        ));
        assert!(!PartialObjectMeta::<ConfigMap>::upsert(
            &mut state,
            &config_map("settings")
        ));
        let mut inventory = Inventory::default();
        PartialObjectMeta::<ConfigMap>::publish(&state, &mut inventory);
        assert_eq!(
            inventory.config_maps.unwrap().contains("shop", "settings"),
            Some(())
        );
    }

    #[test]
    fn every_kind_names_rules_of_the_catalog() {
        for kind in Kind::ALL {
            assert_eq!(Kind::ALL[kind.index()], kind);
            for rule in kind.rules() {
                assert!(
                    crate::engine::rules::catalog::find(rule).is_some(),
                    "{kind}: {rule}"
                );
            }
        }
    }
}
