//! The `schema` rule validates the [`Doc`] the rules read, through stsguard's own
//! representation of it for jsonschema (`engine::doc::DocJson`). jsonschema's reference
//! representation is `serde_json::Value`: on every document of the corpus, the seed examples
//! and the recorded reviews — StatefulSets and whatever else the files hold, so that most
//! keywords of the schema meet both valid and invalid values — both must agree on validity
//! and on every error (where, which keyword, what it says).

mod common;

use serde_json::Value;
use stsguard::cli::input;
use stsguard::engine::doc::Doc;
use stsguard::engine::rules::schema;

/// Every JSON object the corpus, the seed examples and the recorded reviews hold, or `None`
/// (skipped) without `../shared`.
fn objects() -> Option<Vec<(String, Value)>> {
    let mut objects = Vec::new();
    for dir in [
        common::shared("corpus/manifests")?,
        common::data("examples"),
    ] {
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        for path in paths {
            let Ok(source) = input::read_source(&path) else {
                continue;
            };
            for (index, document) in source.documents.into_iter().enumerate() {
                if let Ok(Some(value)) = document.map(|d| d.value)
                    && value.is_object()
                {
                    objects.push((format!("{}#{index}", path.display()), value));
                }
            }
        }
    }
    for (name, review) in common::fixtures() {
        for member in ["object", "oldObject"] {
            let value = &review["request"][member];
            if value.is_object() {
                objects.push((format!("{name} {member}"), value.clone()));
            }
        }
    }
    Some(objects)
}

fn errors<'i>(errors: impl Iterator<Item = jsonschema::ValidationError<'i>>) -> Vec<String> {
    errors
        .map(|e| {
            format!(
                "{} | {} | {} | {}",
                e.instance_path().as_str(),
                e.schema_path().as_str(),
                e.instance(),
                e
            )
        })
        .collect()
}

#[test]
fn the_schema_check_on_a_doc_finds_what_it_finds_on_a_value() {
    let reference = jsonschema::options()
        .should_validate_formats(false)
        .build(schema::statefulset_schema())
        .unwrap();
    let on_doc = schema::validator().unwrap();
    let Some(objects) = objects() else {
        return;
    };
    assert!(objects.len() > 250, "{} objects", objects.len());
    let (mut valid, mut invalid) = (0, 0);
    for (name, value) in &objects {
        let doc = Doc::from(value);
        let expected = reference.is_valid(value);
        assert_eq!(on_doc.is_valid(&doc), expected, "{name}");
        assert_eq!(
            errors(on_doc.iter_errors(&doc)),
            errors(reference.iter_errors(value)),
            "{name}"
        );
        if expected {
            valid += 1;
        } else {
            invalid += 1;
        }
    }
    // Both outcomes are exercised, many times.
    assert!(
        valid > 50 && invalid > 50,
        "{valid} valid, {invalid} invalid"
    );
}
