//! What stsguard knows of the objects a StatefulSet refers to (SPEC §8): Services,
//! StorageClasses, Nodes, PriorityClasses, RuntimeClasses, ServiceAccounts, ConfigMaps and
//! Secrets, each kept as the little the rules read.
//!
//! An [`Inventory`] holds them by kind. Two inventories reach the rules: the objects of the
//! same input (the other documents of `stsguard validate`'s files) and the cluster's (the
//! webhook's watches, or `validate --cluster`'s lists). Objects in the input count as present
//! whatever the cluster says — `kubectl apply -f dir/` creates them together — but only the
//! cluster can say that something is **missing**: a file set rarely holds every ConfigMap its
//! StatefulSets mount. A kind the cluster side does not know (not watched, not listed yet,
//! forbidden by RBAC, an API the cluster does not serve) is `None`, and its rules say nothing.
//!
//! Everything here is plain data: the engine stays pure, and the same inventory gives the same
//! verdict in the CLI and in the webhook.

pub mod nodes;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use serde_json::Value;

use crate::engine::view::{at, get, str_of};

pub use nodes::{Node, Nodes, Taint};

/// Objects of the kinds the cluster rules read, each kind `None` when it is not known.
///
/// Kinds are behind `Arc`s so that the webhook can replace one kind's index while requests
/// read the previous one, and take a snapshot of all of them for the price of a few counter
/// increments.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    pub services: Option<Arc<Services>>,
    pub storage_classes: Option<Arc<StorageClasses>>,
    pub nodes: Option<Arc<Nodes>>,
    pub priority_classes: Option<Arc<Names>>,
    pub runtime_classes: Option<Arc<Names>>,
    pub service_accounts: Option<Arc<NamespacedNames>>,
    pub config_maps: Option<Arc<NamespacedNames>>,
    pub secrets: Option<Arc<NamespacedNames>>,
}

/// The namespace under which an input object that names none is kept: it lands wherever
/// the StatefulSet does (`kubectl apply -n NS -f dir/`), so it matches every namespace.
const ANY_NAMESPACE: &str = "";

impl Inventory {
    /// The objects of an input set (parsed documents). Every kind but Nodes is present,
    /// possibly empty; objects that name no namespace match any. Documents of other kinds
    /// are ignored.
    pub fn from_input<'v>(objects: impl IntoIterator<Item = &'v Value>) -> Inventory {
        let mut inventory = Inventory::empty_input();
        for object in objects {
            inventory.add_input(object);
        }
        inventory
    }

    /// The inventory of an input set before any object: every kind but Nodes known and empty.
    pub fn empty_input() -> Inventory {
        Inventory {
            nodes: None,
            ..Inventory::from_objects([])
        }
    }

    /// Adds one object of the input, as [`Inventory::from_input`] does, so that an input read
    /// piece by piece (`validate` streams its files) builds the same inventory: a later object
    /// of the same kind, namespace and name replaces the earlier one. Returns what was added,
    /// or `None` for an object no rule reads.
    pub fn add_input<'v>(&mut self, object: &'v Value) -> Option<Added<'v>> {
        let name = at(object, &["metadata", "name"]).and_then(Value::as_str)?;
        let namespace = at(object, &["metadata", "namespace"])
            .and_then(Value::as_str)
            .unwrap_or(ANY_NAMESPACE);
        let api_version = str_of(object, "apiVersion").unwrap_or_default();
        let mut redefines = false;
        let kind = match (api_version, str_of(object, "kind").unwrap_or_default()) {
            ("v1", "Service") => {
                let services = Arc::make_mut(self.services.get_or_insert_default());
                // What a review may have read already: the same name here, or in no namespace
                // (which this one now hides in its namespace).
                redefines = services
                    .0
                    .get(namespace)
                    .is_some_and(|n| n.contains_key(name))
                    || services
                        .0
                        .get(ANY_NAMESPACE)
                        .is_some_and(|n| n.contains_key(name));
                services.insert(namespace, name, Service::from_json(object));
                InputKind::Service
            }
            ("storage.k8s.io/v1" | "storage.k8s.io/v1beta1", "StorageClass") => {
                Arc::make_mut(self.storage_classes.get_or_insert_default())
                    .insert(name, StorageClass::from_json(object));
                InputKind::StorageClass
            }
            ("scheduling.k8s.io/v1" | "scheduling.k8s.io/v1beta1", "PriorityClass") => {
                Arc::make_mut(self.priority_classes.get_or_insert_default()).insert(name);
                InputKind::PriorityClass
            }
            ("node.k8s.io/v1" | "node.k8s.io/v1beta1", "RuntimeClass") => {
                Arc::make_mut(self.runtime_classes.get_or_insert_default()).insert(name);
                InputKind::RuntimeClass
            }
            ("v1", "ServiceAccount") => {
                Arc::make_mut(self.service_accounts.get_or_insert_default())
                    .insert(namespace, name);
                InputKind::ServiceAccount
            }
            ("v1", "ConfigMap") => {
                Arc::make_mut(self.config_maps.get_or_insert_default()).insert(namespace, name);
                InputKind::ConfigMap
            }
            ("v1", "Secret") => {
                Arc::make_mut(self.secrets.get_or_insert_default()).insert(namespace, name);
                InputKind::Secret
            }
            // Nodes come from the cluster only: a Node in a file describes no cluster.
            _ => return None,
        };
        Some(Added {
            kind,
            namespace,
            redefines,
        })
    }

    /// A whole cluster described by its objects (JSON, as `kubectl get -o json` writes them),
    /// Nodes included: every kind is known, so what is not there is missing.
    pub fn from_objects<'v>(objects: impl IntoIterator<Item = &'v Value>) -> Inventory {
        let mut services = Services::default();
        let mut storage_classes = StorageClasses::default();
        let mut priority_classes = Names::default();
        let mut runtime_classes = Names::default();
        let mut service_accounts = NamespacedNames::default();
        let mut config_maps = NamespacedNames::default();
        let mut secrets = NamespacedNames::default();
        let mut nodes = Vec::new();
        for object in objects {
            let Some(name) = at(object, &["metadata", "name"]).and_then(Value::as_str) else {
                continue;
            };
            let namespace = at(object, &["metadata", "namespace"])
                .and_then(Value::as_str)
                .unwrap_or(ANY_NAMESPACE);
            let api_version = str_of(object, "apiVersion").unwrap_or_default();
            match (api_version, str_of(object, "kind").unwrap_or_default()) {
                ("v1", "Service") => {
                    services.insert(namespace, name, Service::from_json(object));
                }
                ("storage.k8s.io/v1" | "storage.k8s.io/v1beta1", "StorageClass") => {
                    storage_classes.insert(name, StorageClass::from_json(object));
                }
                ("scheduling.k8s.io/v1" | "scheduling.k8s.io/v1beta1", "PriorityClass") => {
                    priority_classes.insert(name);
                }
                ("node.k8s.io/v1" | "node.k8s.io/v1beta1", "RuntimeClass") => {
                    runtime_classes.insert(name);
                }
                ("v1", "ServiceAccount") => service_accounts.insert(namespace, name),
                ("v1", "ConfigMap") => config_maps.insert(namespace, name),
                ("v1", "Secret") => secrets.insert(namespace, name),
                ("v1", "Node") => nodes.push(Node::from_json(object)),
                _ => {}
            }
        }
        Inventory {
            services: Some(Arc::new(services)),
            storage_classes: Some(Arc::new(storage_classes)),
            nodes: Some(Arc::new(Nodes::new(nodes))),
            priority_classes: Some(Arc::new(priority_classes)),
            runtime_classes: Some(Arc::new(runtime_classes)),
            service_accounts: Some(Arc::new(service_accounts)),
            config_maps: Some(Arc::new(config_maps)),
            secrets: Some(Arc::new(secrets)),
        }
    }
}

/// An object [`Inventory::add_input`] kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Added<'v> {
    pub kind: InputKind,
    /// The namespace it is kept under (`""`: none, matching every one).
    pub namespace: &'v str,
    /// Whether it may replace what a lookup found before ([`InputReads::found`]): a Service
    /// of a name already kept in its namespace or in none.
    pub redefines: bool,
}

/// A kind of object the rules look up in the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    Service,
    StorageClass,
    PriorityClass,
    RuntimeClass,
    ServiceAccount,
    ConfigMap,
    Secret,
}

impl InputKind {
    /// Whether an object of this kind in the input can change a review's findings. Without
    /// the cluster's objects (`cluster == false`) only a Service can: a lookup then finds an
    /// object or learns nothing ([`Lookup::Unknown`]), and of the objects found only the
    /// governing Service is read (`service-headless`, `service-selector`); the other kinds
    /// only silence a [`Lookup::Missing`], which only the cluster can say.
    pub fn matters(self, cluster: bool) -> bool {
        cluster || self == InputKind::Service
    }

    /// Whether objects of this kind live in a namespace.
    pub fn is_namespaced(self) -> bool {
        !matches!(
            self,
            InputKind::StorageClass | InputKind::PriorityClass | InputKind::RuntimeClass
        )
    }
}

/// What a rule learns when it looks an object up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup<T> {
    /// In the input or in the cluster.
    Found(T),
    /// The cluster's objects of that kind are known, and it is not among them (nor in the
    /// input).
    Missing,
    /// Not in the input, and the cluster's objects of that kind are not known.
    Unknown,
}

/// The two inventories a review sees: the input's and the cluster's.
#[derive(Clone, Copy, Debug, Default)]
pub struct Known<'a> {
    pub input: Option<&'a Inventory>,
    pub cluster: Option<&'a Inventory>,
    /// Where the engine notes what its lookups in the input learnt, set for the time of one
    /// review (`None` in a caller's context).
    pub(crate) reads: Option<&'a ReadNotes>,
}

/// What one review's lookups learnt ([`InputReads`]), noted as they happen. Atomic only so
/// that a [`Known`] stays shareable between threads; one review is one thread.
#[derive(Debug, Default)]
pub(crate) struct ReadNotes(AtomicU8);

impl ReadNotes {
    const MISSED: u8 = 1;
    const FOUND: u8 = 2;

    fn note(&self, bit: u8) {
        self.0.fetch_or(bit, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> InputReads {
        let bits = self.0.load(Ordering::Relaxed);
        InputReads {
            missed: bits & Self::MISSED != 0,
            found: bits & Self::FOUND != 0,
        }
    }
}

/// What one review's lookups learnt from the input, for a caller that reads its input piece
/// by piece (`validate` streams its files): whether an object read later could still change
/// the verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InputReads {
    /// A lookup depends on an object the input does not hold (yet): a Service looked up and
    /// not in the input (a later one would be read: `service-headless`, `service-selector`),
    /// or anything the cluster says is missing (a later one in the input would silence it).
    pub missed: bool,
    /// A Service was found in the input: a later one of the same name (or of the same name
    /// in the StatefulSet's own namespace, over one that names none) would replace it.
    pub found: bool,
}

impl<'a> Known<'a> {
    pub fn new(input: Option<&'a Inventory>, cluster: Option<&'a Inventory>) -> Self {
        Known {
            input,
            cluster,
            reads: None,
        }
    }

    fn note(&self, bit: u8) {
        if let (Some(notes), Some(_)) = (self.reads, self.input) {
            notes.note(bit);
        }
    }

    /// Looks an object up in the input, then in the cluster; [`Lookup::Missing`] only when
    /// the cluster's kind (chosen by `kind`) is known. `read` says whether a rule reads more
    /// of a found object than that it exists.
    fn lookup<K: ?Sized + 'a, T>(
        &self,
        kind: impl Fn(&'a Inventory) -> Option<&'a K>,
        find: impl Fn(&'a K) -> Option<T>,
        read: bool,
    ) -> Lookup<T> {
        if let Some(found) = self.input.and_then(&kind).and_then(&find) {
            if read {
                self.note(ReadNotes::FOUND);
            }
            return Lookup::Found(found);
        }
        let result = match self.cluster.and_then(&kind) {
            None => Lookup::Unknown,
            Some(objects) => find(objects).map_or(Lookup::Missing, Lookup::Found),
        };
        // An object found only for existence cannot be changed by a later one; nor can
        // "unknown" be, when the rule would say nothing of it found either.
        if read || matches!(result, Lookup::Missing) {
            self.note(ReadNotes::MISSED);
        }
        result
    }

    pub fn service(&self, namespace: &str, name: &str) -> Lookup<&'a Service> {
        self.lookup(|i| i.services.as_deref(), |s| s.get(namespace, name), true)
    }

    pub fn storage_class(&self, name: &str) -> Lookup<&'a StorageClass> {
        self.lookup(|i| i.storage_classes.as_deref(), |s| s.get(name), false)
    }

    pub fn priority_class(&self, name: &str) -> Lookup<()> {
        self.lookup(
            |i| i.priority_classes.as_deref(),
            |s| s.contains(name),
            false,
        )
    }

    pub fn runtime_class(&self, name: &str) -> Lookup<()> {
        self.lookup(
            |i| i.runtime_classes.as_deref(),
            |s| s.contains(name),
            false,
        )
    }

    pub fn service_account(&self, namespace: &str, name: &str) -> Lookup<()> {
        self.lookup(
            |i| i.service_accounts.as_deref(),
            |s| s.contains(namespace, name),
            false,
        )
    }

    pub fn config_map(&self, namespace: &str, name: &str) -> Lookup<()> {
        self.lookup(
            |i| i.config_maps.as_deref(),
            |s| s.contains(namespace, name),
            false,
        )
    }

    pub fn secret(&self, namespace: &str, name: &str) -> Lookup<()> {
        self.lookup(
            |i| i.secrets.as_deref(),
            |s| s.contains(namespace, name),
            false,
        )
    }

    /// The cluster's Nodes, when known.
    pub fn nodes(&self) -> Option<&'a Nodes> {
        self.cluster?.nodes.as_deref()
    }

    /// Whether a default StorageClass is in the input or the cluster; `None` when the
    /// cluster's classes are not known.
    pub fn has_default_storage_class(&self) -> Option<bool> {
        let cluster = self.cluster?.storage_classes.as_deref()?;
        let input = self.input.and_then(|i| i.storage_classes.as_deref());
        let found = [Some(cluster), input]
            .into_iter()
            .flatten()
            .any(|classes| classes.iter().any(|(_, class)| class.is_default));
        if !found {
            // A default class later in the input would answer otherwise.
            self.note(ReadNotes::MISSED);
        }
        Some(found)
    }

    /// Every StorageClass of the input and the cluster (names sorted, each once), when the
    /// cluster's are known.
    pub fn storage_classes(&self) -> Option<Vec<(&'a str, &'a StorageClass)>> {
        let cluster = self.cluster?.storage_classes.as_deref()?;
        let mut all: BTreeMap<&str, &StorageClass> = cluster.iter().collect();
        if let Some(input) = self.input.and_then(|i| i.storage_classes.as_deref()) {
            all.extend(input.iter());
        }
        Some(all.into_iter().collect())
    }

    /// Names of the Services in a namespace (input and cluster), for "did you mean".
    pub fn service_names(&self, namespace: &str) -> Vec<&'a str> {
        let mut names: Vec<&str> = [self.input, self.cluster]
            .into_iter()
            .flatten()
            .filter_map(|i| i.services.as_deref())
            .flat_map(|services| services.names_in(namespace))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Names of one kind in a namespace (input and cluster), for "did you mean".
    pub fn names_in(
        &self,
        kind: impl Fn(&'a Inventory) -> Option<&'a NamespacedNames>,
        namespace: &str,
    ) -> Vec<&'a str> {
        let mut names: Vec<&str> = [self.input, self.cluster]
            .into_iter()
            .flatten()
            .filter_map(&kind)
            .flat_map(|objects| objects.names_in(namespace))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// A label or selector entry: key and value.
pub type Label = (Box<str>, Box<str>);

/// A Service, as the governing-Service rules read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// `spec.clusterIP`: `None` (the string) for a headless Service.
    pub cluster_ip: Option<Box<str>>,
    /// `spec.selector`, in order; `None` when it has none.
    pub selector: Option<Box<[Label]>>,
}

impl Service {
    pub fn new<'s>(
        cluster_ip: Option<&str>,
        selector: Option<impl IntoIterator<Item = (&'s str, &'s str)>>,
    ) -> Service {
        Service {
            cluster_ip: cluster_ip.map(Box::from),
            selector: selector.map(|pairs| {
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect()
            }),
        }
    }

    /// A Service as written in a file or sent by the API server (JSON).
    pub fn from_json(object: &Value) -> Service {
        let spec = get(object, "spec");
        let selector = spec
            .and_then(|spec| get(spec, "selector"))
            .and_then(Value::as_object)
            .map(|selector| {
                selector
                    .iter()
                    .map(|(key, value)| (key.as_str(), value.as_str().unwrap_or_default()))
            });
        Service::new(spec.and_then(|spec| str_of(spec, "clusterIP")), selector)
    }

    /// Whether the Service is headless (`clusterIP: None`): only then does DNS publish a
    /// record per pod (`web-0.nginx.default.svc.cluster.local`).
    pub fn is_headless(&self) -> bool {
        self.cluster_ip.as_deref() == Some("None")
    }
}

/// Services by namespace and name.
#[derive(Clone, Debug, Default)]
pub struct Services(HashMap<Box<str>, HashMap<Box<str>, Service>>);

impl Services {
    pub fn insert(&mut self, namespace: &str, name: &str, service: Service) {
        self.0
            .entry(namespace.into())
            .or_default()
            .insert(name.into(), service);
    }

    pub fn remove(&mut self, namespace: &str, name: &str) {
        if let Some(names) = self.0.get_mut(namespace) {
            names.remove(name);
            if names.is_empty() {
                self.0.remove(namespace);
            }
        }
    }

    /// The Service of that name in that namespace (or, for input objects, in none).
    pub fn get(&self, namespace: &str, name: &str) -> Option<&Service> {
        [namespace, ANY_NAMESPACE]
            .into_iter()
            .find_map(|ns| self.0.get(ns)?.get(name))
    }

    /// The names in one namespace (and, for input objects, in none).
    pub fn names_in(&self, namespace: &str) -> impl Iterator<Item = &str> {
        [namespace, ANY_NAMESPACE]
            .into_iter()
            .filter_map(|ns| self.0.get(ns))
            .flat_map(HashMap::keys)
            .map(|name| &**name)
    }

    pub fn len(&self) -> usize {
        self.0.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A StorageClass, as the storage-class rules read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StorageClass {
    /// Annotated as the cluster's default class: claims without a class get it.
    pub is_default: bool,
}

impl StorageClass {
    /// The annotations that make a class the default (the beta one is still honoured).
    pub const DEFAULT_ANNOTATIONS: [&'static str; 2] = [
        "storageclass.kubernetes.io/is-default-class",
        "storageclass.beta.kubernetes.io/is-default-class",
    ];

    /// From the class's annotations (`(key, value)` pairs).
    pub fn from_annotations<'s>(annotations: impl IntoIterator<Item = (&'s str, &'s str)>) -> Self {
        StorageClass {
            is_default: annotations
                .into_iter()
                .any(|(key, value)| Self::DEFAULT_ANNOTATIONS.contains(&key) && value == "true"),
        }
    }

    pub fn from_json(object: &Value) -> Self {
        let annotations = at(object, &["metadata", "annotations"]).and_then(Value::as_object);
        Self::from_annotations(
            annotations
                .into_iter()
                .flatten()
                .filter_map(|(key, value)| Some((key.as_str(), value.as_str()?))),
        )
    }
}

/// StorageClasses by name (cluster-scoped), sorted for stable messages.
#[derive(Clone, Debug, Default)]
pub struct StorageClasses(BTreeMap<Box<str>, StorageClass>);

impl StorageClasses {
    pub fn insert(&mut self, name: &str, class: StorageClass) {
        self.0.insert(name.into(), class);
    }

    pub fn remove(&mut self, name: &str) {
        self.0.remove(name);
    }

    pub fn get(&self, name: &str) -> Option<&StorageClass> {
        self.0.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &StorageClass)> {
        self.0.iter().map(|(name, class)| (&**name, class))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Names of a cluster-scoped kind (PriorityClasses, RuntimeClasses).
#[derive(Clone, Debug, Default)]
pub struct Names(HashSet<Box<str>>);

impl Names {
    pub fn insert(&mut self, name: &str) {
        self.0.insert(name.into());
    }

    pub fn remove(&mut self, name: &str) {
        self.0.remove(name);
    }

    pub fn contains(&self, name: &str) -> Option<()> {
        self.0.contains(name).then_some(())
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|name| &**name)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Names of a namespaced kind (ServiceAccounts, ConfigMaps, Secrets), by namespace.
#[derive(Clone, Debug, Default)]
pub struct NamespacedNames(HashMap<Box<str>, HashSet<Box<str>>>);

impl NamespacedNames {
    pub fn insert(&mut self, namespace: &str, name: &str) {
        self.0
            .entry(namespace.into())
            .or_default()
            .insert(name.into());
    }

    pub fn remove(&mut self, namespace: &str, name: &str) {
        if let Some(names) = self.0.get_mut(namespace) {
            names.remove(name);
            if names.is_empty() {
                self.0.remove(namespace);
            }
        }
    }

    /// Whether that name exists in that namespace (or, for input objects, in none).
    pub fn contains(&self, namespace: &str, name: &str) -> Option<()> {
        [namespace, ANY_NAMESPACE]
            .into_iter()
            .any(|ns| self.0.get(ns).is_some_and(|names| names.contains(name)))
            .then_some(())
    }

    /// The names in one namespace (and, for input objects, in none).
    pub fn names_in(&self, namespace: &str) -> impl Iterator<Item = &str> {
        [namespace, ANY_NAMESPACE]
            .into_iter()
            .filter_map(|ns| self.0.get(ns))
            .flatten()
            .map(|name| &**name)
    }

    pub fn len(&self) -> usize {
        self.0.values().map(HashSet::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input() -> Inventory {
        let objects = [
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nginx"},
                   "spec": {"clusterIP": "None", "selector": {"app": "nginx"}}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "settings", "namespace": "team-a"}}),
            json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                   "metadata": {"name": "fast",
                                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {}}),
        ];
        Inventory::from_input(&objects)
    }

    fn cluster() -> Inventory {
        let mut config_maps = NamespacedNames::default();
        config_maps.insert("team-a", "cluster-settings");
        Inventory {
            config_maps: Some(Arc::new(config_maps)),
            storage_classes: Some(Arc::default()),
            ..Inventory::default()
        }
    }

    #[test]
    fn input_objects_without_a_namespace_match_every_namespace() {
        let input = input();
        let known = Known::new(Some(&input), None);
        assert!(matches!(known.service("anywhere", "nginx"), Lookup::Found(s) if s.is_headless()));
        assert_eq!(known.config_map("team-a", "settings"), Lookup::Found(()));
        assert_eq!(known.config_map("team-b", "settings"), Lookup::Unknown);
    }

    #[test]
    fn only_a_known_cluster_kind_says_missing() {
        let (input, cluster) = (input(), cluster());
        let known = Known::new(Some(&input), Some(&cluster));
        assert_eq!(
            known.config_map("team-a", "cluster-settings"),
            Lookup::Found(())
        );
        assert_eq!(known.config_map("team-a", "settings"), Lookup::Found(()));
        assert_eq!(known.config_map("team-a", "other"), Lookup::Missing);
        // Secrets are not watched in this cluster: nothing can be said to be missing.
        assert_eq!(known.secret("team-a", "token"), Lookup::Unknown);
        assert_eq!(known.service("team-a", "other"), Lookup::Unknown);
        assert_eq!(
            known.names_in(|i| i.config_maps.as_deref(), "team-a"),
            ["cluster-settings", "settings"]
        );
    }

    #[test]
    fn input_storage_classes_join_the_cluster_ones() {
        let (input, cluster) = (input(), cluster());
        let known = Known::new(Some(&input), Some(&cluster));
        assert_eq!(
            known.storage_classes(),
            Some(vec![("fast", &StorageClass { is_default: true })])
        );
        assert_eq!(known.storage_class("slow"), Lookup::Missing);
        let offline = Known::new(Some(&input), None);
        assert_eq!(offline.storage_classes(), None);
    }

    /// What one lookup notes, on a fresh [`ReadNotes`].
    fn reads_of(known: Known<'_>, lookup: impl Fn(&Known<'_>)) -> InputReads {
        let notes = ReadNotes::default();
        lookup(&Known {
            reads: Some(&notes),
            ..known
        });
        notes.get()
    }

    #[test]
    fn lookups_note_what_a_later_input_object_could_change() {
        let (input, cluster) = (input(), cluster());
        let offline = Known::new(Some(&input), None);
        let found = InputReads {
            found: true,
            missed: false,
        };
        let missed = InputReads {
            found: false,
            missed: true,
        };
        // A Service is read: found in the input, a later one may replace it; not there, a
        // later one would be read.
        assert_eq!(
            reads_of(offline, |k| {
                let _ = k.service("a", "nginx");
            }),
            found
        );
        assert_eq!(
            reads_of(offline, |k| {
                let _ = k.service("a", "db");
            }),
            missed
        );
        // Existence only: found stays found, and unknown says nothing either way.
        assert_eq!(
            reads_of(offline, |k| {
                let _ = k.config_map("team-a", "settings");
            }),
            InputReads::default()
        );
        assert_eq!(
            reads_of(offline, |k| {
                let _ = k.config_map("team-a", "other");
            }),
            InputReads::default()
        );
        // What the cluster says is missing, a later input object would silence.
        let both = Known::new(Some(&input), Some(&cluster));
        assert_eq!(
            reads_of(both, |k| {
                let _ = k.config_map("team-a", "other");
            }),
            missed
        );
        assert_eq!(
            reads_of(both, |k| {
                let _ = k.config_map("team-a", "cluster-settings");
            }),
            InputReads::default()
        );
        // The webhook has no input: nothing is noted.
        let webhook = Known::new(None, Some(&cluster));
        assert_eq!(
            reads_of(webhook, |k| {
                let _ = k.config_map("team-a", "other");
            }),
            InputReads::default()
        );
    }

    #[test]
    fn a_service_of_a_name_kept_already_redefines_it() {
        let service = |namespace: Option<&str>| {
            let mut metadata = json!({"name": "db"});
            if let Some(namespace) = namespace {
                metadata["namespace"] = json!(namespace);
            }
            json!({"apiVersion": "v1", "kind": "Service", "metadata": metadata})
        };
        let mut index = Inventory::empty_input();
        let (anywhere, team) = (service(None), service(Some("team")));
        let redefines =
            |index: &mut Inventory, object| index.add_input(object).map(|a| a.redefines);
        assert_eq!(redefines(&mut index, &team), Some(false));
        assert_eq!(redefines(&mut index, &team), Some(true));
        // One without a namespace is found only where no namespaced one is: nothing read
        // changes.
        let other = service(Some("other"));
        assert_eq!(redefines(&mut index, &anywhere), Some(false));
        // A namespaced one hides the one without, which lookups in its namespace found.
        assert_eq!(redefines(&mut index, &other), Some(true));
        let config_map =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "db"}});
        assert_eq!(redefines(&mut index, &config_map), Some(false));
        assert_eq!(redefines(&mut index, &config_map), Some(false));
    }

    #[test]
    fn removes_what_it_inserted() {
        let mut services = Services::default();
        services.insert(
            "a",
            "x",
            Service::new(Some("None"), None::<[(&str, &str); 0]>),
        );
        assert_eq!(services.len(), 1);
        services.remove("a", "x");
        assert!(services.is_empty());
        let mut names = NamespacedNames::default();
        names.insert("a", "x");
        names.remove("a", "x");
        assert!(names.is_empty());
    }
}
