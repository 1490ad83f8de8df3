//! Every rule stsguard knows: the rule table of SPEC §3 as data, one record per rule.
//!
//! The records are the Markdown files beside this one, one per family (`names.md`, ...),
//! compiled in by `build.rs` into [`RuleId`] and [`RULES`]: a malformed record fails the
//! build. Findings name their rule by [`RuleId`]; the policy schema's rule names,
//! `stsguard explain`, SARIF's rule descriptors and the README's rule table (by its test) all
//! read the records.

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use crate::engine::severity::Severity;

/// Rule families, one file each under `engine/rules/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Syntax,
    Names,
    Volumes,
    Gpu,
    Spec,
    Services,
    Cluster,
    Update,
}

impl Family {
    pub fn title(self) -> &'static str {
        match self {
            Family::Syntax => "Input",
            Family::Names => "Names",
            Family::Volumes => "Volumes and claim templates",
            Family::Gpu => "GPUs and other extended resources",
            Family::Spec => "Spec sanity",
            Family::Services => "The governing Service",
            Family::Cluster => "Against the cluster",
            Family::Update => "Updates",
        }
    }
}

/// One rule's record: everything stsguard says about it, from `catalog/<family>.md`.
#[derive(Debug)]
pub struct Rule {
    pub id: &'static str,
    pub family: Family,
    /// The `# heading` of the family's record file (the tests check it against
    /// [`Family::title`]).
    pub family_heading: &'static str,
    pub severity: Severity,
    /// One line: what the rule checks.
    pub summary: &'static str,
    /// What goes wrong in a cluster when the rule is ignored.
    pub breaks: &'static str,
    /// Exactly what the rule checks, with its edge cases and which findings are warnings.
    pub what: &'static str,
    /// The Kubernetes behaviour that makes the check necessary.
    pub why: &'static str,
    /// How to fix a finding.
    pub fix: &'static str,
    /// Policy settings and CLI flags that change the rule's verdicts, beyond its level and
    /// the ignore annotation (which every rule has).
    pub knobs: &'static [&'static str],
    /// A short input that trips the rule with the built-in policy (`stsguard validate`).
    pub example: &'static str,
    /// The previous version of the object, for rules that judge updates (`--old`).
    pub old_example: Option<&'static str>,
    /// For the rules that judge against the cluster (SPEC §8): the cluster's objects the
    /// example is judged with (`stsguard validate --cluster`), as YAML documents.
    pub cluster: Option<&'static str>,
}

// `RuleId` (one variant per record, in catalog order), `RuleId::ALL` and `RECORDS`.
include!(concat!(env!("OUT_DIR"), "/catalog.rs"));

/// The catalog, in the order of SPEC §3 (and of [`RuleId`]).
pub static RULES: &[Rule] = &RECORDS;

impl RuleId {
    /// The rule's record.
    pub fn rule(self) -> &'static Rule {
        // The records are generated with the enum, one per variant in its order.
        &RECORDS[self as usize]
    }

    /// The rule's id, as findings, policies and the ignore annotation spell it.
    pub fn id(self) -> &'static str {
        self.rule().id
    }

    /// The rule's default severity.
    pub fn severity(self) -> Severity {
        self.rule().severity
    }

    /// The rule with exactly this id.
    pub fn from_id(id: &str) -> Option<RuleId> {
        RuleId::ALL.into_iter().find(|rule| rule.id() == id)
    }
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// As its id, in findings and policies.
impl Serialize for RuleId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

/// From its id: policy files name rules by id (their schema admits only the catalog's ids, so
/// a policy with an unknown one is refused before this).
impl<'de> Deserialize<'de> for RuleId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let id = String::deserialize(deserializer)?;
        RuleId::from_id(&id).ok_or_else(|| de::Error::custom(format!("unknown rule {id:?}")))
    }
}

/// The record of the rule with this id (for a user's query; code names a [`RuleId`]).
pub fn find(id: &str) -> Option<&'static Rule> {
    RuleId::from_id(id).map(RuleId::rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for rule in RULES {
            assert!(seen.insert(rule.id), "duplicate rule id {}", rule.id);
            assert!(
                rule.id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{}",
                rule.id
            );
        }
    }

    #[test]
    fn every_rule_id_has_exactly_one_record_in_its_order() {
        assert_eq!(RULES.len(), RuleId::ALL.len());
        for (index, rule) in RuleId::ALL.into_iter().enumerate() {
            assert_eq!(rule as usize, index);
            assert!(std::ptr::eq(rule.rule(), &RULES[index]));
            assert_eq!(RuleId::from_id(rule.id()), Some(rule));
            let holding = RULES.iter().filter(|record| record.id == rule.id()).count();
            assert_eq!(holding, 1, "{} has {holding} records", rule.id());
        }
        assert_eq!(RuleId::from_id("no-such-rule"), None);
    }

    #[test]
    fn rule_ids_read_and_write_as_their_id() {
        assert_eq!(RuleId::NameLength.to_string(), "name-length");
        assert_eq!(
            serde_json::to_string(&RuleId::GpuCount).unwrap(),
            "\"gpu-count\""
        );
        let parsed: RuleId = serde_json::from_str("\"pvc-name\"").unwrap();
        assert_eq!(parsed, RuleId::PvcName);
        let unknown = serde_json::from_str::<RuleId>("\"pvc-nam\"").unwrap_err();
        assert!(
            unknown.to_string().contains("unknown rule \"pvc-nam\""),
            "{unknown}"
        );
    }

    #[test]
    fn every_record_has_every_field() {
        for rule in RULES {
            for (field, text) in [
                ("summary", rule.summary),
                ("breaks", rule.breaks),
                ("what", rule.what),
                ("why", rule.why),
                ("fix", rule.fix),
                ("example", rule.example),
            ] {
                assert!(text.trim().len() > 10, "{}: {field} is too short", rule.id);
                assert!(!text.contains("\n\n") || field == "example", "{}", rule.id);
            }
            for knob in rule.knobs {
                assert!(knob.trim().len() > 10, "{}: a knob is too short", rule.id);
            }
            for example in [Some(rule.example), rule.old_example, rule.cluster]
                .into_iter()
                .flatten()
            {
                assert!(example.ends_with('\n'), "{}", rule.id);
                assert!(!example.contains("```"), "{}", rule.id);
            }
            assert_eq!(rule.family_heading, rule.family.title(), "{}", rule.id);
        }
    }

    #[test]
    fn families_are_contiguous_in_catalog_order() {
        let mut families: Vec<Family> = Vec::new();
        for rule in RULES {
            if families.last() != Some(&rule.family) {
                assert!(!families.contains(&rule.family), "{}", rule.id);
                families.push(rule.family);
            }
        }
        assert_eq!(families.len(), 8);
    }
}

/// The record parser of `build.rs`, for its tests: the records it compiles in are checked
/// above, malformed ones here.
#[cfg(test)]
#[allow(dead_code)]
#[path = "../../../build.rs"]
mod build_script;

#[cfg(test)]
mod parser_tests {
    use super::build_script::parse_file;

    const GOOD: &str = "# Names\n\nIntro.\n\n## some-rule\n\n- severity: warning\n- summary: one\n  line\n- breaks: it\n\n### What\n\nwhat\nwrapped\n\n### Why\n\nwhy\n\n### Fix\n\nfix\n\n### Knobs\n\n- a knob\n  continued\n- another\n\n### Example\n\n```yaml\nkind: StatefulSet\n\nspec: {}\n```\n";

    fn error(text: &str) -> String {
        match parse_file(text, "Names") {
            Ok(_) => panic!("parsed:\n{text}"),
            Err((line, message)) => format!("{line}: {message}"),
        }
    }

    #[test]
    fn parses_a_record() {
        let records = parse_file(GOOD, "Names").unwrap();
        assert_eq!(records.len(), 1);
        let record = &records[0];
        assert_eq!(record.id, "some-rule");
        assert_eq!(record.title, "Names");
        assert_eq!(record.severity.as_deref(), Some("warning"));
        assert_eq!(record.summary.as_deref(), Some("one line"));
        assert_eq!(record.what.as_deref(), Some("what wrapped"));
        assert_eq!(
            record.knobs.as_deref(),
            Some(&["a knob continued".to_string(), "another".to_string()][..])
        );
        assert_eq!(
            record.example.as_deref(),
            Some("kind: StatefulSet\n\nspec: {}\n")
        );
        assert_eq!(record.cluster, None);
    }

    #[test]
    fn refuses_malformed_records() {
        for (from, to, expected) in [
            ("- severity: warning\n", "", "rule some-rule lacks severity"),
            (
                "- severity: warning",
                "- severity: loud",
                "severity \"loud\"",
            ),
            (
                "- breaks: it\n",
                "- breaks: it\n- owner: me\n",
                "unknown field",
            ),
            ("### Fix\n\nfix\n", "", "lacks Fix"),
            ("### Why\n", "### Because\n", "unknown section \"Because\""),
            ("what\nwrapped\n", "what\n\nwrapped\n", "one paragraph"),
            ("spec: {}\n```\n", "spec: {}\n", "not closed"),
            ("```yaml\nkind", "```\nkind", "expected a ```yaml block"),
            ("## some-rule", "## Some_Rule", "not a kebab-case rule id"),
            ("# Names\n", "Names\n", "starts with `# Family title`"),
            ("- another\n", "- another\nnot indented\n", "continuation"),
        ] {
            assert!(GOOD.contains(from), "{from:?}");
            let message = error(&GOOD.replacen(from, to, 1));
            assert!(message.contains(expected), "{message} lacks {expected:?}");
        }
        let twice = format!("{GOOD}\n### Why\n\nagain\n");
        assert!(error(&twice).contains("given twice"));
    }
}
