//! `stsguard explain [RULE]`: what a rule checks, why Kubernetes needs it, how to fix it, and
//! a minimal StatefulSet that trips it; without a rule, the list of every rule.
//!
//! The explanations are data: the records of [`catalog::RULES`] (`engine/catalog/*.md`),
//! which this module only lays out. The tests run every example through the real engine, so
//! an example that stops tripping its rule (or starts tripping others) fails the build rather
//! than misleading a reader.

use clap::{Args, ValueEnum};
use serde::Serialize;

use super::{EXIT_OK, EXIT_USAGE};
use crate::engine::IGNORE_ANNOTATION;
use crate::engine::rules::catalog::{self, Family, Rule, RuleId};
use crate::engine::suggest::edit_distance;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A rule id; without one, every rule is listed.
    pub rule: Option<String>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = ExplainFormat::Text)]
    pub output: ExplainFormat,
}

/// How `stsguard explain` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExplainFormat {
    Text,
    Json,
}

/// Rules whose findings exist before any object or policy does: no level, no annotation.
const INPUT_RULES: &[RuleId] = &[RuleId::YamlSyntax];

/// Rules that compare with the old object and so can never be ratcheted.
const UPDATE_RULES: &[RuleId] = &[RuleId::ImmutableField];

/// Whether `rule` is the record of one of `rules`.
fn is_one_of(rule: &Rule, rules: &[RuleId]) -> bool {
    rules.iter().any(|id| std::ptr::eq(id.rule(), rule))
}

/// The policy notes every rule shares (its level, the ignore annotation, ratcheting),
/// followed by the rule's own knobs.
pub fn policy_notes(rule: &Rule) -> Vec<String> {
    let mut notes = Vec::new();
    if !is_one_of(rule, INPUT_RULES) {
        notes.push(format!(
            "rules: {{{id}: error | warning | off}} in a policy (or under namespaces[].rules for \
             some namespaces) changes its level; the default is {severity}.",
            id = rule.id,
            severity = rule.severity
        ));
        notes.push(format!(
            "The annotation {IGNORE_ANNOTATION}: \"{id}\" on a StatefulSet (a comma-separated \
             list of rules) turns it off for that object.",
            id = rule.id
        ));
        if !is_one_of(rule, UPDATE_RULES) {
            notes.push(
                "On UPDATE, a finding the old object already had is a warning, never a denial."
                    .to_string(),
            );
        }
    }
    notes.extend(rule.knobs.iter().map(|knob| (*knob).to_string()));
    notes
}

/// Runs `stsguard explain`.
pub fn run(args: &ExplainArgs) -> u8 {
    let Some(query) = &args.rule else {
        print!("{}", render_list(args.output));
        return EXIT_OK;
    };
    match lookup(query) {
        Some(rule) => {
            print!("{}", render_rule(rule, args.output));
            EXIT_OK
        }
        None => {
            eprintln!("stsguard: {}", unknown_rule_message(query));
            EXIT_USAGE
        }
    }
}

/// The catalog rule for a user's spelling of an id: case and `_` for `-` do not matter.
pub fn lookup(query: &str) -> Option<&'static Rule> {
    catalog::find(&normalize(query))
}

fn normalize(query: &str) -> String {
    query.trim().to_ascii_lowercase().replace('_', "-")
}

/// `unknown rule "nope"; did you mean ...?` with the closest ids.
pub fn unknown_rule_message(query: &str) -> String {
    format!(
        "unknown rule {query:?}; did you mean {}? (`stsguard explain` lists every rule)",
        suggestions(query).join(", ")
    )
}

/// The known ids closest to a misspelt one: those containing it (`gpu`, `mount`), else the
/// nearest by edit distance. Never empty.
pub fn suggestions(query: &str) -> Vec<&'static str> {
    const MOST: usize = 8;
    const NEAREST: usize = 3;
    let query = normalize(query);
    let ids = catalog::RULES.iter().map(|rule| rule.id);
    if !query.is_empty() {
        let containing: Vec<&str> = ids.clone().filter(|id| id.contains(&query)).collect();
        if !containing.is_empty() {
            return containing.into_iter().take(MOST).collect();
        }
    }
    let mut scored: Vec<(usize, usize, &'static str)> = ids
        .enumerate()
        .map(|(order, id)| (edit_distance(&query, id), order, id))
        .collect();
    scored.sort_unstable();
    scored
        .into_iter()
        .take(NEAREST)
        .map(|(_, _, id)| id)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Output

/// Width text output is wrapped to; fixed so that output (and its snapshots) does not
/// depend on the terminal.
const WIDTH: usize = 88;

/// One rule in JSON.
#[derive(Serialize)]
struct RuleJson<'a> {
    id: &'a str,
    family: &'a str,
    severity: &'a str,
    summary: &'a str,
    breaks: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    what: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    why: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    example: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_example: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<&'a str>,
}

impl<'a> RuleJson<'a> {
    fn summary(rule: &'a Rule) -> Self {
        RuleJson {
            id: rule.id,
            family: rule.family.title(),
            severity: rule.severity.as_str(),
            summary: rule.summary,
            breaks: rule.breaks,
            what: None,
            why: None,
            fix: None,
            policy: None,
            example: None,
            old_example: None,
            cluster: None,
        }
    }

    fn full(rule: &'a Rule) -> Self {
        RuleJson {
            what: Some(rule.what),
            why: Some(rule.why),
            fix: Some(rule.fix),
            policy: Some(policy_notes(rule)),
            example: Some(rule.example),
            old_example: rule.old_example,
            cluster: rule.cluster,
            ..RuleJson::summary(rule)
        }
    }
}

fn to_json(value: &impl Serialize) -> String {
    // Serialising these plain structs cannot fail; an empty object is a safe fallback.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}

/// The text or JSON for one rule.
pub fn render_rule(rule: &Rule, format: ExplainFormat) -> String {
    match format {
        ExplainFormat::Json => to_json(&RuleJson::full(rule)),
        ExplainFormat::Text => render_rule_text(rule),
    }
}

fn render_rule_text(rule: &Rule) -> String {
    let mut out = String::new();
    let severity = format!("{} (by default)", rule.severity);
    let fields = [
        ("Rule", rule.id),
        ("Family", rule.family.title()),
        ("Severity", severity.as_str()),
        ("Summary", rule.summary),
        ("Breaks", rule.breaks),
    ];
    for (label, value) in fields {
        let head = format!("{:<10}", format!("{label}:"));
        out.push_str(&wrap(value, &head, &" ".repeat(head.len())));
    }
    for (title, text) in [("What", rule.what), ("Why", rule.why), ("Fix", rule.fix)] {
        out.push('\n');
        out.push_str(title);
        out.push('\n');
        out.push_str(&wrap(text, "  ", "  "));
    }
    out.push_str("\nPolicy\n");
    for note in policy_notes(rule) {
        out.push_str(&wrap(&note, "  - ", "    "));
    }
    out.push('\n');
    match (rule.old_example, rule.cluster) {
        (None, None) => {
            out.push_str("Example (stsguard validate example.yaml)\n");
            out.push_str(&indent(rule.example, "  "));
        }
        (None, Some(cluster)) => {
            out.push_str("Example (stsguard validate --cluster example.yaml)\n");
            out.push_str("  # in a cluster that holds only\n");
            out.push_str(&indent(cluster, "  "));
            out.push_str("  # example.yaml\n");
            out.push_str(&indent(rule.example, "  "));
        }
        (Some(old), _) => {
            out.push_str("Example (stsguard validate --old old.yaml new.yaml)\n");
            out.push_str("  # old.yaml\n");
            out.push_str(&indent(old, "  "));
            out.push_str("  # new.yaml\n");
            out.push_str(&indent(rule.example, "  "));
        }
    }
    out
}

/// The list of every rule, grouped by family, in catalog order.
pub fn render_list(format: ExplainFormat) -> String {
    if format == ExplainFormat::Json {
        #[derive(Serialize)]
        struct List<'a> {
            rules: Vec<RuleJson<'a>>,
        }
        let rules = catalog::RULES.iter().map(RuleJson::summary).collect();
        return to_json(&List { rules });
    }
    let id_width = catalog::RULES
        .iter()
        .map(|rule| rule.id.len())
        .max()
        .unwrap_or(0);
    let mut families: Vec<Family> = Vec::new();
    for rule in catalog::RULES {
        if !families.contains(&rule.family) {
            families.push(rule.family);
        }
    }
    let mut out = String::new();
    for family in families {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(family.title());
        out.push('\n');
        for rule in catalog::RULES.iter().filter(|rule| rule.family == family) {
            out.push_str(&format!(
                "  {:<id_width$}  {:<7}  {}\n",
                rule.id,
                rule.severity.as_str(),
                rule.summary
            ));
        }
    }
    out.push_str("\n`stsguard explain RULE` tells what a rule checks, why, and how to fix it.\n");
    out
}

/// Wraps `text` to [`WIDTH`]: the first line starts with `first`, the others with `rest`.
/// Words longer than a line stay whole.
fn wrap(text: &str, first: &str, rest: &str) -> String {
    let mut out = String::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.len() + 1 + word.len() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = rest.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

/// Every non-empty line of `text` prefixed with `prefix`.
fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|line| {
            if line.is_empty() {
                "\n".to_string()
            } else {
                format!("{prefix}{line}\n")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explanations_are_filled_in() {
        for rule in catalog::RULES {
            for (section, text) in [
                ("what", rule.what),
                ("why", rule.why),
                ("fix", rule.fix),
                ("example", rule.example),
            ] {
                assert!(
                    text.trim().len() > 20,
                    "{}: {section} is too short",
                    rule.id
                );
            }
            assert!(rule.example.ends_with('\n'), "{}", rule.id);
        }
    }

    #[test]
    fn looks_rules_up_ignoring_case_and_underscores() {
        assert_eq!(lookup("name-length").map(|r| r.id), Some("name-length"));
        assert_eq!(lookup(" Name_Length ").map(|r| r.id), Some("name-length"));
        assert!(lookup("nope").is_none());
        assert!(lookup("").is_none());
    }

    #[test]
    fn suggests_ids_containing_the_query() {
        assert_eq!(
            suggestions("mount"),
            ["volume-mount-unknown", "mount-path-duplicate"]
        );
        assert_eq!(
            suggestions("storage-class"),
            [
                "claim-template-storage-class",
                "storage-class-missing",
                "storage-class-no-default"
            ]
        );
    }

    #[test]
    fn suggests_the_nearest_ids_for_a_typo() {
        assert_eq!(suggestions("name-lenght")[0], "name-length");
        assert_eq!(suggestions("selctor")[0], "selector");
        assert_eq!(suggestions("nope").len(), 3);
        assert_eq!(suggestions("").len(), 3);
    }

    #[test]
    fn unknown_rule_message_names_the_query_and_suggestions() {
        let message = unknown_rule_message("gpu-cout");
        assert!(message.starts_with("unknown rule \"gpu-cout\"; did you mean gpu-count"));
    }

    #[test]
    fn wraps_with_hanging_indent() {
        let text = "word ".repeat(40);
        let wrapped = wrap(&text, "  - ", "    ");
        let lines: Vec<&str> = wrapped.lines().collect();
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|line| line.len() <= WIDTH));
        assert!(lines[0].starts_with("  - word"));
        assert!(lines[1].starts_with("    word"));
    }

    #[test]
    fn yaml_syntax_has_no_level_or_annotation_notes() {
        let notes = policy_notes(lookup("yaml-syntax").unwrap());
        assert_eq!(notes.len(), 1);
        assert!(!notes[0].starts_with("rules:"));
    }

    #[test]
    fn gpu_count_notes_name_the_policy_knob() {
        let notes = policy_notes(lookup("gpu-count").unwrap());
        assert!(notes[0].contains("gpu-count: error | warning | off"));
        assert!(notes[1].contains("stsguard.dev/ignore: \"gpu-count\""));
        assert!(notes.iter().any(|note| note.contains("gpu.maxPerNode")));
    }

    #[test]
    fn text_has_every_section() {
        let text = render_rule(lookup("immutable-field").unwrap(), ExplainFormat::Text);
        for heading in [
            "Rule:     immutable-field\n",
            "Severity: error (by default)\n",
            "\nWhat\n",
            "\nWhy\n",
            "\nFix\n",
            "\nPolicy\n",
            "# old.yaml",
            "# new.yaml",
        ] {
            assert!(text.contains(heading), "{heading:?} missing from\n{text}");
        }
    }

    #[test]
    fn json_of_one_rule_has_every_field() {
        let rule = lookup("service-name").unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&render_rule(rule, ExplainFormat::Json)).unwrap();
        for key in [
            "id", "family", "severity", "summary", "breaks", "what", "why", "fix", "policy",
            "example",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
        assert!(json.get("old_example").is_none());
        assert_eq!(json["severity"], "error");
        assert_eq!(json["family"], "Names");
    }

    #[test]
    fn list_groups_rules_by_family() {
        let text = render_list(ExplainFormat::Text);
        let names = text.find("\nNames\n").unwrap();
        let volumes = text.find("\nVolumes and claim templates\n").unwrap();
        let name_length = text.find("  name-length ").unwrap();
        assert!(names < name_length && name_length < volumes);
        let json: serde_json::Value =
            serde_json::from_str(&render_list(ExplainFormat::Json)).unwrap();
        assert_eq!(
            json["rules"].as_array().unwrap().len(),
            catalog::RULES.len()
        );
    }
}
