//! Rule `schema`: a structural check against the StatefulSet OpenAPI schema.
//!
//! The schema is derived from k8s-openapi's types (its `schemars` feature) once per process.
//! Two changes make it useful for a linter:
//! - object schemas are closed (`additionalProperties: false`): the API server silently
//!   drops unknown fields, so a typo such as `requiredDuringSchedulingRequiredDuringExecution`
//!   is accepted and then has no effect — we report it;
//! - `Quantity` and `IntOrString` get the JSON types Kubernetes accepts for them (the
//!   generated schema leaves them untyped).
//!
//! `null` is accepted for every field, as the API server's decoder treats it as unset
//! (`kubectl get -o yaml` writes `creationTimestamp: null`, and every object the API server
//! sends a webhook has `spec.template.metadata.creationTimestamp: null`). The schema itself
//! says so (every `type` also allows `"null"`) rather than the error walk skipping nulls:
//! a valid object then passes the cheap `is_valid` check instead of the full error walk,
//! which is what the webhook's hot path pays for every request.

use std::sync::LazyLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::{Map, Value, json};

use crate::engine::catalog::RuleId;
use crate::engine::doc::DocJson;
use crate::engine::finding::{Finding, Severity};
use crate::engine::rules::Cx;
use crate::engine::view::{StatefulSet, escape_token};

const RULE: RuleId = RuleId::Schema;

/// The closed StatefulSet schema (JSON Schema 2020-12).
pub fn statefulset_schema() -> &'static Value {
    static SCHEMA: LazyLock<Value> = LazyLock::new(|| {
        let mut schema = schemars::schema_for!(k8s_openapi::api::apps::v1::StatefulSet).to_value();
        if let Some(defs) = schema.get_mut("$defs").and_then(Value::as_object_mut) {
            for (name, def) in defs.iter_mut() {
                match name.as_str() {
                    "io.k8s.apimachinery.pkg.api.resource.Quantity" => {
                        set_type(def, json!(["string", "number"]));
                    }
                    "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => {
                        set_type(def, json!(["string", "integer"]));
                    }
                    _ => {}
                }
            }
        }
        close_objects(&mut schema);
        accept_null(&mut schema);
        schema
    });
    &SCHEMA
}

fn set_type(def: &mut Value, types: Value) {
    if let Some(def) = def.as_object_mut() {
        def.insert("type".into(), types);
    }
}

/// Adds `additionalProperties: false` to every schema that lists properties and says
/// nothing about others.
fn close_objects(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let preserves = map
                .get("x-kubernetes-preserve-unknown-fields")
                .and_then(Value::as_bool)
                == Some(true);
            if map.contains_key("properties")
                && !map.contains_key("additionalProperties")
                && !preserves
            {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(close_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// Lets every typed schema accept `null` too: `"type": "string"` becomes
/// `["string", "null"]`. Only string or string-list `type` members are schema types; a
/// property *named* `type` inside `properties` holds an object and is left alone.
fn accept_null(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            match map.get_mut("type") {
                Some(Value::String(single)) => {
                    let single = std::mem::take(single);
                    map.insert("type".into(), json!([single, "null"]));
                }
                Some(Value::Array(types))
                    if types.iter().all(Value::is_string)
                        && !types.contains(&Value::from("null")) =>
                {
                    types.push("null".into());
                }
                _ => {}
            }
            map.values_mut().for_each(accept_null);
        }
        Value::Array(items) => items.iter_mut().for_each(accept_null),
        _ => {}
    }
}

/// The validator reads the [`Doc`] the other rules read (no `serde_json::Value` is built for a
/// webhook request).
static VALIDATOR: LazyLock<Result<jsonschema::Validator<DocJson>, String>> = LazyLock::new(|| {
    jsonschema::options_for::<DocJson>()
        .should_validate_formats(false)
        .build(statefulset_schema())
        .map_err(|e| e.to_string())
});

/// The compiled validator (compiled on first use), for benchmarks and tools.
pub fn validator() -> Result<&'static jsonschema::Validator<DocJson>, &'static str> {
    VALIDATOR.as_ref().map_err(String::as_str)
}

/// Compiles the schema now rather than on the first review (the server calls this at start).
pub fn warm_up() -> Result<(), String> {
    VALIDATOR.as_ref().map(|_| ()).map_err(Clone::clone)
}

/// Checks the object against the schema.
pub fn check(sts: &StatefulSet<'_>, cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let validator = match VALIDATOR.as_ref() {
        Ok(validator) => validator,
        Err(e) => {
            out.push(Finding::new(
                RULE,
                "",
                format!("internal error: the StatefulSet schema does not compile: {e}"),
                "report this as a bug in stsguard",
            ));
            return;
        }
    };
    // Most objects are valid: `is_valid` stops at the first error and builds no error
    // values or paths, which makes the common case several times cheaper.
    if validator.is_valid(sts.object) {
        return;
    }
    for error in validator.iter_errors(sts.object) {
        if error.instance().is_null() {
            continue;
        }
        let path = error.instance_path().as_str().to_string();
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for field in unexpected {
                    out.push(unknown_field(
                        &path,
                        field,
                        error.schema_path().as_str(),
                        cx,
                    ));
                }
            }
            ValidationErrorKind::Type { kind } => {
                let quoted_number = error
                    .instance()
                    .as_str()
                    .is_some_and(|s| s.parse::<f64>().is_ok());
                let hint = if quoted_number {
                    "remove the quotes: the value must be a number, not a string".to_string()
                } else {
                    format!(
                        "give {} a value of the type the API expects",
                        field_name(&path)
                    )
                };
                out.push(Finding::new(
                    RULE,
                    path.clone(),
                    format!(
                        "wrong type at {}: {}; the API server refuses the object",
                        display_path(&path),
                        type_error(error.instance(), kind)
                    ),
                    hint,
                ));
            }
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                out.push(Finding::new(
                    RULE,
                    format!("{path}/{}", escape_token(name)),
                    format!(
                        "required field {name:?} is missing at {}; the API server refuses the object",
                        display_path(&path)
                    ),
                    format!("add {name} under {}", display_path(&path)),
                ));
            }
            _ => out.push(Finding::new(
                RULE,
                path.clone(),
                format!("invalid value at {}: {error}", display_path(&path)),
                "use a value the StatefulSet API accepts (see `kubectl explain statefulset`)",
            )),
        }
    }
}

/// `"one" is not of type "integer"`: jsonschema's wording without the `null` the schema
/// accepts everywhere (saying "integer or null" would suggest null is a useful value).
fn type_error(instance: &Value, kind: &TypeKind) -> String {
    let expected: Vec<String> = match kind {
        TypeKind::Single(single) => vec![single.to_string()],
        TypeKind::Multiple(types) => types.iter().map(|t| t.to_string()).collect(),
    };
    let expected: Vec<String> = expected
        .into_iter()
        .filter(|t| t != "null")
        .map(|t| format!("{t:?}"))
        .collect();
    match expected.as_slice() {
        [single] => format!("{instance} is not of type {single}"),
        several => format!("{instance} is not of types {}", several.join(", ")),
    }
}

fn unknown_field(parent: &str, field: &str, schema_path: &str, cx: &Cx<'_>) -> Finding {
    let known = known_properties(schema_path);
    let suggestion = crate::engine::suggest::closest(field, known.iter().copied());
    let hint = match suggestion {
        Some(name) => format!("did you mean {name:?}? Otherwise remove the field"),
        None => "remove the field, or check the spelling and indentation".to_string(),
    };
    let finding = Finding::new(
        RULE,
        format!("{parent}/{}", escape_token(field)),
        format!(
            "unknown field {field:?} at {}: the API server drops it silently, so it has no effect",
            display_path(parent)
        ),
        hint,
    );
    if cx.strict {
        finding
    } else {
        Finding {
            severity: Severity::Warning,
            ..finding
        }
    }
}

/// The property names of the schema that refused an unknown field. The error's schema path
/// ends in `/additionalProperties` inside the definition that owns the properties.
fn known_properties(schema_path: &str) -> Vec<&'static str> {
    let owner = schema_path
        .strip_suffix("/additionalProperties")
        .unwrap_or(schema_path);
    statefulset_schema()
        .pointer(owner)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|props: &Map<String, Value>| props.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn display_path(path: &str) -> String {
    if path.is_empty() {
        "the top level".into()
    } else {
        path.to_string()
    }
}

fn field_name(path: &str) -> &str {
    path.rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("the field")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::doc::Doc;
    use crate::engine::rules::testing::{self, hits};
    use serde_json::json;

    #[test]
    fn accepts_the_seed_example() {
        assert_eq!(testing::run(check, &testing::web()), []);
    }

    #[test]
    fn rejects_a_string_where_replicas_must_be_an_integer() {
        let mut object = testing::web();
        object["spec"]["replicas"] = json!("one");
        let findings = testing::run(check, &object);
        assert_eq!(hits(&findings), [("schema", "/spec/replicas")]);
        assert_eq!(findings[0].severity, Severity::Error);
        assert!(
            findings[0]
                .message
                .contains("\"one\" is not of type \"integer\"")
        );
    }

    #[test]
    fn warns_about_unknown_fields_with_a_suggestion() {
        let mut object = testing::web();
        object["spec"]["template"]["spec"]["affinity"] = json!({"podAntiAffinity": {
            "requiredDuringSchedulingRequiredDuringExecution": []
        }});
        let findings = testing::run(check, &object);
        assert_eq!(
            hits(&findings),
            [(
                "schema",
                "/spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingRequiredDuringExecution"
            )]
        );
        assert_eq!(findings[0].severity, Severity::Warning);
        assert!(
            findings[0]
                .hint
                .contains("requiredDuringSchedulingIgnoredDuringExecution"),
            "{}",
            findings[0].hint
        );
    }

    #[test]
    fn quantities_accept_numbers_and_strings_but_not_lists() {
        let mut object = testing::web();
        object["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] =
            json!(1);
        assert_eq!(testing::run(check, &object), []);
        object["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] =
            json!([1]);
        let findings = testing::run(check, &object);
        assert_eq!(
            hits(&findings),
            [(
                "schema",
                "/spec/volumeClaimTemplates/0/spec/resources/requests/storage"
            )]
        );
        assert!(
            findings[0]
                .message
                .contains(r#"[1] is not of types "number", "string""#),
            "{}",
            findings[0].message
        );
    }

    #[test]
    fn accepts_null_as_unset() {
        let mut object = testing::web();
        object["spec"]["template"]["metadata"]["creationTimestamp"] = Value::Null;
        object["status"] = Value::Null;
        object["spec"]["replicas"] = Value::Null;
        assert_eq!(testing::run(check, &object), []);
        // Accepted by the schema itself, so such objects take the cheap `is_valid` path.
        let validator = validator().unwrap();
        assert!(validator.is_valid(&Doc::from(&object)));
        object["spec"]["replicas"] = json!("one");
        assert!(!validator.is_valid(&Doc::from(&object)));
    }

    #[test]
    fn a_property_named_type_keeps_its_schema() {
        // `volumes[].hostPath.type` is a property called `type`: it must stay a string
        // field (plus null), not turn into a list of types.
        let mut object = testing::web();
        object["spec"]["template"]["spec"]["volumes"] =
            json!([{"name": "h", "hostPath": {"path": "/x", "type": 3}}]);
        assert_eq!(
            hits(&testing::run(check, &object)),
            [("schema", "/spec/template/spec/volumes/0/hostPath/type")]
        );
    }

    #[test]
    fn reports_missing_required_fields_where_they_belong() {
        let mut object = testing::web();
        object["spec"]["template"]["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("name");
        assert_eq!(
            hits(&testing::run(check, &object)),
            [("schema", "/spec/template/spec/containers/0/name")]
        );
    }
}
