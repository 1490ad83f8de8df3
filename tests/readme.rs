//! The README's rule list is checked against the rule catalog, so it cannot drift.

use stsguard::engine::rules::catalog::RULES;

#[test]
fn readme_lists_every_rule_with_its_default_severity() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let rules_section = readme
        .split("\n## ")
        .find(|section| section.starts_with("Rules\n"))
        .expect("README has a ## Rules section");
    let listed: Vec<(String, String)> = rules_section
        .lines()
        .filter_map(|line| {
            let mut cells = line.strip_prefix("| `")?.split(" | ");
            let id = cells.next()?.strip_suffix('`')?.to_string();
            let severity = cells.next()?.trim().to_string();
            Some((id, severity))
        })
        .collect();
    let catalog: Vec<(String, String)> = RULES
        .iter()
        .map(|rule| (rule.id.to_string(), rule.severity.to_string()))
        .collect();
    assert_eq!(listed, catalog);
}
