//! `deploy/`'s RBAC against a real API server in RBAC mode (SPEC §8), on a server of its own:
//! stsguard runs as the kubeconfig's `restricted` user (`stsguard-test`, no rights of its
//! own), with nothing, then with exactly the ClusterRoles `deploy/` renders bound to it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cluster::{Cluster, Tools, eventually};
use crate::cluster_checks::{
    WATCHED, base, cannot_list, cluster_flags, cluster_policy, everything_wrong, kinds,
    referenced_objects, served_kinds, service, synced_kinds, unavailable, unavailable_kinds,
    validate_json, warned_directly, with_references, write_manifest,
};
use crate::deploy::render_base;
use crate::webhook::{Serve, make_certificates};

/// The user of the kubeconfig's `restricted` context.
const RESTRICTED_USER: &str = "stsguard-test";
/// The ServiceAccount `deploy/base` runs the server as.
const SERVICE_ACCOUNT: &str = "system:serviceaccount:stsguard:stsguard";
/// The namespace holding what the StatefulSets refer to.
const TEAM: &str = "team";

/// The resources and verbs `kubectl auth can-i --list` says a user may use, but the two
/// reviews every authenticated user may create (`system:basic-user`) and non-resource URLs.
fn rights(cluster: &Cluster, who: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let mut args = vec!["auth", "can-i", "--list", "--namespace", TEAM];
    args.extend(who);
    let run = cluster.kubectl_ok(&args, None);
    let mut rights = BTreeMap::new();
    for line in run.stdout.lines().skip(1) {
        // Non-resource rows start with blanks.
        if line.starts_with(char::is_whitespace) {
            continue;
        }
        let resource = line.split_whitespace().next().unwrap_or_default();
        if resource.starts_with("selfsubject") {
            continue;
        }
        let verbs = line
            .rsplit_once('[')
            .and_then(|(_, verbs)| verbs.strip_suffix(']'))
            .unwrap_or_else(|| panic!("unexpected line of `{}`: {line:?}", run.command));
        rights.insert(
            resource.to_string(),
            verbs.split_whitespace().map(str::to_string).collect(),
        );
    }
    rights
}

/// get, list and watch on each watched kind, as `kubectl auth can-i --list` names them.
fn reads(resources: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    resources
        .iter()
        .map(|resource| {
            let verbs = ["get", "list", "watch"].map(str::to_string).into();
            (resource.to_string(), verbs)
        })
        .collect()
}

const WATCHED_RESOURCES: [&str; 7] = [
    "configmaps",
    "nodes",
    "priorityclasses.scheduling.k8s.io",
    "runtimeclasses.node.k8s.io",
    "serviceaccounts",
    "services",
    "storageclasses.storage.k8s.io",
];

/// Binds a ClusterRole to the `restricted` user, and waits until the API server's
/// authorizer knows it (it reads bindings through an informer).
fn bind_to_restricted_user(cluster: &Cluster, role: &str, check: &[&str]) {
    cluster.apply(vec![json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": format!("{role}-for-{RESTRICTED_USER}")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                      "name": RESTRICTED_USER}],
    })]);
    let mut args = vec!["--context", "restricted", "auth", "can-i"];
    args.extend(check);
    args.push("--all-namespaces");
    let granted = eventually(Duration::from_secs(10), || {
        cluster.kubectl(&args, None).ok.then_some(())
    });
    assert!(
        granted.is_some(),
        "`kubectl {}` still says no",
        args.join(" ")
    );
}

/// Starts `serve --cluster on` as the restricted user (`--cluster-secrets` when asked), and
/// waits until it is ready.
fn serve_as_restricted(cluster: &Cluster, dir: &Path, name: &str, secrets: bool) -> Serve {
    let mut flags = cluster_flags(cluster, "restricted");
    if secrets {
        flags.push("--cluster-secrets".into());
    }
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let serve = Serve::launch(dir, name, &dir.join("certs"), &cluster_policy(), &flags)
        .unwrap_or_else(|e| panic!("{e}"));
    cluster.show_log_on_failure(&serve.log);
    serve
}

/// `validate --cluster --context restricted` of a file holding [`everything_wrong`] in
/// namespace `team`: exit code, rules found, stderr.
fn validate_as_restricted(
    cluster: &Cluster,
    dir: &Path,
    secrets: bool,
) -> (i32, Vec<String>, String) {
    let mut object = everything_wrong();
    object["metadata"]["namespace"] = json!(TEAM);
    let file = write_manifest(&dir.join("validate"), "everything-wrong.yaml", &[object]);
    let kubeconfig = cluster.kubeconfig().display().to_string();
    let mut args = vec![
        "--cluster",
        "--kubeconfig",
        &kubeconfig,
        "--context",
        "restricted",
    ];
    if secrets {
        args.push("--cluster-secrets");
    }
    args.push(file.to_str().unwrap());
    validate_json(&args, &[])
}

fn strings(items: &[&str]) -> Vec<String> {
    let mut items: Vec<String> = items.iter().map(|item| item.to_string()).collect();
    items.sort();
    items
}

/// With `deploy/`'s ClusterRole, every watch works as the restricted user; without it the
/// server still starts and says which rules are off:
/// 1. the rendered ClusterRoleBinding gives stsguard's ServiceAccount exactly get/list/watch
///    on the watched kinds (`kubectl auth can-i --list --as`), no more;
/// 2. nothing bound: `serve` starts and is ready, logs every kind `forbidden` with its rules,
///    reports `synced` 0 and no cluster rule; `validate --cluster` names each kind it may not
///    list and still judges the files;
/// 3. the base ClusterRole bound to the user: the user has exactly those rights; every kind
///    syncs (RuntimeClass, allowed now, is "not served" by 1.19), each kind's rules speak
///    (Secrets are not watched; `node-fit` not until the cluster has a Node), and are quiet
///    when the objects exist; `validate --cluster` finds the missing objects;
/// 4. with `--cluster-secrets` but only the base role: Secret alone is `forbidden`;
/// 5. with the component's ClusterRole bound too: Secret syncs, `secret-missing` speaks.
pub fn deploy_rbac_lets_every_watch_work_and_no_more(tools: &Tools, dir: &Path) {
    let cluster = Cluster::up(tools, dir).unwrap_or_else(|e| panic!("{e}"));
    make_certificates(&dir.join("certs"));
    let rbac: Vec<Value> = render_base(&cluster)
        .into_iter()
        .filter(|object| {
            ["ClusterRole", "ClusterRoleBinding"].contains(&object["kind"].as_str().unwrap())
        })
        .collect();
    let role = rbac
        .iter()
        .find(|object| object["kind"] == "ClusterRole")
        .and_then(|role| role["metadata"]["name"].as_str())
        .expect("deploy/base renders a ClusterRole")
        .to_string();
    cluster.apply(rbac);
    let team = cluster.namespace(TEAM, json!({}));
    let mut objects = referenced_objects();
    objects.push(service("web", true, "nginx"));
    team.created(&objects);

    // 1. What the ServiceAccount may do, as rendered.
    let sa_rights = eventually(Duration::from_secs(10), || {
        let rights = rights(&cluster, &["--as", SERVICE_ACCOUNT]);
        (rights == reads(&WATCHED_RESOURCES)).then_some(())
    });
    assert!(
        sa_rights.is_some(),
        "{SERVICE_ACCOUNT} may do {:#?}",
        rights(&cluster, &["--as", SERVICE_ACCOUNT])
    );

    // 2. Nothing bound to the user.
    assert_eq!(
        rights(&cluster, &["--context", "restricted"]),
        BTreeMap::new()
    );
    let serve = serve_as_restricted(&cluster, dir, "serve-unbound", true);
    let every_kind: Vec<(String, String)> = WATCHED
        .iter()
        .map(|(kind, _)| (kind.to_string(), "forbidden".to_string()))
        .collect();
    let mut every_kind = every_kind;
    every_kind.sort();
    assert_eq!(unavailable_kinds(&serve), every_kind, "{}", serve.tail());
    for (kind, _) in WATCHED {
        assert_eq!(
            serve.cluster_metric("stsguard_cluster_synced", kind),
            Some(0.0),
            "{kind}"
        );
    }
    assert_eq!(
        warned_directly(&serve, TEAM, &everything_wrong()),
        Vec::<String>::new(),
        "rules of kinds stsguard may not read must be off"
    );
    serve.stop();
    let (code, rules, stderr) = validate_as_restricted(&cluster, dir, false);
    let forbidden: Vec<(String, String)> = every_kind
        .iter()
        .filter(|(kind, _)| kind != "Secret")
        .cloned()
        .collect();
    assert_eq!(cannot_list(&stderr), forbidden, "{stderr}");
    for (_, kind_rules) in WATCHED {
        for rule in kind_rules {
            assert!(!rules.contains(&rule.to_string()), "{rule}: {rules:?}");
        }
    }
    assert_eq!(code, 0, "{stderr}");

    // 3. The base role bound to the user.
    bind_to_restricted_user(&cluster, &role, &["list", "services"]);
    assert_eq!(
        rights(&cluster, &["--context", "restricted"]),
        reads(&WATCHED_RESOURCES)
    );
    let serve = serve_as_restricted(&cluster, dir, "serve-base", false);
    // Allowed to read RuntimeClasses, the user learns that 1.19 does not serve them.
    assert_eq!(
        unavailable_kinds(&serve),
        unavailable(&[]),
        "{}",
        serve.tail()
    );
    assert_eq!(
        synced_kinds(&serve),
        kinds(&served_kinds(false)),
        "{}",
        serve.tail()
    );
    for kind in served_kinds(false) {
        assert_eq!(
            serve.cluster_metric("stsguard_cluster_synced", kind),
            Some(1.0),
            "{kind}"
        );
    }
    let fine = with_references("high-priority", "app", json!({"name": "settings"}), "token");
    cluster.apply(
        crate::manifests::data("apiserver/cluster.yaml")
            .into_iter()
            .filter(|object| object["kind"] != "Node")
            .collect(),
    );
    let without_nodes = strings(&[
        "service-missing",
        "storage-class-missing",
        "storage-class-no-default",
        "priority-class-missing",
        "service-account-missing",
        "config-map-missing",
    ]);
    let seen = eventually(Duration::from_secs(10), || {
        (warned_directly(&serve, TEAM, &fine).is_empty()
            && warned_directly(&serve, TEAM, &everything_wrong()) == without_nodes)
            .then_some(())
    });
    assert!(
        seen.is_some(),
        "as the restricted user: {:?} for the object that names what exists, {:?} for \
         everything wrong (expected {without_nodes:?})\n{}",
        warned_directly(&serve, TEAM, &fine),
        warned_directly(&serve, TEAM, &everything_wrong()),
        serve.tail()
    );
    // A cluster without Nodes is not judged; its first Node is seen.
    let nodes: Vec<Value> = crate::manifests::data("apiserver/cluster.yaml")
        .into_iter()
        .filter(|object| object["metadata"]["name"] == "cpu-1")
        .collect();
    cluster.create_nodes(&nodes);
    let mut with_nodes = without_nodes.clone();
    with_nodes.push("node-fit".to_string());
    with_nodes.sort();
    let seen = eventually(Duration::from_secs(10), || {
        (warned_directly(&serve, TEAM, &everything_wrong()) == with_nodes).then_some(())
    });
    assert!(
        seen.is_some(),
        "{:?}",
        warned_directly(&serve, TEAM, &everything_wrong())
    );
    assert!(warned_directly(&serve, TEAM, &base()).is_empty());
    serve.stop();
    let (code, rules, stderr) = validate_as_restricted(&cluster, dir, false);
    assert_eq!(cannot_list(&stderr), unavailable(&[]), "{stderr}");
    for rule in &with_nodes {
        assert!(rules.contains(rule), "{rule}: {rules:?} {stderr}");
    }
    assert!(!rules.contains(&"secret-missing".to_string()), "{rules:?}");
    assert_eq!(code, 0, "{stderr}");

    // 4. --cluster-secrets with the base role only.
    let serve = serve_as_restricted(&cluster, dir, "serve-secrets-forbidden", true);
    assert_eq!(
        unavailable_kinds(&serve),
        unavailable(&[("Secret", "forbidden")]),
        "{}",
        serve.tail()
    );
    assert_eq!(synced_kinds(&serve), kinds(&served_kinds(false)));
    assert_eq!(
        warned_directly(&serve, TEAM, &everything_wrong()),
        with_nodes
    );
    serve.stop();
    let (_, rules, stderr) = validate_as_restricted(&cluster, dir, true);
    assert_eq!(
        cannot_list(&stderr),
        unavailable(&[("Secret", "forbidden")]),
        "{stderr}"
    );
    assert!(!rules.contains(&"secret-missing".to_string()), "{rules:?}");

    // 5. The component's role bound as well.
    let component =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/components/cluster-secrets/rbac.yaml");
    let secrets_rbac: Vec<Value> =
        stsguard::yaml::parse_stream(&std::fs::read_to_string(&component).unwrap())
            .into_iter()
            .filter_map(|document| document.unwrap().value)
            .collect();
    let secrets_role = secrets_rbac
        .iter()
        .find(|object| object["kind"] == "ClusterRole")
        .and_then(|role| role["metadata"]["name"].as_str())
        .unwrap()
        .to_string();
    cluster.apply(secrets_rbac);
    bind_to_restricted_user(&cluster, &secrets_role, &["list", "secrets"]);
    let mut with_secrets = reads(&WATCHED_RESOURCES);
    with_secrets.extend(reads(&["secrets"]));
    assert_eq!(rights(&cluster, &["--context", "restricted"]), with_secrets);
    let serve = serve_as_restricted(&cluster, dir, "serve-secrets", true);
    assert_eq!(
        unavailable_kinds(&serve),
        unavailable(&[]),
        "{}",
        serve.tail()
    );
    assert_eq!(synced_kinds(&serve), kinds(&served_kinds(true)));
    let mut everything = with_nodes.clone();
    everything.push("secret-missing".to_string());
    everything.sort();
    assert_eq!(
        warned_directly(&serve, TEAM, &everything_wrong()),
        everything
    );
    assert!(warned_directly(&serve, TEAM, &fine).is_empty());
    serve.stop();
    let (_, rules, stderr) = validate_as_restricted(&cluster, dir, true);
    assert_eq!(cannot_list(&stderr), unavailable(&[]), "{stderr}");
    assert!(rules.contains(&"secret-missing".to_string()), "{rules:?}");
}
