//! `stsguard plan`: what the StatefulSet controller will create, in which order, and which
//! pods a rolling update reaches. Computed from the normalised object, as the controller sees
//! it after API defaulting.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;
use serde_json::Value;

use rayon::prelude::*;

use super::batches::{BatchReader, ParsedPiece};
use super::input::{self, InputError};
use super::print;
use crate::engine::view::{StatefulSet, at, get, int_of, str_of};
use crate::engine::{self, normalize};

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// A file, or - for stdin.
    #[arg(value_name = "PATH", default_value = "-")]
    pub path: PathBuf,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = PlanFormat::Text)]
    pub output: PlanFormat,
    /// The cluster's DNS domain.
    #[arg(long, value_name = "DOMAIN", default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Namespace for documents that name none.
    #[arg(long, value_name = "NS", default_value = "default")]
    pub namespace: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
}

/// Ordinals listed at most; larger StatefulSets are summarised.
const MAX_LISTED: i64 = 1_000;

/// The plan for one StatefulSet.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub namespace: String,
    pub name: String,
    pub replicas: i64,
    pub pod_management_policy: String,
    pub service_name: Option<String>,
    pub pods: Vec<PodPlan>,
    /// Ordinals beyond the first `MAX_LISTED` (1,000), not listed in `pods`.
    pub unlisted: i64,
    /// `sequential` (OrderedReady: each pod waits for the previous one to be Running and
    /// Ready) or `parallel`.
    pub creation: String,
    pub creation_order: Vec<String>,
    pub scale_down: String,
    pub scale_down_order: Vec<String>,
    pub update: UpdatePlan,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodPlan {
    pub ordinal: i64,
    pub name: String,
    /// `<pod>.<service>.<namespace>.svc.<domain>`; `None` without a governing Service.
    pub fqdn: Option<String>,
    pub pvcs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdatePlan {
    pub strategy: String,
    pub partition: Option<i64>,
    /// Pods that take a template change, in the order the controller updates them.
    pub updated: Vec<String>,
    /// Pods that keep the old template (below the partition).
    pub unchanged: Vec<String>,
}

/// Computes the plan of one StatefulSet (raw, as written).
pub fn plan(object: &Value, default_namespace: &str, cluster_domain: &str) -> Plan {
    let normalized = normalize::apply(object);
    let sts = StatefulSet::new(&normalized);
    let name = sts.name().unwrap_or("<unnamed>").to_string();
    let namespace = engine::namespace(&normalized, Some(default_namespace)).to_string();
    let replicas = sts.replicas().max(0);
    let start = sts.ordinal_start().max(0);
    let service_name = str_of(sts.spec, "serviceName")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let claims: Vec<&str> = sts
        .claim_templates()
        .iter()
        .filter_map(|claim| at(claim, &["metadata", "name"])?.as_str())
        .collect();
    let listed = replicas.min(MAX_LISTED);
    let ordinals: Vec<i64> = (0..listed).map(|i| start.saturating_add(i)).collect();
    let pod_name = |ordinal: i64| format!("{name}-{ordinal}");
    let pods: Vec<PodPlan> = ordinals
        .iter()
        .map(|&ordinal| {
            let pod = pod_name(ordinal);
            PodPlan {
                ordinal,
                fqdn: service_name
                    .as_ref()
                    .map(|service| format!("{pod}.{service}.{namespace}.svc.{cluster_domain}")),
                pvcs: claims
                    .iter()
                    .map(|claim| format!("{claim}-{pod}"))
                    .collect(),
                name: pod,
            }
        })
        .collect();
    let policy = str_of(sts.spec, "podManagementPolicy").unwrap_or("OrderedReady");
    let parallel = policy == "Parallel";
    let names: Vec<String> = pods.iter().map(|p| p.name.clone()).collect();
    let mut reversed = names.clone();
    reversed.reverse();

    let strategy = get(sts.spec, "updateStrategy");
    let strategy_type = strategy
        .and_then(|s| str_of(s, "type"))
        .unwrap_or("RollingUpdate")
        .to_string();
    let update = if strategy_type == "RollingUpdate" {
        let partition = strategy
            .and_then(|s| get(s, "rollingUpdate"))
            .and_then(|r| int_of(r, "partition"))
            .unwrap_or(0);
        // Pods with an ordinal at or above the partition are updated, from the highest
        // ordinal down; the others keep their revision even if deleted.
        let (updated, unchanged): (Vec<&PodPlan>, Vec<&PodPlan>) =
            pods.iter().partition(|pod| pod.ordinal >= partition);
        UpdatePlan {
            strategy: strategy_type,
            partition: Some(partition),
            updated: updated.iter().rev().map(|p| p.name.clone()).collect(),
            unchanged: unchanged.iter().map(|p| p.name.clone()).collect(),
        }
    } else {
        UpdatePlan {
            strategy: strategy_type,
            partition: None,
            updated: Vec::new(),
            unchanged: names.clone(),
        }
    };
    Plan {
        namespace,
        name,
        replicas,
        pod_management_policy: policy.to_string(),
        service_name,
        unlisted: replicas - listed,
        creation: if parallel { "parallel" } else { "sequential" }.into(),
        creation_order: names,
        scale_down: if parallel { "parallel" } else { "sequential" }.into(),
        scale_down_order: reversed,
        pods,
        update,
    }
}

/// Runs `stsguard plan`.
pub fn run(args: &PlanArgs) -> u8 {
    print::spooled(execute(args))
}

/// Why `plan` printed nothing (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Unreadable, or a document that is not valid YAML: a plan that left a StatefulSet out
    /// would mislead.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The output could not be rendered or held back.
    #[error(transparent)]
    Output(#[from] print::WriteError),
}

/// Writes the plans of every StatefulSet of the input, in input order, to a
/// [`print::Spool`], reading the input a batch at a time. A document that is not valid YAML
/// fails the run, and nothing is printed.
pub fn execute(args: &PlanArgs) -> Result<print::Spool, PlanError> {
    let mut reader = BatchReader::open(&args.path)?;
    let file = reader.name().to_string();
    let mut spool = print::Spool::new()?;
    if args.output == PlanFormat::Json {
        // `{"statefulsets": [plans…]}` printed pretty, a plan at a time: `render` indents
        // each plan as an item of the array.
        spool
            .out()
            .write_all(b"{\n  \"statefulsets\": [")
            .map_err(print::WriteError::from)?;
    }
    let mut plans = 0;
    while let Some(pieces) = reader.next().transpose()? {
        let rendered: Vec<Result<Vec<Vec<u8>>, PlanError>> = pieces
            .par_iter()
            .map(|piece| render(args, &file, piece))
            .collect();
        for items in rendered {
            // The first document that is not valid YAML (or not UTF-8) ends the run.
            let items = items?;
            for item in items {
                let out = spool.out();
                if args.output == PlanFormat::Json {
                    out.write_all(if plans == 0 { b"\n" } else { b",\n" })
                        .map_err(print::WriteError::from)?;
                }
                plans += 1;
                out.write_all(&item).map_err(print::WriteError::from)?;
            }
        }
    }
    if args.output == PlanFormat::Json {
        let close: &[u8] = if plans == 0 { b"]\n}\n" } else { b"\n  ]\n}\n" };
        spool
            .out()
            .write_all(close)
            .map_err(print::WriteError::from)?;
    }
    Ok(spool)
}
/// The plans of one piece's StatefulSets, rendered: one item per StatefulSet. A document
/// that is not valid YAML is the error.
fn render(args: &PlanArgs, file: &str, piece: &ParsedPiece) -> Result<Vec<Vec<u8>>, PlanError> {
    let mut items = Vec::new();
    for document in &piece.documents {
        let document = document.as_ref().map_err(|error| InputError::Syntax {
            file: file.to_string(),
            source: error.clone(),
        })?;
        let Some(value) = &document.value else {
            continue;
        };
        for found in input::objects_of(value) {
            if !input::is_statefulset(found.value) {
                continue;
            }
            let plan = plan(found.value, &args.namespace, &args.cluster_domain);
            let mut item = Vec::new();
            match args.output {
                PlanFormat::Text => {
                    write_text(&mut item, &plan).map_err(print::WriteError::from)?
                }
                PlanFormat::Json => {
                    let json = serde_json::to_string_pretty(&plan)
                        .map_err(|error| print::WriteError::from(std::io::Error::from(error)))?;
                    for (n, line) in json.lines().enumerate() {
                        if n > 0 {
                            item.push(b'\n');
                        }
                        item.extend_from_slice(b"    ");
                        item.extend_from_slice(line.as_bytes());
                    }
                }
            }
            items.push(item);
        }
    }
    Ok(items)
}

/// The plan as text.
pub fn write_text(out: &mut dyn Write, plan: &Plan) -> std::io::Result<()> {
    writeln!(
        out,
        "StatefulSet {}/{}: {} {}, podManagementPolicy {}, updateStrategy {}",
        plan.namespace,
        plan.name,
        plan.replicas,
        if plan.replicas == 1 {
            "replica"
        } else {
            "replicas"
        },
        plan.pod_management_policy,
        plan.update.strategy
    )?;
    match &plan.service_name {
        Some(service) => writeln!(out, "  governing Service: {service} (must be headless)")?,
        None => writeln!(out, "  no governing Service: pods get no stable DNS names")?,
    }
    writeln!(out, "  pods:")?;
    for pod in &plan.pods {
        writeln!(
            out,
            "    {:<4} {}  {}  {}",
            pod.ordinal,
            pod.name,
            pod.fqdn.as_deref().unwrap_or("-"),
            if pod.pvcs.is_empty() {
                "(no PVCs)".to_string()
            } else {
                format!("PVCs: {}", pod.pvcs.join(", "))
            }
        )?;
    }
    if plan.unlisted > 0 {
        writeln!(out, "    … and {} more", plan.unlisted)?;
    }
    let order = |names: &[String]| names.join(" → ");
    if plan.creation == "parallel" {
        writeln!(out, "  creation: all at once (Parallel)")?;
        writeln!(out, "  scale-down: all at once (Parallel)")?;
    } else if !plan.pods.is_empty() {
        writeln!(
            out,
            "  creation: {} (one at a time, each after the previous is Running and Ready)",
            order(&plan.creation_order)
        )?;
        writeln!(
            out,
            "  scale-down: {} (one at a time)",
            order(&plan.scale_down_order)
        )?;
    }
    match plan.update.partition {
        Some(partition) => {
            writeln!(
                out,
                "  template change (partition {partition}): updates {}",
                if plan.update.updated.is_empty() {
                    "no pod".to_string()
                } else {
                    order(&plan.update.updated)
                }
            )?;
            if !plan.update.unchanged.is_empty() {
                writeln!(
                    out,
                    "    keeps the old template: {}",
                    plan.update.unchanged.join(", ")
                )?;
            }
        }
        None => writeln!(
            out,
            "  template change (OnDelete): pods take it only when deleted"
        )?,
    }
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn web() -> Value {
        crate::engine::rules::testing::web()
    }

    #[test]
    fn names_pods_hosts_and_claims() {
        let plan = plan(&web(), "default", "cluster.local");
        assert_eq!(plan.creation_order, ["web-0", "web-1"]);
        assert_eq!(plan.scale_down_order, ["web-1", "web-0"]);
        assert_eq!(
            plan.pods[0].fqdn.as_deref(),
            Some("web-0.nginx.default.svc.cluster.local")
        );
        assert_eq!(plan.pods[1].pvcs, ["www-web-1"]);
        assert_eq!(plan.creation, "sequential");
    }

    #[test]
    fn partition_splits_the_rollout() {
        let mut object = web();
        object["spec"]["replicas"] = json!(3);
        object["spec"]["updateStrategy"] =
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}});
        let plan = plan(&object, "default", "cluster.local");
        assert_eq!(plan.update.updated, ["web-2"]);
        assert_eq!(plan.update.unchanged, ["web-0", "web-1"]);
    }

    #[test]
    fn honours_ordinals_start_and_cluster_domain() {
        let mut object = web();
        object["spec"]["ordinals"] = json!({"start": 5});
        let plan = plan(&object, "default", "example.internal");
        assert_eq!(plan.creation_order, ["web-5", "web-6"]);
        assert_eq!(
            plan.pods[0].fqdn.as_deref(),
            Some("web-5.nginx.default.svc.example.internal")
        );
    }

    #[test]
    fn summarises_huge_replica_counts() {
        let mut object = web();
        object["spec"]["replicas"] = json!(2_147_483_647_i64);
        let plan = plan(&object, "default", "cluster.local");
        assert_eq!(plan.pods.len(), 1_000);
        assert_eq!(plan.unlisted, 2_147_483_647 - 1_000);
    }
}
