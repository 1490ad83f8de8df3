//! Policy files (SPEC §4): typed, validated against a JSON Schema shipped in the binary, and
//! resolved per namespace.
//!
//! A policy is all or nothing: [`Policy::from_yaml`] either returns a policy whose every part
//! was checked, or every problem with its path. There is no partly applied policy.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::LazyLock;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::catalog::{self, RuleId};
use super::finding::Severity;
use super::gpu_models::{self, GpuModel, MigProfile};

/// The policy used when none is given: `policies/default.yaml`, safe for any cluster.
pub const DEFAULT_POLICY_YAML: &str = include_str!("../../policies/default.yaml");

/// A policy file as written.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "stsguard StatefulSetPolicy")]
pub struct PolicyDocument {
    pub api_version: PolicyApiVersion,
    pub kind: PolicyKind,
    #[serde(default)]
    pub metadata: PolicyMetadata,
    pub spec: PolicySpec,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema)]
pub enum PolicyApiVersion {
    #[serde(rename = "stsguard.dev/v1")]
    V1,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema)]
pub enum PolicyKind {
    StatefulSetPolicy,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyMetadata {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// `spec` of a policy.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySpec {
    /// enforce: errors deny. warn: errors become AdmissionReview warnings.
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub rules: RuleLevels,
    #[serde(default)]
    pub gpu: GpuSettings,
    #[serde(default)]
    pub limits: Limits,
    /// Namespaces stsguard leaves alone entirely (no findings, no defaults). Globs.
    #[serde(default)]
    pub exempt_namespaces: Vec<String>,
    /// Per-namespace overrides; later entries override earlier ones.
    #[serde(default)]
    pub namespaces: Vec<NamespacePolicy>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Enforce,
    Warn,
}

/// A severity override for one rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuleLevel {
    Error,
    Warning,
    Off,
}

/// Rule → level, the rules named by id. Its schema only admits the catalog's rule ids.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct RuleLevels(pub BTreeMap<RuleId, RuleLevel>);

impl JsonSchema for RuleLevels {
    fn schema_name() -> Cow<'static, str> {
        "RuleLevels".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let level = generator.subschema_for::<RuleLevel>();
        let ids: Vec<&str> = catalog::RULES.iter().map(|rule| rule.id).collect();
        json_schema!({
            "type": "object",
            "description": "Rule id (see `stsguard explain`) to error, warning or off.",
            "propertyNames": {"enum": ids},
            "additionalProperties": level,
        })
    }
}

/// The organisation defaults of SPEC §2. Every field is optional: an omitted default is
/// not applied.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Defaults {
    #[serde(default)]
    pub update_strategy: Option<UpdateStrategyType>,
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub partition: Option<i32>,
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub revision_history_limit: Option<i32>,
    /// Omit to leave claim templates alone.
    #[serde(default)]
    #[schemars(length(min = 1, max = 253))]
    pub storage_class_name: Option<String>,
    #[serde(default)]
    pub pod_anti_affinity: Option<AntiAffinity>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum UpdateStrategyType {
    RollingUpdate,
    OnDelete,
}

/// The pod anti-affinity default.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AntiAffinity {
    /// preferred (a scheduling preference), required (a hard rule), or none (add nothing).
    #[serde(rename = "type")]
    pub kind: AntiAffinityType,
    #[serde(default = "default_topology_key")]
    #[schemars(length(min = 1))]
    pub topology_key: String,
    #[serde(default = "default_weight")]
    #[schemars(range(min = 1, max = 100))]
    pub weight: i32,
    /// Also add the term to StatefulSets with one replica (skipped by default: there is
    /// nothing to spread).
    #[serde(default)]
    pub single_replica: bool,
}

fn default_topology_key() -> String {
    "kubernetes.io/hostname".into()
}

fn default_weight() -> i32 {
    100
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AntiAffinityType {
    Preferred,
    Required,
    None,
}

/// GPU settings; in a namespace override, omitted fields keep the base value.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GpuSettings {
    /// Whole GPUs a node offers at most (default 8).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_per_node: Option<u32>,
    /// GPU models the cluster has, for MIG profiles and `use-gputype` annotations. Omitted:
    /// every model stsguard knows.
    #[serde(default)]
    pub models: Option<Vec<String>>,
    /// Largest `nvidia.com/gpumem` (MiB) one vGPU may ask for.
    #[serde(default, rename = "maxMemoryMiB")]
    #[schemars(range(min = 1))]
    pub max_memory_mib: Option<u64>,
    /// Models beyond the built-in table: name and MIG profiles (`1g.10gb: 7`).
    #[serde(default)]
    pub custom_models: Vec<CustomGpuModel>,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomGpuModel {
    #[schemars(length(min = 1))]
    pub name: String,
    /// Profile (`1g.10gb`, `1g.10gb+me`) → instances per GPU.
    pub mig_profiles: BTreeMap<String, u32>,
}

/// Numeric bounds for the spec-sanity rules.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Limits {
    /// Bounds for terminationGracePeriodSeconds (default 0-9999).
    #[serde(default)]
    pub termination_grace_period_seconds: Option<Bounds>,
    /// Most DNS search domains (default 32; 6 with `--kube-version` below 1.28).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub dns_search_domains: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    #[schemars(range(min = 0))]
    pub min: i64,
    #[schemars(range(min = 0))]
    pub max: i64,
}

/// Settings for the namespaces whose names match one of the globs.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespacePolicy {
    /// Namespace globs (`*` and `?`).
    #[serde(rename = "match")]
    #[schemars(length(min = 1))]
    pub patterns: Vec<String>,
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub rules: RuleLevels,
    #[serde(default)]
    pub gpu: GpuSettings,
    #[serde(default)]
    pub limits: Limits,
}

/// The settings that apply to one object, after namespace overrides.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub mode: Mode,
    pub defaults: Defaults,
    pub rules: BTreeMap<RuleId, RuleLevel>,
    pub gpu_max_per_node: u32,
    /// Allowed GPU model names; `None`: every model known to the policy.
    pub gpu_models: Option<Vec<String>>,
    pub gpu_max_memory_mib: Option<u64>,
    pub termination_grace: Bounds,
    pub dns_search_domains: Option<u32>,
}

impl Settings {
    /// The level the policy sets for a rule, if any.
    pub fn rule_level(&self, rule: RuleId) -> Option<RuleLevel> {
        self.rules.get(&rule).copied()
    }

    /// Applies the policy's level to a finding's severity; `None` when the rule is off.
    pub fn severity(&self, rule: RuleId, severity: Severity) -> Option<Severity> {
        match self.rule_level(rule) {
            None => Some(severity),
            Some(RuleLevel::Off) => None,
            Some(RuleLevel::Warning) => Some(Severity::Warning),
            Some(RuleLevel::Error) => Some(Severity::Error),
        }
    }

    fn overlay(&mut self, ns: &NamespacePolicy) {
        if let Some(mode) = ns.mode {
            self.mode = mode;
        }
        let d = &ns.defaults;
        let mine = &mut self.defaults;
        if d.update_strategy.is_some() {
            mine.update_strategy = d.update_strategy;
        }
        if d.partition.is_some() {
            mine.partition = d.partition;
        }
        if d.revision_history_limit.is_some() {
            mine.revision_history_limit = d.revision_history_limit;
        }
        if d.storage_class_name.is_some() {
            mine.storage_class_name.clone_from(&d.storage_class_name);
        }
        if d.pod_anti_affinity.is_some() {
            mine.pod_anti_affinity.clone_from(&d.pod_anti_affinity);
        }
        for (rule, level) in &ns.rules.0 {
            self.rules.insert(*rule, *level);
        }
        self.apply_gpu(&ns.gpu);
        self.apply_limits(&ns.limits);
    }

    fn apply_gpu(&mut self, gpu: &GpuSettings) {
        if let Some(max) = gpu.max_per_node {
            self.gpu_max_per_node = max;
        }
        if gpu.models.is_some() {
            self.gpu_models.clone_from(&gpu.models);
        }
        if gpu.max_memory_mib.is_some() {
            self.gpu_max_memory_mib = gpu.max_memory_mib;
        }
    }

    fn apply_limits(&mut self, limits: &Limits) {
        if let Some(bounds) = limits.termination_grace_period_seconds {
            self.termination_grace = bounds;
        }
        if limits.dns_search_domains.is_some() {
            self.dns_search_domains = limits.dns_search_domains;
        }
    }
}

/// A loaded, checked policy.
#[derive(Clone, Debug)]
pub struct Policy {
    pub document: PolicyDocument,
    base: Settings,
    /// Built-in models plus the policy's custom ones.
    pub gpu_models: Vec<GpuModel>,
}

/// Why a policy was refused: every problem, each with its path in the policy file.
#[derive(Debug, thiserror::Error)]
#[error("invalid policy {source_name}:\n{}", .problems.iter().map(|p| format!("  - {}: {}", if p.path.is_empty() { "/" } else { &p.path }, p.message)).collect::<Vec<_>>().join("\n"))]
pub struct PolicyError {
    pub source_name: String,
    pub problems: Vec<PolicyProblem>,
}

/// One problem in a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyProblem {
    /// JSON Pointer into the policy document.
    pub path: String,
    pub message: String,
}

/// The policy's JSON Schema (`stsguard policy schema`).
pub fn schema() -> &'static Value {
    static SCHEMA: LazyLock<Value> =
        LazyLock::new(|| schemars::schema_for!(PolicyDocument).to_value());
    &SCHEMA
}

impl Policy {
    /// The embedded `policies/default.yaml`.
    pub fn builtin_default() -> Result<Policy, PolicyError> {
        Policy::from_yaml(DEFAULT_POLICY_YAML, "policies/default.yaml")
    }

    /// Parses and checks a policy file. `source_name` names it in errors.
    pub fn from_yaml(text: &str, source_name: &str) -> Result<Policy, PolicyError> {
        let refuse = |problems: Vec<PolicyProblem>| PolicyError {
            source_name: source_name.to_string(),
            problems,
        };
        let mut documents = crate::yaml::parse_stream(text)
            .into_iter()
            .filter(|doc| !matches!(doc, Ok(d) if d.value.is_none()));
        let value = match (documents.next(), documents.next()) {
            (Some(Ok(doc)), None) => doc.value.unwrap_or(Value::Null),
            (None, _) => {
                return Err(refuse(vec![problem(
                    "",
                    "the file holds no policy document",
                )]));
            }
            (Some(Err(e)), _) => {
                return Err(refuse(vec![problem(
                    "",
                    format!(
                        "not valid YAML at line {}, column {}: {}",
                        e.line, e.column, e.message
                    ),
                )]));
            }
            (Some(Ok(_)), Some(_)) => {
                return Err(refuse(vec![problem(
                    "",
                    "the file holds more than one document; a policy file holds exactly one",
                )]));
            }
        };
        Policy::from_value(value).map_err(refuse)
    }

    /// Checks a policy given as JSON.
    pub fn from_value(value: Value) -> Result<Policy, Vec<PolicyProblem>> {
        static VALIDATOR: LazyLock<Result<jsonschema::Validator, String>> =
            LazyLock::new(|| jsonschema::validator_for(schema()).map_err(|e| e.to_string()));
        let validator = VALIDATOR.as_ref().map_err(|e| {
            vec![problem(
                "",
                format!("internal: the policy schema does not compile: {e}"),
            )]
        })?;
        let mut problems: Vec<PolicyProblem> = validator
            .iter_errors(&value)
            .map(|e| problem(e.instance_path().as_str(), e.to_string()))
            .collect();
        if !problems.is_empty() {
            problems.sort_by(|a, b| a.path.cmp(&b.path));
            return Err(problems);
        }
        let document: PolicyDocument =
            serde_json::from_value(value).map_err(|e| vec![problem("", e.to_string())])?;
        Policy::from_document(document)
    }

    fn from_document(document: PolicyDocument) -> Result<Policy, Vec<PolicyProblem>> {
        let mut problems = Vec::new();
        let mut gpu_models = gpu_models::builtin_models();
        for (i, custom) in document.spec.gpu.custom_models.iter().enumerate() {
            for name in custom.mig_profiles.keys() {
                if !gpu_models::is_profile_name(name) {
                    problems.push(problem(
                        format!("/spec/gpu/customModels/{i}/migProfiles/{name}"),
                        format!("{name:?} is not a MIG profile name like 1g.10gb or 1g.10gb+me"),
                    ));
                }
            }
            let model = GpuModel {
                name: custom.name.clone(),
                profiles: custom
                    .mig_profiles
                    .iter()
                    .map(|(name, max)| MigProfile {
                        name: name.clone(),
                        max_instances: *max,
                    })
                    .collect(),
            };
            match gpu_models.iter_mut().find(|m| m.name == custom.name) {
                Some(existing) => *existing = model,
                None => gpu_models.push(model),
            }
        }
        let mut check_models = |path: String, models: &Option<Vec<String>>| {
            for (i, name) in models.iter().flatten().enumerate() {
                if !gpu_models.iter().any(|m| &m.name == name) {
                    let known: Vec<&str> = gpu_models.iter().map(|m| m.name.as_str()).collect();
                    problems.push(problem(
                        format!("{path}/{i}"),
                        format!(
                            "unknown GPU model {name:?}; known: {} (add others under spec.gpu.customModels)",
                            known.join(", ")
                        ),
                    ));
                }
            }
        };
        check_models("/spec/gpu/models".into(), &document.spec.gpu.models);
        for (i, ns) in document.spec.namespaces.iter().enumerate() {
            check_models(format!("/spec/namespaces/{i}/gpu/models"), &ns.gpu.models);
        }
        let check_bounds = |path: String, limits: &Limits, problems: &mut Vec<PolicyProblem>| {
            if let Some(b) = limits.termination_grace_period_seconds
                && b.min > b.max
            {
                problems.push(problem(
                    path,
                    format!("min {} is above max {}", b.min, b.max),
                ));
            }
        };
        check_bounds(
            "/spec/limits/terminationGracePeriodSeconds".into(),
            &document.spec.limits,
            &mut problems,
        );
        for (i, ns) in document.spec.namespaces.iter().enumerate() {
            check_bounds(
                format!("/spec/namespaces/{i}/limits/terminationGracePeriodSeconds"),
                &ns.limits,
                &mut problems,
            );
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let spec = &document.spec;
        let mut base = Settings {
            mode: spec.mode,
            defaults: spec.defaults.clone(),
            rules: spec.rules.0.clone(),
            gpu_max_per_node: 8,
            gpu_models: None,
            gpu_max_memory_mib: None,
            termination_grace: Bounds { min: 0, max: 9999 },
            dns_search_domains: None,
        };
        base.apply_gpu(&spec.gpu);
        base.apply_limits(&spec.limits);
        Ok(Policy {
            base,
            gpu_models,
            document,
        })
    }

    /// Whether objects in this namespace are exempt from stsguard entirely.
    pub fn is_exempt(&self, namespace: &str) -> bool {
        self.exemption(namespace).is_some()
    }

    /// The first `exemptNamespaces` entry (a glob) that matches this namespace, if any: the
    /// engine names it when it says why it did not judge an object.
    pub fn exemption(&self, namespace: &str) -> Option<&str> {
        self.document
            .spec
            .exempt_namespaces
            .iter()
            .find(|glob| glob_match(glob, namespace))
            .map(String::as_str)
    }

    /// This policy with no exempt namespace: what `stsguard validate --include-exempt` judges
    /// with. Everything else, per-namespace overrides included, is unchanged.
    #[must_use]
    pub fn without_exemptions(mut self) -> Policy {
        self.document.spec.exempt_namespaces.clear();
        self
    }

    /// The settings for one namespace: the base, overlaid by each matching entry of
    /// `spec.namespaces` in order.
    pub fn settings_for(&self, namespace: &str) -> Cow<'_, Settings> {
        let mut settings = Cow::Borrowed(&self.base);
        for ns in &self.document.spec.namespaces {
            if ns.patterns.iter().any(|glob| glob_match(glob, namespace)) {
                settings.to_mut().overlay(ns);
            }
        }
        settings
    }

    /// The GPU models allowed by these settings.
    pub fn allowed_gpu_models<'a>(
        &'a self,
        settings: &'a Settings,
    ) -> impl Iterator<Item = &'a GpuModel> + 'a {
        self.gpu_models.iter().filter(move |model| {
            settings
                .gpu_models
                .as_ref()
                .is_none_or(|allowed| allowed.iter().any(|name| name == &model.name))
        })
    }
}

fn problem(path: impl Into<String>, message: impl Into<String>) -> PolicyProblem {
    PolicyProblem {
        path: path.into(),
        message: message.into(),
    }
}

/// Glob match with `*` (any run) and `?` (one character), as namespace names are ASCII.
pub fn glob_match(glob: &str, name: &str) -> bool {
    let (glob, name) = (glob.as_bytes(), name.as_bytes());
    let (mut g, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match glob.get(g) {
            Some(b'*') => {
                star = Some((g, n));
                g += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                g += 1;
                n += 1;
            }
            _ => match star {
                Some((sg, sn)) => {
                    g = sg + 1;
                    n = sn + 1;
                    star = Some((sg, sn + 1));
                }
                None => return false,
            },
        }
    }
    glob[g..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Result<Policy, PolicyError> {
        Policy::from_yaml(yaml, "test.yaml")
    }

    const HEADER: &str =
        "apiVersion: stsguard.dev/v1\nkind: StatefulSetPolicy\nmetadata: {name: t}\n";

    #[test]
    fn default_policy_loads_and_forces_no_storage_class() {
        let policy = Policy::builtin_default().unwrap();
        let settings = policy.settings_for("default");
        assert_eq!(settings.defaults.storage_class_name, None);
        assert!(
            settings.rules.is_empty(),
            "every rule at its default severity"
        );
        assert_eq!(
            settings.defaults.pod_anti_affinity.as_ref().map(|a| a.kind),
            Some(AntiAffinityType::Preferred)
        );
    }

    #[test]
    fn refuses_every_problem_with_its_path() {
        let err = load(&format!(
            "{HEADER}spec:\n  mode: strict\n  rules: {{no-such-rule: error, name-length: loud}}\n  defaults: {{partition: -1}}\n"
        ))
        .unwrap_err();
        let paths: Vec<_> = err.problems.iter().map(|p| p.path.as_str()).collect();
        assert!(paths.contains(&"/spec/mode"), "{paths:?}");
        assert!(paths.contains(&"/spec/rules"), "{paths:?}");
        assert!(paths.contains(&"/spec/rules/name-length"), "{paths:?}");
        assert!(paths.contains(&"/spec/defaults/partition"), "{paths:?}");
    }

    #[test]
    fn refuses_unknown_fields_and_gpu_models() {
        let err = load(&format!(
            "{HEADER}spec:\n  gpu: {{models: [A100-80GB, Z9000]}}\n  defualts: {{}}\n"
        ))
        .unwrap_err();
        assert!(err.to_string().contains("defualts"), "{err}");
        let err = load(&format!(
            "{HEADER}spec:\n  gpu: {{models: [A100-80GB, Z9000]}}\n"
        ))
        .unwrap_err();
        assert_eq!(err.problems[0].path, "/spec/gpu/models/1");
    }

    #[test]
    fn custom_models_become_allowed() {
        let policy = load(&format!(
            "{HEADER}spec:\n  gpu:\n    models: [Z9000]\n    customModels: [{{name: Z9000, migProfiles: {{2g.30gb: 3}}}}]\n"
        ))
        .unwrap();
        let settings = policy.settings_for("x");
        let allowed: Vec<_> = policy
            .allowed_gpu_models(&settings)
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(allowed, ["Z9000"]);
    }

    #[test]
    fn later_namespace_entries_override_earlier_ones() {
        let policy = load(&format!(
            "{HEADER}spec:\n  rules: {{gpu-count: error}}\n  namespaces:\n  - match: ['ml-*']\n    rules: {{gpu-count: warning}}\n    defaults: {{storageClassName: fast}}\n  - match: [ml-prod]\n    rules: {{gpu-count: off}}\n"
        ))
        .unwrap();
        assert_eq!(
            policy.settings_for("web").rule_level(RuleId::GpuCount),
            Some(RuleLevel::Error)
        );
        assert_eq!(
            policy.settings_for("ml-dev").rule_level(RuleId::GpuCount),
            Some(RuleLevel::Warning)
        );
        assert_eq!(
            policy.settings_for("ml-prod").rule_level(RuleId::GpuCount),
            Some(RuleLevel::Off)
        );
        assert_eq!(
            policy
                .settings_for("ml-prod")
                .defaults
                .storage_class_name
                .as_deref(),
            Some("fast")
        );
    }

    #[test]
    fn refuses_more_than_one_document_and_empty_files() {
        assert!(load("").is_err());
        assert!(load(&format!("{HEADER}spec: {{}}\n---\n{HEADER}spec: {{}}\n")).is_err());
    }

    #[test]
    fn names_the_exemption_that_matched_and_drops_only_exemptions() {
        let policy = load(&format!(
            "{HEADER}spec:\n  exemptNamespaces: [kube-system, 'kube-*']\n  namespaces:\n  - match: ['kube-*']\n    rules: {{selector: warning}}\n"
        ))
        .unwrap();
        assert_eq!(policy.exemption("kube-system"), Some("kube-system"));
        assert_eq!(policy.exemption("kube-public"), Some("kube-*"));
        assert_eq!(policy.exemption("default"), None);
        assert!(policy.is_exempt("kube-public"));

        let included = policy.without_exemptions();
        assert_eq!(included.exemption("kube-system"), None);
        // The per-namespace overrides still apply to the namespaces now judged.
        assert_eq!(
            included
                .settings_for("kube-system")
                .rule_level(RuleId::Selector),
            Some(RuleLevel::Warning)
        );
    }

    #[test]
    fn globs_match_namespaces() {
        assert!(glob_match("ml-*", "ml-train"));
        assert!(glob_match("*", ""));
        assert!(glob_match("team-?-db", "team-a-db"));
        assert!(!glob_match("ml-*", "aml-x"));
        assert!(glob_match("*-prod-*", "a-prod-b"));
    }
}
