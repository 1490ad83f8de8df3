//! The scenarios run against the shared API server, each in its own namespace: stsguard as
//! both webhooks, seen only through what kubectl prints and what the API server stores.

use serde_json::{Value, json};

use crate::Shared;
use crate::manifests::{
    WAREHOUSE, at, defaulted, generation, namespaced, renamed, statefulset, warehouse,
};
use crate::webhook::{Reviews, VALIDATING_WEBHOOK};

/// What the test policy (`tests/data/apiserver/policy.yaml`) fills on a StatefulSet that
/// sets none of it, in the order stsguard lists them.
const ALL_DEFAULTS: &str = "partition,revisionHistoryLimit,storageClassName,podAntiAffinity";

/// The anti-affinity term the policy adds to web.yaml's pods.
fn web_anti_affinity() -> Value {
    json!({"preferredDuringSchedulingIgnoredDuringExecution": [{
        "weight": 100,
        "podAffinityTerm": {
            "labelSelector": {"matchLabels": {"app": "nginx"}},
            "topologyKey": "kubernetes.io/hostname",
        },
    }]})
}

fn denied_by_stsguard(stderr: &str) -> bool {
    stderr.contains(&format!(
        "admission webhook \"{VALIDATING_WEBHOOK}\" denied the request"
    ))
}

/// The policy's defaults are on the stored object of the seed `web.yaml`, and recorded.
pub fn create_fills_the_policy_defaults(shared: &Shared) {
    let ns = shared.watched_namespace("create-web");
    ns.created(&namespaced("web.yaml"));
    let web = ns.stored("web");
    assert_eq!(defaulted(&web), Some(ALL_DEFAULTS), "{web:#}");
    assert_eq!(
        at(&web, "/spec/updateStrategy"),
        &json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 1}})
    );
    assert_eq!(at(&web, "/spec/revisionHistoryLimit"), 5);
    assert_eq!(
        at(&web, "/spec/volumeClaimTemplates/0/spec/storageClassName"),
        "standard"
    );
    assert_eq!(
        at(&web, "/spec/template/spec/affinity/podAntiAffinity"),
        &web_anti_affinity()
    );
    // Only the defaults: what the manifest chose is stored as it was written.
    let manifest = statefulset("web.yaml");
    assert_eq!(at(&web, "/spec/replicas"), at(&manifest, "/spec/replicas"));
    assert_eq!(
        at(&web, "/spec/template/spec/containers/0/image"),
        at(&manifest, "/spec/template/spec/containers/0/image")
    );
    assert_eq!(generation(&web), 1);
}

/// cassandra.yaml names its claim template's class (`fast`): stsguard keeps it, fills the
/// rest, and its termination-grace warning (1800 s, the test policy allows 600) reaches
/// kubectl as a `Warning:` line.
pub fn create_keeps_the_storage_class_the_user_chose(shared: &Shared) {
    let ns = shared.watched_namespace("create-cassandra");
    let run = ns.created(&namespaced("cassandra.yaml"));
    assert!(run.warns("termination-grace"), "no warning:\n{run}");
    let cassandra = ns.stored("cassandra");
    assert_eq!(
        at(
            &cassandra,
            "/spec/volumeClaimTemplates/0/spec/storageClassName"
        ),
        "fast"
    );
    assert_eq!(
        defaulted(&cassandra),
        Some("partition,revisionHistoryLimit,podAntiAffinity"),
        "{cassandra:#}"
    );
    assert_eq!(at(&cassandra, "/spec/revisionHistoryLimit"), 5);
}

/// A full replace that changes nothing keeps `metadata.generation`: no rollout. Once with
/// the stored object as `kubectl get` prints it, once with the user's manifest, which lacks
/// every default: stsguard copies back what it had set, so the spec is unchanged.
pub fn replace_of_the_unchanged_object_keeps_the_generation(shared: &Shared) {
    let ns = shared.watched_namespace("replace-unchanged");
    ns.created(&namespaced("web.yaml"));
    let before = ns.stored("web");

    let run = ns.replace(&before);
    if !run.ok {
        ns.cluster
            .fail("replacing the stored object was refused", &run);
    }
    let after = ns.stored("web");
    assert_eq!(generation(&after), generation(&before), "{after:#}");
    assert_eq!(after["spec"], before["spec"]);

    let run = ns.replace(&statefulset("web.yaml"));
    if !run.ok {
        ns.cluster.fail("replacing with web.yaml was refused", &run);
    }
    let after = ns.stored("web");
    assert_eq!(generation(&after), generation(&before), "{after:#}");
    assert_eq!(after["spec"], before["spec"]);
    assert_eq!(defaulted(&after), Some(ALL_DEFAULTS));
}

/// `kubectl apply` of the unchanged manifest, again and again, changes nothing, client-side
/// or server-side; applying a new image changes only the image. Server-side apply replaces
/// the claim templates whole (an atomic list), without the storage class stsguard put there:
/// stsguard copies it back, or the immutable claim templates would refuse the apply.
pub fn apply_of_the_unchanged_manifest_keeps_the_generation(shared: &Shared) {
    let ns = shared.watched_namespace("apply");
    for server_side in [false, true] {
        let name = if server_side { "web-ssa" } else { "web-csa" };
        let mut manifest = renamed(statefulset("web.yaml"), name);
        // The 1.19 server's apply refuses container ports without `protocol`, the key of
        // that list (fixed in 1.20).
        manifest["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] =
            json!("TCP");
        let apply = |manifest: &Value| {
            let run = ns.apply(manifest, server_side);
            if !run.ok {
                ns.cluster
                    .fail(&format!("applying {name} was refused"), &run);
            }
        };
        apply(&manifest);
        let first = ns.stored(name);
        assert_eq!(defaulted(&first), Some(ALL_DEFAULTS), "{first:#}");
        apply(&manifest);
        let again = ns.stored(name);
        assert_eq!(generation(&again), generation(&first), "{name}: {again:#}");
        assert_eq!(again["spec"], first["spec"], "{name}");

        let image = "registry.k8s.io/nginx-slim:0.9";
        manifest["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
        apply(&manifest);
        let changed = ns.stored(name);
        let mut expected = first["spec"].clone();
        expected["template"]["spec"]["containers"][0]["image"] = json!(image);
        assert_eq!(changed["spec"], expected, "{name}");
        assert_eq!(generation(&changed), generation(&first) + 1, "{name}");
    }
}

/// Claim templates are immutable (and so is revisionHistoryLimit in 1.19): a replace that
/// drops a default stsguard put there would be refused by the API server unless stsguard
/// copies the old value back. First the stored object without the claim template's storage
/// class; then the user's manifest with one real change (the image), which drops every
/// default: it is accepted and only the image changes.
pub fn replace_without_the_defaulted_storage_class_is_accepted(shared: &Shared) {
    let ns = shared.watched_namespace("replace-changed");
    ns.created(&namespaced("web.yaml"));
    let before = ns.stored("web");

    let mut without_class = before.clone();
    let claim = without_class["spec"]["volumeClaimTemplates"][0]["spec"]
        .as_object_mut()
        .unwrap();
    assert!(claim.remove("storageClassName").is_some());
    let run = ns.replace(&without_class);
    if !run.ok {
        ns.cluster
            .fail("a replace without the storage class was refused", &run);
    }
    let after = ns.stored("web");
    assert_eq!(after["spec"], before["spec"]);
    assert_eq!(generation(&after), generation(&before));

    let mut manifest = statefulset("web.yaml");
    assert!(
        manifest
            .pointer("/spec/volumeClaimTemplates/0/spec/storageClassName")
            .is_none()
    );
    let image = "registry.k8s.io/nginx-slim:0.9";
    manifest["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
    let run = ns.replace(&manifest);
    if !run.ok {
        ns.cluster
            .fail("a replace without the defaulted fields was refused", &run);
    }
    let after = ns.stored("web");
    assert_eq!(
        at(&after, "/spec/volumeClaimTemplates"),
        at(&before, "/spec/volumeClaimTemplates")
    );
    let mut expected_template = before["spec"]["template"].clone();
    expected_template["spec"]["containers"][0]["image"] = json!(image);
    assert_eq!(at(&after, "/spec/template"), &expected_template);
    assert_eq!(at(&after, "/spec/revisionHistoryLimit"), 5);
    assert_eq!(
        at(&after, "/spec/updateStrategy/rollingUpdate/partition"),
        1
    );
    assert_eq!(generation(&after), generation(&before) + 1);
}

/// The partition is the canary control users move by hand. Once moved it stays through a
/// `kubectl set image`, a full replace with a manifest that lacks it, and a scale; moved to
/// the built-in 0 (roll out to every pod) it stays 0 although stsguard fills 0 on CREATE.
/// The scale goes through both webhooks (the test registers `statefulsets/scale`) and
/// is allowed untouched.
pub fn partition_the_user_moved_survives_later_updates(shared: &Shared) {
    let ns = shared.watched_namespace("partition");
    ns.created(&namespaced("web.yaml"));
    let partition = |object: &Value| {
        at(object, "/spec/updateStrategy/rollingUpdate/partition")
            .as_i64()
            .unwrap()
    };
    assert_eq!(partition(&ns.stored("web")), 1, "the policy's partition");

    let move_partition = |to: i64| {
        let run = ns.patch(
            "web",
            "merge",
            &json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": to}}}}),
        );
        if !run.ok {
            ns.cluster.fail("moving the partition was refused", &run);
        }
    };
    move_partition(2);
    assert_eq!(partition(&ns.stored("web")), 2);

    let image = "registry.k8s.io/nginx-slim:0.9";
    let run = ns.set_image("web", "nginx", image);
    if !run.ok {
        ns.cluster.fail("kubectl set image was refused", &run);
    }
    let web = ns.stored("web");
    assert_eq!(at(&web, "/spec/template/spec/containers/0/image"), image);
    assert_eq!(partition(&web), 2, "after kubectl set image");

    // The user's manifest, image updated, no partition (the API server defaults it to 0).
    let mut manifest = statefulset("web.yaml");
    manifest["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
    let run = ns.replace(&manifest);
    if !run.ok {
        ns.cluster
            .fail("replacing with the manifest was refused", &run);
    }
    let before_scale = ns.stored("web");
    assert_eq!(partition(&before_scale), 2, "after a full replace");
    assert_eq!(
        generation(&before_scale),
        generation(&web),
        "{before_scale:#}"
    );

    let reviewed_before = shared.serve.decisions(&ns.name).len();
    let run = ns.scale("web", 3);
    if !run.ok {
        ns.cluster.fail("kubectl scale was refused", &run);
    }
    let scaled = ns.stored("web");
    assert_eq!(at(&scaled, "/spec/replicas"), 3);
    assert_eq!(partition(&scaled), 2, "after kubectl scale");
    assert_eq!(
        at(&scaled, "/spec/template"),
        at(&before_scale, "/spec/template")
    );
    let scale_decisions: Vec<Value> = shared.serve.decisions(&ns.name)[reviewed_before..]
        .iter()
        .filter(|decision| decision["outcome"] == "not a StatefulSet")
        .cloned()
        .collect();
    let webhooks: Vec<&Value> = scale_decisions
        .iter()
        .map(|decision| &decision["webhook"])
        .collect();
    assert!(
        webhooks.contains(&&json!("mutate")) && webhooks.contains(&&json!("validate")),
        "stsguard did not see the Scale at both webhooks: {scale_decisions:#?}"
    );
    assert!(
        scale_decisions
            .iter()
            .all(|decision| decision["allowed"] == true && decision["patched"] == false),
        "{scale_decisions:#?}"
    );

    move_partition(0);
    assert_eq!(partition(&ns.stored("web")), 0, "the user's own 0");
}

/// A StatefulSet admitted before stsguard judged its namespace, with violations, must stay
/// manageable: scaling and an update of the live object are allowed, the old findings come
/// back as warnings (ratcheting, SPEC §3), and no default reaches the template (a rollout)
/// or the immutable claim templates. A new violation is still denied.
///
/// "Before the webhooks were registered" is played by the namespace label: the object is
/// created while its namespace does not match the webhooks' namespaceSelector, then the
/// namespace is labelled. For the API server that is the same as registering the webhooks
/// after the object was stored, without touching configurations other scenarios rely on.
pub fn statefulset_from_before_the_webhooks_is_ratcheted(shared: &Shared) {
    let ns = shared.unwatched_namespace("ratchet");
    ns.created(&[warehouse()]);
    let before = ns.stored(WAREHOUSE);
    assert_eq!(defaulted(&before), None);
    shared.watch(&ns);

    let run = ns.scale(WAREHOUSE, 3);
    if !run.ok {
        ns.cluster
            .fail("scaling an old StatefulSet was refused", &run);
    }
    let run = ns.patch(WAREHOUSE, "merge", &json!({"spec": {"replicas": 4}}));
    if !run.ok {
        ns.cluster
            .fail("updating an old StatefulSet was refused", &run);
    }
    for rule in [
        "name-length",
        "volume-mount-unknown",
        "extended-resource-limits",
    ] {
        assert!(
            run.warns(rule),
            "{rule} is not ratcheted to a warning:\n{run}"
        );
    }
    let after = ns.stored(WAREHOUSE);
    assert_eq!(at(&after, "/spec/replicas"), 4);
    assert_eq!(at(&after, "/spec/template"), at(&before, "/spec/template"));
    assert_eq!(
        at(&after, "/spec/volumeClaimTemplates"),
        at(&before, "/spec/volumeClaimTemplates")
    );
    assert_eq!(at(&after, "/spec/revisionHistoryLimit"), 10);
    assert_eq!(
        at(&after, "/spec/updateStrategy"),
        at(&before, "/spec/updateStrategy")
    );
    assert_eq!(defaulted(&after), None, "{after:#}");

    // Ratcheting spares the findings the old object had, at their paths, and no others.
    let run = ns.patch(
        WAREHOUSE,
        "json",
        &json!([{
            "op": "add",
            "path": "/spec/template/spec/containers/0/volumeMounts/-",
            "value": {"name": "scratch", "mountPath": "/scratch"},
        }]),
    );
    assert!(!run.ok && denied_by_stsguard(&run.stderr), "{run}");
    assert!(
        run.stderr.contains(
            "volume-mount-unknown at /spec/template/spec/containers/0/volumeMounts/1/name"
        ),
        "{run}"
    );
    assert!(!run.stderr.contains("- name-length at"), "{run}");
    assert_eq!(ns.stored(WAREHOUSE)["spec"], after["spec"]);
}

/// The object of recorded review 044 is denied; kubectl's error names every rule it breaks,
/// the webhook's warnings come along as `Warning:` lines, and nothing is stored.
pub fn object_of_fixture_044_is_denied(shared: &Shared) {
    let ns = shared.watched_namespace("deny");
    let run = ns.create(&[warehouse()]);
    assert!(!run.ok, "created:\n{run}");
    assert!(denied_by_stsguard(&run.stderr), "{run}");
    for rule in [
        "name-length",
        "volume-mount-unknown",
        "extended-resource-limits",
    ] {
        assert!(
            run.stderr.contains(&format!("- {rule} at /")),
            "no {rule}:\n{run}"
        );
    }
    assert!(run.warns("claim-template-unused"), "{run}");
    ns.assert_absent(WAREHOUSE);
}

/// `kubectl create --dry-run=server` goes through both webhooks like any create: the bad
/// object is denied with the same rules, the good one comes back with the defaults, and
/// neither is stored. stsguard's log marks both as dry runs.
pub fn dry_run_is_reviewed_like_any_other(shared: &Shared) {
    let ns = shared.watched_namespace("dry-run");
    let run = ns.dry_run_create(&warehouse());
    assert!(!run.ok && denied_by_stsguard(&run.stderr), "{run}");
    for rule in [
        "name-length",
        "volume-mount-unknown",
        "extended-resource-limits",
    ] {
        assert!(
            run.stderr.contains(&format!("- {rule} at /")),
            "no {rule}:\n{run}"
        );
    }
    ns.assert_absent(WAREHOUSE);

    let run = ns.dry_run_create(&statefulset("web.yaml"));
    if !run.ok {
        ns.cluster.fail("a dry run of web.yaml was refused", &run);
    }
    let answer = run.json();
    assert_eq!(defaulted(&answer), Some(ALL_DEFAULTS), "{answer:#}");
    assert_eq!(
        at(
            &answer,
            "/spec/volumeClaimTemplates/0/spec/storageClassName"
        ),
        "standard"
    );
    assert_eq!(
        at(&answer, "/spec/template/spec/affinity/podAntiAffinity"),
        &web_anti_affinity()
    );
    ns.assert_absent("web");

    let decisions = shared.serve.decisions(&ns.name);
    for webhook in ["mutate", "validate"] {
        assert!(
            decisions
                .iter()
                .any(|d| d["webhook"] == webhook && d["dry_run"] == true),
            "no dry run logged at {webhook}: {decisions:#?}"
        );
    }
    assert!(
        decisions.iter().all(|d| d["dry_run"] == true),
        "{decisions:#?}"
    );
}

/// A webhook registered with `admissionReviewVersions: [v1beta1]` gets v1beta1 reviews; the
/// API server rejects an answer in another version, so the defaults on the stored object, the
/// denial and the allowed scale show that stsguard answered each in v1beta1 (SPEC §6).
pub fn v1beta1_reviews_are_answered_in_v1beta1(shared: &Shared) {
    let ns = shared.reviewed_namespace("v1beta1", Reviews::V1beta1);
    shared.wait_until_reviewed(&ns);
    ns.created(&namespaced("web.yaml"));
    let web = ns.stored("web");
    assert_eq!(defaulted(&web), Some(ALL_DEFAULTS), "{web:#}");

    let run = ns.create(&[warehouse()]);
    assert!(!run.ok && denied_by_stsguard(&run.stderr), "{run}");
    assert!(run.stderr.contains("- volume-mount-unknown at /"), "{run}");
    assert!(run.warns("claim-template-unused"), "{run}");

    let run = ns.scale("web", 3);
    if !run.ok {
        ns.cluster.fail("kubectl scale was refused", &run);
    }
    let decisions = shared.serve.decisions(&ns.name);
    assert!(
        decisions
            .iter()
            .any(|d| d["outcome"] == "not a StatefulSet" && d["webhook"] == "validate"),
        "the Scale did not reach stsguard: {decisions:#?}"
    );
}

/// The good and the bad object that tell whether a namespace is reviewed.
pub fn probes() -> (Value, Value) {
    (
        renamed(statefulset("web.yaml"), "probe"),
        crate::manifests::web_with_unknown_mount("probe"),
    )
}
