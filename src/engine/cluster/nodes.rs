//! The cluster's Nodes, indexed for `node-fit`: could a pod of this StatefulSet be scheduled
//! on any of today's nodes?
//!
//! The scheduler places a pod on a node whose labels satisfy the pod's `nodeSelector` and
//! required node affinity, whose `NoSchedule`/`NoExecute` taints the pod tolerates, and whose
//! allocatable resources cover the pod's requests. A pod that fits no node stays `Pending`
//! (`0/N nodes are available: Insufficient nvidia.com/gpu`) for as long as the nodes stay as
//! they are, and nothing tells the user at `kubectl apply` time.
//!
//! The webhook answers every StatefulSet write, so a review must not walk every node. Nodes
//! are grouped by what decides eligibility — their labels (but the per-node
//! `kubernetes.io/hostname`) and taints — and within a group only the nodes that no other
//! node of the group outdoes on every resource are kept for the fit check (in a pool of
//! identical machines, one). A review then costs a few steps per node pool. Only a pod that
//! names nodes one by one (`kubernetes.io/hostname`, `matchFields` on `metadata.name`) is
//! checked node by node.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use crate::engine::cluster::Label;
use crate::engine::quantity::Quantity;
use crate::engine::view::{at, get, str_of};

/// The label every kubelet sets to its node's hostname: one value per node.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// The taint the scheduler treats a cordoned node (`spec.unschedulable`) as having; a pod
/// that tolerates it (DaemonSets do) may still land there.
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// Taints the node lifecycle controller and cloud providers put on and take off as a node's
/// conditions change (joining, briefly unreachable, under pressure). They describe the moment,
/// not the node: a pool whose nodes are all starting would otherwise make every StatefulSet
/// "fit no node" for a minute, and with `node-fit: error` refuse every write meanwhile.
/// A cordon (`spec.unschedulable`) is kept: someone chose it.
const CONDITION_TAINTS: [&str; 8] = [
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
    "node.kubernetes.io/network-unavailable",
    "node.kubernetes.io/memory-pressure",
    "node.kubernetes.io/disk-pressure",
    "node.kubernetes.io/pid-pressure",
    "node.cloudprovider.kubernetes.io/uninitialized",
    "node.cloudprovider.kubernetes.io/shutdown",
];

/// A node taint.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Taint {
    pub key: Box<str>,
    pub value: Box<str>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: Box<str>,
}

impl Taint {
    /// Whether the scheduler keeps pods that do not tolerate it off the node
    /// (`PreferNoSchedule` only discourages), for longer than a condition lasts.
    fn repels(&self) -> bool {
        matches!(&*self.effect, "NoSchedule" | "NoExecute")
            && !CONDITION_TAINTS.contains(&&*self.key)
    }
}

impl std::fmt::Display for Taint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}:{}", self.key, self.effect)
        } else {
            write!(f, "{}={}:{}", self.key, self.value, self.effect)
        }
    }
}

/// One Node, as `node-fit` reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    pub name: Box<str>,
    pub labels: BTreeMap<Box<str>, Box<str>>,
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    /// `status.allocatable`: what pods may use.
    pub allocatable: BTreeMap<Box<str>, Quantity>,
}

impl Node {
    /// A Node as the API server sends it (JSON): name, labels, `spec.taints`,
    /// `spec.unschedulable` and `status.allocatable` (quantities that do not parse are left
    /// out: the kubelet never writes such a thing).
    pub fn from_json(object: &Value) -> Node {
        let text = |value: &Value, key: &str| -> Box<str> {
            str_of(value, key).unwrap_or_default().into()
        };
        let strings = |value: Option<&Value>| {
            value
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(key, value)| Some((key.as_str().into(), value.as_str()?.into())))
                .collect()
        };
        let spec = get(object, "spec");
        Node {
            name: at(object, &["metadata", "name"])
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            labels: strings(at(object, &["metadata", "labels"])),
            taints: spec
                .and_then(|spec| get(spec, "taints"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|taint| Taint {
                    key: text(taint, "key"),
                    value: text(taint, "value"),
                    effect: text(taint, "effect"),
                })
                .collect(),
            unschedulable: spec
                .and_then(|spec| get(spec, "unschedulable"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            allocatable: at(object, &["status", "allocatable"])
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(resource, amount)| {
                    let amount = Quantity::parse(amount.as_str()?).ok()?;
                    Some((resource.as_str().into(), amount))
                })
                .collect(),
        }
    }
}

/// Nodes that look the same to the scheduler's filters, but their names and sizes.
#[derive(Debug)]
struct Group {
    /// Sorted, without [`HOSTNAME_LABEL`].
    labels: Vec<Label>,
    /// Those that repel pods, sorted; a cordoned node's included.
    taints: Vec<Taint>,
    members: Vec<Member>,
    /// Indexes of the members no other member outdoes on every resource: if a pod fits
    /// any member, it fits one of these.
    frontier: Vec<usize>,
}

#[derive(Debug)]
struct Member {
    name: Box<str>,
    hostname: Option<Box<str>>,
    /// Sorted by resource name.
    allocatable: Vec<(Box<str>, Quantity)>,
}

impl Member {
    fn offers(&self, resource: &str) -> Quantity {
        self.allocatable
            .binary_search_by(|(name, _)| (**name).cmp(resource))
            .map_or(Quantity::ZERO, |i| self.allocatable[i].1)
    }

    fn fits(&self, requests: &[(&str, Quantity)]) -> bool {
        requests
            .iter()
            .all(|(resource, asked)| self.offers(resource) >= *asked)
    }

    /// Whether `self` offers at least what `other` does of every resource.
    fn covers(&self, other: &Member) -> bool {
        other
            .allocatable
            .iter()
            .all(|(resource, amount)| self.offers(resource) >= *amount)
    }
}

/// The cluster's Nodes, grouped for fast fit checks.
#[derive(Debug, Default)]
pub struct Nodes {
    groups: Vec<Group>,
    /// Resources some node offers a positive amount of.
    advertised: HashSet<Box<str>>,
    count: usize,
}

impl Nodes {
    pub fn new(nodes: impl IntoIterator<Item = Node>) -> Nodes {
        // Nodes by what the scheduler's filters see of them: labels and taints.
        let mut groups: BTreeMap<(Vec<Label>, Vec<Taint>), Vec<Member>> = BTreeMap::new();
        let mut advertised = HashSet::new();
        let mut count = 0;
        for node in nodes {
            count += 1;
            let mut labels = node.labels;
            let hostname = labels.remove(HOSTNAME_LABEL);
            let mut taints: Vec<Taint> = node.taints.into_iter().filter(Taint::repels).collect();
            if node.unschedulable {
                taints.push(Taint {
                    key: UNSCHEDULABLE_TAINT.into(),
                    value: "".into(),
                    effect: "NoSchedule".into(),
                });
            }
            taints.sort();
            taints.dedup();
            for (resource, amount) in &node.allocatable {
                if amount.is_positive() && !advertised.contains(resource) {
                    advertised.insert(resource.clone());
                }
            }
            groups
                .entry((labels.into_iter().collect(), taints))
                .or_default()
                .push(Member {
                    name: node.name,
                    hostname,
                    allocatable: node.allocatable.into_iter().collect(),
                });
        }
        let groups = groups
            .into_iter()
            .map(|((labels, taints), members)| Group {
                frontier: frontier(&members),
                labels,
                taints,
                members,
            })
            .collect();
        Nodes {
            groups,
            advertised,
            count,
        }
    }

    /// How many nodes there are.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether some node offers a positive amount of `resource`.
    pub fn advertise(&self, resource: &str) -> bool {
        self.advertised.contains(resource)
    }

    /// Whether a pod with these requests and this placement fits some node, and if not,
    /// why.
    pub fn fit<'n>(&'n self, requests: &[(&str, Quantity)], placement: &Placement<'_>) -> Fit<'n> {
        if self.is_empty() {
            return Fit::NoNodes;
        }
        let unknown: Vec<String> = requests
            .iter()
            .filter(|(resource, asked)| asked.is_positive() && !self.advertise(resource))
            .map(|(resource, _)| resource.to_string())
            .collect();
        if !unknown.is_empty() {
            return Fit::NotAdvertised(unknown);
        }
        // The common answer, "it fits", is found on the way without collecting anything: a
        // few steps per node pool. The eligible nodes are gathered only to explain a misfit.
        let names_nodes = placement.names_nodes();
        let mut eligible: Vec<&Member> = Vec::new();
        let mut refused = Refused::default();
        for group in &self.groups {
            let matching = matching(group, placement, names_nodes);
            refused.by_selector += group.members.len() - matching.len();
            if matching.is_empty() {
                continue;
            }
            if let Some(taint) = group
                .taints
                .iter()
                .find(|taint| !placement.tolerates(taint, requests))
            {
                refused.by_taints += matching.len();
                refused
                    .example_taint
                    .get_or_insert((&*group.members[0].name, taint));
                continue;
            }
            if matching.fits(requests) {
                return Fit::Fits;
            }
            eligible.extend(matching.members());
        }
        if eligible.is_empty() {
            return Fit::NoEligibleNode {
                nodes: self.count,
                refused,
            };
        }
        let shortfalls: Vec<Shortfall<'n>> = requests
            .iter()
            .filter_map(|&(resource, asked)| {
                let (best, offered) = eligible
                    .iter()
                    .map(|member| (member, member.offers(resource)))
                    .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.name.cmp(&a.0.name)))?;
                (offered < asked).then(|| Shortfall {
                    resource: resource.to_string(),
                    asked,
                    node: &best.name,
                    offered,
                })
            })
            .collect();
        if shortfalls.is_empty() {
            Fit::NotTogether {
                eligible: eligible.len(),
            }
        } else {
            Fit::TooSmall {
                shortfalls,
                refused,
            }
        }
    }
}

/// The nodes of a group a pod's selectors let it run on (taints aside).
enum Matching<'g> {
    /// Every node of the group (the pod does not name nodes one by one); only the frontier
    /// needs checking for fit.
    All(&'g Group),
    /// Only these (the pod names nodes by hostname or `metadata.name`).
    Some(Vec<&'g Member>),
}

impl<'g> Matching<'g> {
    /// How many nodes match.
    fn len(&self) -> usize {
        match self {
            Matching::All(group) => group.members.len(),
            Matching::Some(members) => members.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The matching nodes whose sizes count: the frontier when all match.
    fn members(&self) -> Vec<&'g Member> {
        match self {
            Matching::All(group) => group.frontier.iter().map(|&i| &group.members[i]).collect(),
            Matching::Some(members) => members.clone(),
        }
    }

    fn fits(&self, requests: &[(&str, Quantity)]) -> bool {
        match self {
            Matching::All(group) => group
                .frontier
                .iter()
                .any(|&i| group.members[i].fits(requests)),
            Matching::Some(members) => members.iter().any(|member| member.fits(requests)),
        }
    }
}

/// The nodes of `group` the placement's selectors match (`names_nodes`: the placement names
/// nodes one by one, [`Placement::names_nodes`]).
fn matching<'g>(group: &'g Group, placement: &Placement<'_>, names_nodes: bool) -> Matching<'g> {
    if names_nodes {
        Matching::Some(
            group
                .members
                .iter()
                .filter(|member| placement.matches(group, Some(member)))
                .collect(),
        )
    } else if placement.matches(group, None) {
        Matching::All(group)
    } else {
        Matching::Some(Vec::new())
    }
}

/// The members of a group that no other member outdoes (one of each size), in order.
fn frontier(members: &[Member]) -> Vec<usize> {
    let mut kept: Vec<usize> = Vec::new();
    for (index, member) in members.iter().enumerate() {
        if kept.iter().any(|&k| members[k].covers(member)) {
            continue;
        }
        kept.retain(|&k| !member.covers(&members[k]));
        kept.push(index);
    }
    kept
}

/// Why nodes were ruled out before their sizes were compared.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refused<'n> {
    /// Nodes whose labels (or name) the pod's nodeSelector or required affinity rule out.
    pub by_selector: usize,
    /// Nodes that match but have a taint the pod does not tolerate.
    pub by_taints: usize,
    /// One such node and taint, for the message.
    pub example_taint: Option<(&'n str, &'n Taint)>,
}

/// A resource no eligible node offers enough of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shortfall<'n> {
    pub resource: String,
    pub asked: Quantity,
    /// The eligible node offering the most of it.
    pub node: &'n str,
    pub offered: Quantity,
}

/// The answer of [`Nodes::fit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fit<'n> {
    Fits,
    /// The cluster has no Node at all (a cluster that scales from zero): nothing to say.
    NoNodes,
    /// Requested resources that no node offers (no device plugin advertises them).
    NotAdvertised(Vec<String>),
    /// Every node is ruled out by the pod's selectors or by taints it does not tolerate.
    NoEligibleNode {
        nodes: usize,
        refused: Refused<'n>,
    },
    /// The eligible nodes are all too small: per resource, the best offer (and what ruled
    /// the other nodes out, which may be the ones that have the resource).
    TooSmall {
        shortfalls: Vec<Shortfall<'n>>,
        refused: Refused<'n>,
    },
    /// Each resource fits some eligible node, but no node offers them all at once.
    NotTogether {
        eligible: usize,
    },
}

/// Where the pod may go: `nodeSelector`, required node affinity and tolerations.
#[derive(Clone, Debug, Default)]
pub struct Placement<'p> {
    pub node_selector: Vec<(&'p str, &'p str)>,
    /// `requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`: any term may
    /// match. `None` when there is no required affinity.
    pub required_terms: Option<Vec<Term<'p>>>,
    pub tolerations: Vec<Toleration<'p>>,
}

/// One node selector term: all of its requirements must hold. A term with none matches no
/// node (as in the scheduler).
#[derive(Clone, Debug, Default)]
pub struct Term<'p> {
    /// `matchExpressions`, on labels.
    pub expressions: Vec<Requirement<'p>>,
    /// `matchFields`: only `metadata.name` is supported by Kubernetes.
    pub fields: Vec<Requirement<'p>>,
}

#[derive(Clone, Debug)]
pub struct Requirement<'p> {
    pub key: &'p str,
    pub operator: &'p str,
    pub values: Vec<&'p str>,
}

impl Requirement<'_> {
    /// `NodeSelectorRequirement` semantics (`In`, `NotIn`, `Exists`, `DoesNotExist`, and
    /// `Gt`/`Lt` comparing the value as an integer); an unknown operator matches nothing, as
    /// the API server would have refused it.
    fn matches(&self, value: Option<&str>) -> bool {
        let number = |text: &str| text.parse::<i64>().ok();
        let bound = || self.values.first().and_then(|v| number(v));
        match self.operator {
            "In" => value.is_some_and(|v| self.values.contains(&v)),
            "NotIn" => value.is_none_or(|v| !self.values.contains(&v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            "Gt" => matches!((value.and_then(number), bound()), (Some(v), Some(b)) if v > b),
            "Lt" => matches!((value.and_then(number), bound()), (Some(v), Some(b)) if v < b),
            _ => false,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Toleration<'p> {
    /// Empty with `Exists`: every taint.
    pub key: &'p str,
    /// `Exists` or `Equal` (the default).
    pub operator: &'p str,
    pub value: &'p str,
    /// Empty: every effect.
    pub effect: &'p str,
}

impl Toleration<'_> {
    /// `Toleration.ToleratesTaint`.
    fn tolerates(&self, taint: &Taint) -> bool {
        (self.effect.is_empty() || self.effect == &*taint.effect)
            && (self.key.is_empty() || self.key == &*taint.key)
            && match self.operator {
                "Exists" => true,
                "Equal" | "" => self.value == &*taint.value,
                _ => false,
            }
    }
}

impl Placement<'_> {
    /// Whether the pod names nodes one by one, so that nodes of a group differ for it.
    fn names_nodes(&self) -> bool {
        self.node_selector
            .iter()
            .any(|(key, _)| *key == HOSTNAME_LABEL)
            || self.required_terms.iter().flatten().any(|term| {
                !term.fields.is_empty() || term.expressions.iter().any(|r| r.key == HOSTNAME_LABEL)
            })
    }

    /// Whether a node of `group` (the `member` itself when nodes are named one by one)
    /// satisfies the nodeSelector and the required affinity.
    fn matches(&self, group: &Group, member: Option<&Member>) -> bool {
        let label = |key: &str| -> Option<&str> {
            if key == HOSTNAME_LABEL {
                return member.and_then(|m| m.hostname.as_deref());
            }
            group
                .labels
                .binary_search_by(|(k, _)| (**k).cmp(key))
                .ok()
                .map(|i| &*group.labels[i].1)
        };
        let field = |key: &str| -> Option<&str> {
            (key == "metadata.name")
                .then(|| member.map(|m| &*m.name))
                .flatten()
        };
        self.node_selector
            .iter()
            .all(|(key, value)| label(key) == Some(value))
            && self.required_terms.as_ref().is_none_or(|terms| {
                terms.is_empty()
                    || terms.iter().any(|term| {
                        (!term.expressions.is_empty() || !term.fields.is_empty())
                            && term.expressions.iter().all(|r| r.matches(label(r.key)))
                            && term.fields.iter().all(|r| r.matches(field(r.key)))
                    })
            })
    }

    /// Whether the pod tolerates a taint. A taint on a requested extended resource counts
    /// as tolerated: the ExtendedResourceToleration admission plugin adds that toleration
    /// to pods asking for the resource (GPU node pools are tainted this way).
    fn tolerates(&self, taint: &Taint, requests: &[(&str, Quantity)]) -> bool {
        requests
            .iter()
            .any(|(resource, _)| *resource == &*taint.key)
            || self.tolerations.iter().any(|t| t.tolerates(taint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> Quantity {
        Quantity::parse(text).unwrap()
    }

    fn node(name: &str, labels: &[(&str, &str)], allocatable: &[(&str, &str)]) -> Node {
        let mut labels: BTreeMap<Box<str>, Box<str>> = labels
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        labels.insert(HOSTNAME_LABEL.into(), name.into());
        Node {
            name: name.into(),
            labels,
            allocatable: allocatable
                .iter()
                .map(|(k, v)| ((*k).into(), q(v)))
                .collect(),
            ..Node::default()
        }
    }

    fn gpu_taint() -> Taint {
        Taint {
            key: "dedicated".into(),
            value: "gpu".into(),
            effect: "NoSchedule".into(),
        }
    }

    fn cluster() -> Nodes {
        let mut gpu = node(
            "gpu-a1",
            &[("pool", "gpu")],
            &[("cpu", "63"), ("memory", "500Gi"), ("nvidia.com/gpu", "2")],
        );
        gpu.taints.push(gpu_taint());
        let mut nodes = vec![gpu];
        for i in 0..50 {
            nodes.push(node(
                &format!("cpu-{i}"),
                &[("pool", "cpu")],
                &[("cpu", "8"), ("memory", "32Gi")],
            ));
        }
        Nodes::new(nodes)
    }

    fn requests<'a>(pairs: &[(&'a str, &str)]) -> Vec<(&'a str, Quantity)> {
        pairs.iter().map(|(k, v)| (*k, q(v))).collect()
    }

    #[test]
    fn keeps_one_node_per_pool_of_identical_nodes() {
        let nodes = cluster();
        assert_eq!(nodes.len(), 51);
        assert_eq!(nodes.groups.len(), 2);
        assert!(nodes.groups.iter().all(|g| g.frontier.len() == 1));
    }

    #[test]
    fn a_pod_that_fits_a_pool_fits() {
        let nodes = cluster();
        let fit = nodes.fit(
            &requests(&[("cpu", "4"), ("memory", "8Gi")]),
            &Placement::default(),
        );
        assert_eq!(fit, Fit::Fits);
    }

    #[test]
    fn names_the_best_eligible_offer_when_every_node_is_too_small() {
        let nodes = cluster();
        let asked = requests(&[("nvidia.com/gpu", "4")]);
        let tolerating = Placement {
            tolerations: vec![Toleration {
                key: "dedicated",
                operator: "Exists",
                ..Toleration::default()
            }],
            ..Placement::default()
        };
        let fit = nodes.fit(&asked, &tolerating);
        let Fit::TooSmall {
            shortfalls,
            refused,
        } = fit
        else {
            panic!("{fit:?}")
        };
        assert_eq!(shortfalls.len(), 1);
        assert_eq!(shortfalls[0].node, "gpu-a1");
        assert_eq!(shortfalls[0].offered, q("2"));
        assert_eq!(refused, Refused::default());
        // Without the toleration the GPU node is out: the eligible ones have no GPU at all.
        let Fit::TooSmall {
            shortfalls,
            refused,
        } = nodes.fit(&asked, &Placement::default())
        else {
            panic!()
        };
        assert_eq!(shortfalls[0].offered, Quantity::ZERO);
        assert_eq!(refused.by_taints, 1);
    }

    #[test]
    fn a_taint_on_a_requested_extended_resource_is_tolerated() {
        let mut tainted = node("gpu-b1", &[], &[("cpu", "8"), ("nvidia.com/gpu", "8")]);
        tainted.taints.push(Taint {
            key: "nvidia.com/gpu".into(),
            value: "".into(),
            effect: "NoSchedule".into(),
        });
        let nodes = Nodes::new([tainted]);
        let fit = nodes.fit(&requests(&[("nvidia.com/gpu", "1")]), &Placement::default());
        assert_eq!(fit, Fit::Fits);
    }

    #[test]
    fn an_untolerated_taint_rules_a_node_out_and_a_toleration_lets_it_in() {
        let nodes = cluster();
        let placement = Placement {
            node_selector: vec![("pool", "gpu")],
            ..Placement::default()
        };
        let asked = requests(&[("cpu", "1")]);
        let Fit::NoEligibleNode {
            nodes: total,
            refused,
        } = nodes.fit(&asked, &placement)
        else {
            panic!()
        };
        assert_eq!(total, 51);
        assert_eq!((refused.by_selector, refused.by_taints), (50, 1));
        assert_eq!(refused.example_taint, Some(("gpu-a1", &gpu_taint())));
        let tolerating = Placement {
            tolerations: vec![Toleration {
                key: "dedicated",
                operator: "Equal",
                value: "gpu",
                effect: "NoSchedule",
            }],
            ..placement
        };
        assert_eq!(nodes.fit(&asked, &tolerating), Fit::Fits);
    }

    #[test]
    fn says_which_resources_no_node_advertises() {
        let nodes = cluster();
        let fit = nodes.fit(
            &requests(&[("cpu", "1"), ("nvidia.com/mig-1g.10gb", "1")]),
            &Placement::default(),
        );
        assert_eq!(
            fit,
            Fit::NotAdvertised(vec!["nvidia.com/mig-1g.10gb".into()])
        );
    }

    #[test]
    fn required_affinity_operators_select_nodes() {
        let nodes = Nodes::new([
            node("a", &[("zone", "x"), ("gen", "3")], &[("cpu", "4")]),
            node("b", &[("zone", "y"), ("gen", "5")], &[("cpu", "16")]),
        ]);
        let asked = requests(&[("cpu", "8")]);
        let term = |key, operator, values: &[&'static str]| Placement {
            required_terms: Some(vec![Term {
                expressions: vec![Requirement {
                    key,
                    operator,
                    values: values.to_vec(),
                }],
                fields: vec![],
            }]),
            ..Placement::default()
        };
        assert_eq!(nodes.fit(&asked, &term("gen", "Gt", &["4"])), Fit::Fits);
        assert!(matches!(
            nodes.fit(&asked, &term("gen", "Lt", &["4"])),
            Fit::TooSmall { .. }
        ));
        assert_eq!(nodes.fit(&asked, &term("zone", "NotIn", &["x"])), Fit::Fits);
        assert!(matches!(
            nodes.fit(&asked, &term("zone", "DoesNotExist", &[])),
            Fit::NoEligibleNode { .. }
        ));
        assert_eq!(nodes.fit(&asked, &term("gen", "Exists", &[])), Fit::Fits);
        // A term with no requirement matches no node.
        let empty = Placement {
            required_terms: Some(vec![Term::default()]),
            ..Placement::default()
        };
        assert!(matches!(
            nodes.fit(&asked, &empty),
            Fit::NoEligibleNode { .. }
        ));
    }

    #[test]
    fn a_pod_that_names_its_node_is_checked_against_that_node() {
        let nodes = Nodes::new([
            node("small", &[], &[("cpu", "2")]),
            node("large", &[], &[("cpu", "32")]),
        ]);
        let asked = requests(&[("cpu", "8")]);
        let on = |name: &'static str| Placement {
            node_selector: vec![(HOSTNAME_LABEL, name)],
            ..Placement::default()
        };
        assert_eq!(nodes.fit(&asked, &on("large")), Fit::Fits);
        let Fit::TooSmall { shortfalls, .. } = nodes.fit(&asked, &on("small")) else {
            panic!()
        };
        assert_eq!(shortfalls[0].node, "small");
        let by_field = Placement {
            required_terms: Some(vec![Term {
                expressions: vec![],
                fields: vec![Requirement {
                    key: "metadata.name",
                    operator: "In",
                    values: vec!["small"],
                }],
            }]),
            ..Placement::default()
        };
        assert!(matches!(nodes.fit(&asked, &by_field), Fit::TooSmall { .. }));
    }

    #[test]
    fn condition_taints_of_a_starting_node_do_not_count() {
        let mut starting = node("n", &[], &[("cpu", "8")]);
        starting.taints.push(Taint {
            key: "node.kubernetes.io/not-ready".into(),
            value: "".into(),
            effect: "NoSchedule".into(),
        });
        let nodes = Nodes::new([starting]);
        assert_eq!(
            nodes.fit(&requests(&[("cpu", "1")]), &Placement::default()),
            Fit::Fits
        );
    }

    #[test]
    fn a_cordoned_node_takes_only_pods_that_tolerate_it() {
        let mut cordoned = node("n", &[], &[("cpu", "8")]);
        cordoned.unschedulable = true;
        let nodes = Nodes::new([cordoned]);
        let asked = requests(&[("cpu", "1")]);
        assert!(matches!(
            nodes.fit(&asked, &Placement::default()),
            Fit::NoEligibleNode { .. }
        ));
        let tolerating = Placement {
            tolerations: vec![Toleration {
                key: UNSCHEDULABLE_TAINT,
                operator: "Exists",
                ..Toleration::default()
            }],
            ..Placement::default()
        };
        assert_eq!(nodes.fit(&asked, &tolerating), Fit::Fits);
    }

    #[test]
    fn resources_that_fit_apart_but_not_together() {
        let nodes = Nodes::new([
            node("cpu-rich", &[], &[("cpu", "64"), ("memory", "8Gi")]),
            node("mem-rich", &[], &[("cpu", "4"), ("memory", "512Gi")]),
        ]);
        let fit = nodes.fit(
            &requests(&[("cpu", "32"), ("memory", "64Gi")]),
            &Placement::default(),
        );
        assert_eq!(fit, Fit::NotTogether { eligible: 2 });
    }

    #[test]
    fn a_cluster_without_nodes_says_nothing() {
        let nodes = Nodes::new([]);
        let fit = nodes.fit(&requests(&[("cpu", "1")]), &Placement::default());
        assert_eq!(fit, Fit::NoNodes);
    }
}
