//! The objects the scenarios send: the seed examples and the object of recorded review 044.

use serde_json::{Value, json};

/// Every document of `tests/data/examples/FILE`, as JSON.
pub fn example(file: &str) -> Vec<Value> {
    data(&format!("examples/{file}"))
}

/// Every document of `tests/data/PATH`, as JSON.
pub fn data(path: &str) -> Vec<Value> {
    let path = crate::common::data(path);
    let text = std::fs::read_to_string(&path).unwrap();
    stsguard::yaml::parse_stream(&text)
        .into_iter()
        .filter_map(|document| {
            document
                .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
                .value
        })
        .collect()
}

/// The namespaced documents of an example (cassandra.yaml also defines a StorageClass, which
/// is cluster-wide and not what a scenario is about).
pub fn namespaced(file: &str) -> Vec<Value> {
    example(file)
        .into_iter()
        .filter(|object| object["kind"] != "StorageClass")
        .collect()
}

/// The StatefulSet of an example.
pub fn statefulset(file: &str) -> Value {
    example(file)
        .into_iter()
        .find(|object| object["kind"] == "StatefulSet")
        .unwrap_or_else(|| panic!("{file} has no StatefulSet"))
}

/// Recorded review 044's object, as a user would send it: a real kube-apiserver accepted it,
/// yet its pods can never be created (a 58-character name, a mount of volume `data` while
/// the claim template is `pgdata`, `nvidia.com/gpu` requests 2 / limits 1). What the API
/// server set on it (uid, timestamps, generation, managedFields, status) is left out; the
/// `kubectl apply` annotation stays, as on any applied object.
pub fn warehouse() -> Value {
    let (_, review) = crate::common::fixture("044");
    let mut object = review["request"]["object"].clone();
    let metadata = object["metadata"].as_object_mut().unwrap();
    for server_set in [
        "uid",
        "creationTimestamp",
        "generation",
        "managedFields",
        "resourceVersion",
        "namespace",
    ] {
        metadata.remove(server_set);
    }
    object.as_object_mut().unwrap().remove("status");
    object
}

pub const WAREHOUSE: &str = "analytics-warehouse-primary-replica-set-for-reporting-east";

/// The same object under another name.
pub fn renamed(mut object: Value, name: &str) -> Value {
    object["metadata"]["name"] = json!(name);
    object
}

/// web.yaml's StatefulSet under `name`, mounting a volume that does not exist (denied by
/// `volume-mount-unknown`).
pub fn web_with_unknown_mount(name: &str) -> Value {
    let mut object = renamed(statefulset("web.yaml"), name);
    object["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["name"] =
        json!("missing");
    object
}

/// Reads a JSON Pointer, panicking with the object when it is missing.
pub fn at<'a>(object: &'a Value, pointer: &str) -> &'a Value {
    object
        .pointer(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in {object:#}"))
}

/// The `stsguard.dev/defaulted` annotation, or `None`.
pub fn defaulted(object: &Value) -> Option<&str> {
    object["metadata"]["annotations"]["stsguard.dev/defaulted"].as_str()
}

/// `metadata.generation`: the API server increments it on every change of `spec`.
pub fn generation(object: &Value) -> i64 {
    at(object, "/metadata/generation").as_i64().unwrap()
}
