//! `stsguard explain [RULE]`: what a rule checks, why Kubernetes needs it, how to fix it, and
//! a minimal StatefulSet that trips it; without a rule, the list of every rule.
//!
//! The explanations are data: [`EXPLANATIONS`] holds one entry per rule of
//! [`catalog::RULES`], in catalog order. The tests run every example through the real engine,
//! so an example that stops tripping its rule (or starts tripping others) fails the build
//! rather than misleading a reader.

use clap::{Args, ValueEnum};
use serde::Serialize;

use super::{EXIT_OK, EXIT_USAGE};
use crate::engine::IGNORE_ANNOTATION;
use crate::engine::rules::catalog::{self, Family, Rule};
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

/// The long explanation of one rule. Id, family, severity, summary and what breaks come from
/// the catalog; this adds the reasoning and an example.
#[derive(Debug)]
pub struct Explanation {
    /// The catalog id.
    pub id: &'static str,
    /// Exactly what the rule checks, with its edge cases and which findings are warnings.
    pub what: &'static str,
    /// The Kubernetes behaviour that makes the check necessary.
    pub why: &'static str,
    /// How to fix a finding.
    pub fix: &'static str,
    /// Policy settings and CLI flags that change the rule's verdicts, beyond its level and
    /// the ignore annotation (which every rule has, see [`policy_notes`]).
    pub knobs: &'static [&'static str],
    /// A short input that trips the rule with the built-in policy (`stsguard validate`).
    pub example: &'static str,
    /// The previous version of the object, for rules that judge updates (`--old`).
    pub old_example: Option<&'static str>,
    /// For the rules that judge against the cluster (SPEC §8): the cluster's objects the
    /// example is judged with (`stsguard validate --cluster`), as YAML documents.
    pub cluster: Option<&'static str>,
}

/// Rules whose findings exist before any object or policy does: no level, no annotation.
const INPUT_RULES: &[&str] = &["yaml-syntax"];

/// Rules that compare with the old object and so can never be ratcheted.
const UPDATE_RULES: &[&str] = &["immutable-field"];

/// Every explanation, in catalog order.
pub static EXPLANATIONS: &[Explanation] = &[
    // ----------------------------------------------------------------------------------
    // Input
    Explanation {
        id: "yaml-syntax",
        what: "Every document of the input (files, directories, stdin; documents separated by \
               `---`) must parse as YAML; JSON is YAML too. A document that does not parse is \
               reported with the file, line and column where the parser gave up, and the run \
               goes on with the other documents. Input that is not UTF-8 text is reported the \
               same way. Only the offline CLI reads YAML, so the webhook never reports this \
               rule.",
        why: "kubectl refuses the whole file, so nothing in it is applied, including the \
              valid documents beside the broken one. A CI check that points at the exact line \
              beats a failed deployment. Typical causes: indentation that changes inside a \
              mapping, tabs, a `key: value` line that continues the scalar above it, and \
              unquoted values that start with `*`, `&`, `@`, `{` or `[`.",
        fix: "Fix the syntax at the reported line; the mistake is often the indentation of \
              that line or of the one above. When the input comes from `helm template` or \
              `kustomize build`, look for a template that renders a value without quotes or \
              with the wrong `nindent`.",
        knobs: &[
            "It is reported before any policy applies: a `rules:` level does not change it \
             and a broken document has no `stsguard.dev/ignore` annotation to read. It always \
             counts as an error for `--fail-on`.",
        ],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
    replicas: 3
"#,
        old_example: None,
        cluster: None,
    },
    // ----------------------------------------------------------------------------------
    // Names
    Explanation {
        id: "name-format",
        what: "metadata.name must be a DNS-1123 label: lowercase letters, digits and '-' only, \
               a letter or digit at both ends, at most 63 characters. A StatefulSet without a \
               name is reported too, unless it has metadata.generateName (the API server then \
               picks the name). The finding says which character or end is wrong and suggests \
               a corrected name.",
        why: "Every pod of a StatefulSet is named `<name>-<ordinal>` and uses that as its \
              hostname, which must be a DNS label. The API server requires StatefulSet names \
              to be labels only from Kubernetes 1.27; before that a name such as `Web` or \
              `web.v2` is admitted, and the controller then fails to create any pod, retrying \
              forever (FailedCreate events).",
        fix: "Rename the StatefulSet using lowercase letters, digits and '-' (`web-v2` rather \
              than `web.v2`), and keep it within 52 characters (see name-length). The name is \
              part of every PVC name, so renaming an existing StatefulSet gives its replicas \
              new, empty volumes unless you migrate the data.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web.v2
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "name-length",
        what: "metadata.name must be at most 52 characters, and every pod name \
               `<name>-<ordinal>` at most 63. The last ordinal is ordinals.start + replicas - 1, \
               so the second limit only matters with a very large ordinals.start (a 52-character \
               name leaves room for 10 digits); with replicas 0 there are no pods to check. The \
               message shows the length of the derived name, the hint the longest name that \
               fits.",
        why: "The controller records each pod template revision as a ControllerRevision named \
              `<name>-<hash>` and labels every pod `controller-revision-hash: <name>-<hash>`. \
              The hash takes up to 10 characters and a label value at most 63, so with a name \
              longer than 52 characters the label is invalid and every pod creation fails with \
              FailedCreate (kubernetes/kubernetes#64023). The API server accepts the \
              StatefulSet itself: it checks the name, not what the controller derives from it. \
              The pod name is also the pod's hostname, a DNS label of at most 63 characters.",
        fix: "Shorten metadata.name to at most 52 characters (fewer if ordinals.start is huge). \
              Helm charts often build the name from the release and chart names: set \
              `fullnameOverride` or choose a shorter release name.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: analytics-warehouse-postgresql-primary-eu-west-1-prod
spec:
  serviceName: warehouse
  selector:
    matchLabels: {app: warehouse}
  template:
    metadata:
      labels: {app: warehouse}
    spec:
      containers:
      - name: postgres
        image: postgres:16
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "pvc-name",
        what: "For each claim template the controller names the replica's \
               PersistentVolumeClaim `<claim>-<name>-<ordinal>`; that name, for the last \
               ordinal, must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', \
               each dot-separated part starting and ending with a letter or digit, at most 253 \
               characters). With replicas 0 it checks the first ordinal a scale-up creates. \
               Claim template names and metadata.name are already checked as labels by \
               volume-name and name-format, and two labels and an ordinal never reach 253 \
               characters, so in practice this rule fires together with one of those two: it \
               names the PVC that cannot be created.",
        why: "The PVCs are created by the controller, not by you, so the API server never sees \
              their names when it admits the StatefulSet. When a name is invalid the PVC \
              create is refused and the pod waits for its claim forever.",
        fix: "Use only lowercase letters, digits and '-' in claim template names and in \
              metadata.name. Claim templates cannot change on an existing StatefulSet: \
              `kubectl delete statefulset NAME --cascade=orphan`, then apply the corrected \
              manifest.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        volumeMounts:
        - {name: Data, mountPath: /data}
  volumeClaimTemplates:
  - metadata:
      name: Data
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: standard
      resources:
        requests: {storage: 1Gi}
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "service-name",
        what: "spec.serviceName must be a valid Service name, a DNS-1035 label: lowercase \
               letters, digits and '-', starting with a letter, ending with a letter or digit, \
               at most 63 characters (error). A missing or empty serviceName is a warning: the \
               StatefulSet works, but its pods get no stable DNS names.",
        why: "serviceName names the governing headless Service and becomes each pod's DNS \
              subdomain, which gives pods names such as web-0.nginx.default.svc.cluster.local; \
              members of a database, Kafka or ZooKeeper cluster find each other by these \
              names. A value that is not a valid Service name can never match a Service: the \
              pods are rejected or get no DNS identity.",
        fix: "Create a headless Service (clusterIP: None) whose selector matches the pod \
              labels and set spec.serviceName to its name. serviceName cannot be changed \
              after creation (see immutable-field), so get it right before the first apply.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web_headless
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "container-name",
        what: "Every container and init container must have a name that is a DNS-1123 label \
               (lowercase letters, digits and '-', a letter or digit at both ends, at most 63 \
               characters), unique across containers and initContainers together.",
        why: "Pod validation requires it, but the API server does not validate a StatefulSet's \
              pod template (up to Kubernetes 1.33 the call in \
              ValidatePodTemplateSpecForStatefulSet is commented out). The StatefulSet is \
              accepted, and every pod the controller creates from it is rejected: FailedCreate \
              events, and no replica ever starts.",
        fix: "Rename the container (`my_app` becomes `my-app`) and give every container and \
              init container its own name.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web_server
        image: nginx
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "port-name",
        what: "Each container port: containerPort present and within 1-65535; hostPort 0 \
               (none) or within 1-65535; protocol unset, TCP, UDP or SCTP (case-sensitive); a \
               name, if given, that is an IANA service name (at most 15 characters of \
               lowercase letters, digits and '-', at least one letter, no '--', no '-' at \
               either end) and unique within the container. The same port name in two \
               containers is fine.",
        why: "Pod validation checks all of this, but the API server does not validate a \
              StatefulSet's pod template (up to Kubernetes 1.33), so the StatefulSet is \
              accepted and each pod creation fails. Services and probes refer to ports by \
              these names (targetPort: metrics); the 15-character limit is the one people hit, \
              e.g. `prometheus-metrics` has 18.",
        fix: "Shorten or rename the port (http, grpc, metrics, prom-metrics) and update \
              whatever refers to it by name, write the protocol in upper case, or drop a name \
              nothing uses.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        ports:
        - {name: prometheus-metrics, containerPort: 9113}
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "volume-name",
        what: "Names in spec.template.spec.volumes and in \
               spec.volumeClaimTemplates[].metadata.name must be present, DNS-1123 labels (at \
               most 63 characters) and unique within each list. A pod volume with the name of a \
               claim template is not a duplicate here: see claim-template-shadows-volume.",
        why: "Each claim template becomes a pod volume of the same name, and pod validation \
              requires unique label names. The API server does not validate a StatefulSet's \
              pod template (up to Kubernetes 1.33), so the StatefulSet is accepted and every \
              pod creation fails.",
        fix: "Rename the volume with lowercase letters, digits and '-', remove or rename \
              duplicates, and update the volumeMounts and volumeDevices that refer to it.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        volumeMounts:
        - {name: config, mountPath: /etc/nginx/conf.d}
      volumes:
      - name: config
        configMap: {name: web-config}
      - name: config
        emptyDir: {}
"#,
        old_example: None,
        cluster: None,
    },
    // ----------------------------------------------------------------------------------
    // Volumes and claim templates
    Explanation {
        id: "volume-mount-unknown",
        what: "Every volumeMounts[].name and volumeDevices[].name, in containers and init \
               containers, must name a volume of spec.template.spec.volumes or a claim \
               template of spec.volumeClaimTemplates. The finding lists the names that are \
               defined and, when the name looks like a typo of one of them, suggests it.",
        why: "The API server does not validate a StatefulSet's pod template (up to Kubernetes \
              1.33 the call in ValidatePodTemplateSpecForStatefulSet is commented out), so the \
              StatefulSet is accepted. Each pod the controller creates is then refused with \
              `volumeMounts[0].name: Not found`, the controller retries forever (FailedCreate \
              events) and no replica starts. Common causes: a typo, a claim template renamed \
              without its mounts, or a Helm value that drops the claim template (persistence \
              disabled) but keeps the mount.",
        fix: "Correct the name, or define the volume: under spec.template.spec.volumes \
              (emptyDir, configMap, secret, ...) for something shared by the pod, or as a claim \
              template in spec.volumeClaimTemplates for storage per replica.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        volumeMounts:
        - {name: conf, mountPath: /etc/nginx/conf.d}
      volumes:
      - name: config
        configMap: {name: web-config}
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "claim-template-unused",
        what: "Warns about a claim template that no container mounts, in volumeMounts or \
               volumeDevices. A mount in an init container counts as a use.",
        why: "The controller creates a PersistentVolumeClaim for every claim template and \
              every replica, whether or not anything mounts it: the volumes are provisioned \
              and billed for nothing, and by default they outlive the StatefulSet. Often the \
              mount has a typo (volume-mount-unknown then fires too) or was removed while the \
              template stayed.",
        fix: "Mount the claim where the data should live, or remove the claim template. Claim \
              templates cannot change on an existing StatefulSet, so removing one means \
              `kubectl delete statefulset NAME --cascade=orphan` and applying the new \
              manifest (pods and PVCs are kept); delete the orphaned PVCs yourself.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: standard
      resources:
        requests: {storage: 1Gi}
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "claim-template-shadows-volume",
        what: "Warns when spec.template.spec.volumes has a volume with the same name as a claim \
               template.",
        why: "When it builds a pod, the controller replaces any pod volume named like a claim \
              template with that replica's claim. The volume you wrote (an emptyDir, a \
              hostPath, a reference to an existing PVC) is dropped without a word, and its \
              mounts get the claim. A manifest meant to use an emptyDir in one environment and \
              a PVC in another gets the PVC everywhere.",
        fix: "Remove the pod volume (mounts of that name get the claim anyway), or rename it \
              and its mounts if it was meant to be a different volume.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        volumeMounts:
        - {name: data, mountPath: /data}
      volumes:
      - name: data
        emptyDir: {}
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: standard
      resources:
        requests: {storage: 1Gi}
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "mount-path-duplicate",
        what: "Within one container, no two volumeMounts may share a mountPath, no two \
               volumeDevices a devicePath, and no path may appear in both lists. Paths are \
               compared exactly as written, as the API server does.",
        why: "Pod validation refuses the pod (`mountPath: must be unique`). The API server \
              does not validate a StatefulSet's pod template (up to Kubernetes 1.33), so the \
              StatefulSet is accepted and every pod creation fails. The duplicate often comes \
              from merging two Helm or kustomize layers that each add a mount.",
        fix: "Give each mount its own path, or drop one when both mount the same thing. To \
              put files from several volumes into one directory, mount each file with subPath \
              at its own file path.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        volumeMounts:
        - {name: config, mountPath: /etc/app}
        - {name: secrets, mountPath: /etc/app}
      volumes:
      - name: config
        configMap: {name: web-config}
      - name: secrets
        secret: {secretName: web-secrets}
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "sub-path",
        what: "subPath and subPathExpr of a volumeMount must be relative paths (no leading \
               '/') without a '..' element, and one mount may not set both.",
        why: "subPath selects a directory inside the volume; an absolute path or '..' would \
              reach outside it (such an escape was CVE-2017-1002101), so pod validation \
              refuses them, and it refuses a mount that sets both fields. The API server does \
              not validate a StatefulSet's pod template (up to Kubernetes 1.33), so the \
              StatefulSet is accepted and every pod creation fails.",
        fix: "Write the path relative to the volume's root (`mysql`, not `/mysql`). Keep \
              subPathExpr only when the path uses $(VAR) expansion such as $(POD_NAME); \
              otherwise use subPath.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: mysql
        image: mysql:8.4
        volumeMounts:
        - {name: data, mountPath: /var/lib/mysql, subPath: /mysql}
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: standard
      resources:
        requests: {storage: 10Gi}
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "claim-template-access-modes",
        what: "Every claim template needs at least one access mode; each must be \
               ReadWriteOnce, ReadOnlyMany, ReadWriteMany or ReadWriteOncePod (case-sensitive), \
               and ReadWriteOncePod cannot be combined with another mode.",
        why: "PVC validation refuses a claim without access modes, with an unknown one, or \
              with ReadWriteOncePod next to another mode. The controller creates the PVCs per \
              replica, after the StatefulSet was accepted, so the refusal shows up as \
              FailedCreate events and the replica never starts.",
        fix: "Usually `accessModes: [ReadWriteOnce]`: every replica has its own volume, \
              mounted read-write by one node. Use ReadWriteOncePod alone for the guarantee that \
              a single pod uses the volume, ReadWriteMany only when the storage class supports \
              it and pods really share the data.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        volumeMounts:
        - {name: data, mountPath: /data}
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOncePod, ReadWriteOnce]
      storageClassName: standard
      resources:
        requests: {storage: 1Gi}
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "claim-template-storage",
        what: "Every claim template must request storage: spec.resources.requests.storage \
               present, a valid Kubernetes quantity (10Gi, 500M, 1Ti) and greater than zero.",
        why: "PVC validation requires a size. The controller creates the PVCs per replica, \
              after the StatefulSet was accepted, so a missing or malformed size fails each \
              PVC create and the pod waits for its claim forever. `10GB` is a classic: \
              quantities use G (decimal) or Gi (binary), never GB.",
        fix: "Set spec.resources.requests.storage, e.g. 10Gi. The size cannot be changed in \
              the claim template later (immutable-field); existing volumes are grown by \
              editing each PVC, where the storage class allows expansion.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        volumeMounts:
        - {name: data, mountPath: /data}
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: standard
      resources:
        requests: {storage: 10GB}
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "claim-template-volume-mode",
        what: "A claim template with volumeMode Block may only be used in volumeDevices (a raw \
               device at a devicePath), one with Filesystem (the default) only in \
               volumeMounts. A volumeMode other than Filesystem or Block is reported too.",
        why: "The claim's mode and the pod's use live in different objects, so no validation \
              sees the mismatch at admission. The kubelet then refuses to set up the volume \
              (`volume data has volumeMode Block, but is specified in volumeMounts`) and the \
              pod stays in ContainerCreating with FailedMount events.",
        fix: "For a raw block device, move the entry to volumeDevices with a devicePath (e.g. \
              /dev/xvda); to mount a directory, give the claim template volumeMode: Filesystem \
              or leave it out.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        volumeMounts:
        - {name: data, mountPath: /data}
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: standard
      volumeMode: Block
      resources:
        requests: {storage: 1Gi}
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "claim-template-storage-class",
        what: "Warns about a claim template without spec.storageClassName when the policy has \
               no defaults.storageClassName to fill it in. An explicit empty string (\"\": bind \
               only to pre-provisioned volumes without a class) is a choice and passes. With a \
               policy default, the mutating webhook and `stsguard mutate` set the class and \
               this rule stays quiet.",
        why: "A claim without a class gets the cluster's default StorageClass at the moment \
              the PVC is created, which for a StatefulSet means at every scale-up. If the \
              default changes in between (a new CSI driver, a migration), later replicas \
              store their data on another class, with other performance, topology and backups. \
              Claim templates cannot be changed afterwards to pin the class.",
        fix: "Set spec.storageClassName in every claim template, or set \
              defaults.storageClassName in the stsguard policy so that the webhook pins it \
              when the StatefulSet is created.",
        knobs: &[
            "defaults.storageClassName (also per namespace under namespaces[].defaults) fills \
             the class in, and the rule no longer reports.",
        ],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        volumeMounts:
        - {name: data, mountPath: /data}
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests: {storage: 1Gi}
"#,
        old_example: None,
        cluster: None,
    },
    // ----------------------------------------------------------------------------------
    // GPUs and other extended resources
    Explanation {
        id: "extended-resource-integer",
        what: "Every extended resource (a resource name with a domain other than \
               kubernetes.io: nvidia.com/gpu, amd.com/gpu, gpu.intel.com/i915, \
               nvidia.com/mig-1g.10gb, example.com/dongle, ...) in the limits or requests of a \
               container or init container must be a whole number of at least 0. `0.5` and \
               `500m` are refused; `1000m` is 1 and passes.",
        why: "Device plugins hand out whole devices, so pod validation requires extended \
              resources to be integers. The API server does not validate a StatefulSet's pod \
              template (up to Kubernetes 1.33), so the StatefulSet is accepted and every pod \
              creation fails with FailedCreate.",
        fix: "Ask for whole devices. To share a GPU, use a MIG slice (nvidia.com/mig-1g.10gb), \
              HAMi vGPU resources (nvidia.com/gpumem, nvidia.com/gpucores) or the device \
              plugin's time-slicing.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: infer
spec:
  serviceName: infer
  selector:
    matchLabels: {app: infer}
  template:
    metadata:
      labels: {app: infer}
    spec:
      containers:
      - name: server
        image: vllm/vllm-openai
        resources:
          limits: {nvidia.com/gpu: 0.5}
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "extended-resource-limits",
        what: "For an extended resource, a request without a limit is an error, and when both \
               are set they must be equal. A limit alone is fine: the request defaults to it.",
        why: "Extended resources cannot be overcommitted: the scheduler counts whole devices, \
              and a device is either yours or not. Pod validation therefore refuses a request \
              without a limit (`Limit must be set for non overcommitable resources`) and a \
              request that differs from the limit. The API server does not validate a \
              StatefulSet's pod template (up to Kubernetes 1.33): a real API server admits a \
              StatefulSet asking for nvidia.com/gpu requests 2 / limits 1, and then every pod \
              creation fails.",
        fix: "Set only the limit (nvidia.com/gpu: 2), or set requests and limits to the same \
              value.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: train
spec:
  serviceName: train
  selector:
    matchLabels: {app: train}
  template:
    metadata:
      labels: {app: train}
    spec:
      containers:
      - name: trainer
        image: pytorch/pytorch
        resources:
          requests: {nvidia.com/gpu: 2}
          limits: {nvidia.com/gpu: 1}
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "gpu-count",
        what: "Counts the whole GPUs a pod needs, per resource (nvidia.com/gpu, amd.com/gpu, \
               gpu.intel.com/i915, gpu.intel.com/xe: one unit is one card), as the scheduler \
               does: the app containers plus sidecars (init containers with restartPolicy: \
               Always), or the peak during initialisation if that is higher. The count must \
               not exceed the policy's gpu.maxPerNode, 8 in the built-in policy. MIG slices \
               (gpu-mig-profile), time-sliced nvidia.com/gpu.shared and HAMi memory or cores \
               are not counted.",
        why: "All GPUs of a pod come from one node. A pod that needs more cards than the \
              largest node has is never scheduled (`Insufficient nvidia.com/gpu`): every \
              replica stays Pending, and nothing refuses it at admission.",
        fix: "Ask for at most gpu.maxPerNode GPUs per pod and spread the work over more \
              replicas. If your nodes do have more cards, raise gpu.maxPerNode in the policy, \
              for the namespaces that use them.",
        knobs: &[
            "gpu.maxPerNode (default 8; per namespace under namespaces[].gpu) is the most \
             whole GPUs one node offers.",
        ],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: train
spec:
  serviceName: train
  selector:
    matchLabels: {app: train}
  template:
    metadata:
      labels: {app: train}
    spec:
      containers:
      - name: trainer
        image: pytorch/pytorch
        resources:
          limits: {nvidia.com/gpu: 16}
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "gpu-mig-profile",
        what: "Every nvidia.com/mig-<profile> resource (NVIDIA's mixed strategy; a +me profile \
               is written with .me, e.g. nvidia.com/mig-1g.10gb.me) must be a MIG profile of an \
               allowed GPU model: every model stsguard knows (A30, A100, H100, H200, GH200, \
               B200) unless the policy lists gpu.models, plus any gpu.customModels. The pod's \
               count of one profile must fit on one node: the profile's instances per GPU \
               times gpu.maxPerNode (1g.10gb: 7 x 8 = 56 with the built-in policy).",
        why: "Under the mixed strategy the device plugin advertises one resource per MIG \
              profile configured on the node's GPUs. A profile that belongs to no model you \
              have is advertised by no node, and more slices than one node can cut never fit: \
              either way the pod stays Pending forever, and nothing refuses it at admission. \
              Profiles differ per model: the smallest slice is 1g.5gb on an A100-40GB, 1g.10gb \
              on an A100-80GB or H100-80GB, 1g.18gb on an H200 and 1g.23gb on a B200.",
        fix: "Use a profile of your cards; the finding lists the valid ones, first those with \
              the same number of compute slices. List the cluster's models in gpu.models so \
              that only their profiles pass, and describe models stsguard does not know under \
              gpu.customModels.",
        knobs: &[
            "gpu.models limits the profiles to those models; gpu.customModels adds models \
             with their profiles (name: instances per GPU).",
            "gpu.maxPerNode (default 8) multiplies the instances per GPU.",
        ],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: infer
spec:
  serviceName: infer
  selector:
    matchLabels: {app: infer}
  template:
    metadata:
      labels: {app: infer}
    spec:
      containers:
      - name: server
        image: vllm/vllm-openai
        resources:
          limits: {nvidia.com/mig-3g.30gb: 1}
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "gpu-mixed",
        what: "One container may not ask for whole NVIDIA GPUs (nvidia.com/gpu) together with \
               MIG slices, nor for two different MIG profiles. Several slices of one profile \
               are fine, and so are different kinds in different containers.",
        why: "Each device plugin resource hands its devices to the container through \
              NVIDIA_VISIBLE_DEVICES. When one container gets devices from two resources, the \
              kubelet keeps only one of the values, so which GPUs or slices the process sees \
              is undefined, and the others are allocated but unused.",
        fix: "Ask for one kind of GPU per container: put the other workload in its own \
              container or StatefulSet, or use one larger profile.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: infer
spec:
  serviceName: infer
  selector:
    matchLabels: {app: infer}
  template:
    metadata:
      labels: {app: infer}
    spec:
      containers:
      - name: server
        image: vllm/vllm-openai
        resources:
          limits:
            nvidia.com/gpu: 1
            nvidia.com/mig-1g.10gb: 1
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "gpu-vgpu",
        what: "HAMi vGPU resources of each container: nvidia.com/gpucores and \
               nvidia.com/gpumem-percentage are percentages of one card, at most 100; \
               nvidia.com/gpumem is MiB of one card's memory, more than 0 and, when the policy \
               sets gpu.maxMemoryMiB, not above it (errors). Two warnings: gpumem together with \
               gpumem-percentage (HAMi uses gpumem and ignores the percentage), and vGPU \
               resources without nvidia.com/gpu (HAMi then implies one vGPU). Negative and \
               fractional values are reported by extended-resource-integer.",
        why: "With HAMi, nvidia.com/gpu counts vGPUs, each on a different card, and the other \
              resources size each vGPU. A size no card can satisfy (150% of the cores, more \
              memory than a card has) leaves HAMi's scheduler without a GPU for the pod, which \
              stays Pending; nothing checks these values at admission.",
        fix: "Keep gpucores and gpumem-percentage within 0-100 and gpumem within one card's \
              memory; for more than one card's worth, raise nvidia.com/gpu instead. State \
              nvidia.com/gpu explicitly, and size memory with either gpumem or \
              gpumem-percentage.",
        knobs: &["gpu.maxMemoryMiB (e.g. 81920 for 80 GB cards) caps nvidia.com/gpumem."],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: notebook
spec:
  serviceName: notebook
  selector:
    matchLabels: {app: notebook}
  template:
    metadata:
      labels: {app: notebook}
    spec:
      containers:
      - name: jupyter
        image: jupyter/base-notebook
        resources:
          limits:
            nvidia.com/gpu: 1
            nvidia.com/gpucores: 150
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "gpu-annotations",
        what: "Pod-template annotations read by HAMi must hold known values (errors): \
               hami.io/gpu-scheduler-policy binpack, spread or topology-aware; \
               hami.io/node-scheduler-policy binpack or spread; nvidia.com/vgpu-mode \
               hami-core, mig or mps. When the policy lists gpu.models, every entry of \
               nvidia.com/use-gputype and nvidia.com/nouse-gputype must be the start of one of \
               those model names, ignoring case (A100 matches A100-80GB): a warning otherwise. \
               Any of these annotations on the StatefulSet's own metadata instead of \
               spec.template.metadata is a warning too.",
        why: "HAMi reads these annotations from each pod when it schedules it; a value it does \
              not know is rejected or ignored, and the placement you asked for does not \
              happen. A StatefulSet's own annotations are never copied to its pods, so GPU \
              annotations placed there have no effect at all.",
        fix: "Use one of the listed values, put the annotations under \
              spec.template.metadata.annotations, and name GPU types as the policy's \
              gpu.models do.",
        knobs: &[
            "gpu.models turns on the check of nvidia.com/use-gputype and \
             nvidia.com/nouse-gputype entries against those models.",
        ],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: infer
spec:
  serviceName: infer
  selector:
    matchLabels: {app: infer}
  template:
    metadata:
      labels: {app: infer}
      annotations:
        hami.io/gpu-scheduler-policy: packed
    spec:
      containers:
      - name: server
        image: vllm/vllm-openai
        resources:
          limits: {nvidia.com/gpu: 1}
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "gpu-init-container",
        what: "Warns when an init container asks for GPUs: whole cards, MIG slices or HAMi \
               vGPU resources. Sidecars (init containers with restartPolicy: Always) run \
               beside the app and are not meant.",
        why: "A pod is allocated the larger of its init and app needs for its whole life. \
              GPUs taken for an init step (downloading or converting a model, warming a cache) \
              stay bound to the pod afterwards and sit idle unless the app containers use as \
              many. On a scarce and expensive resource that deserves a second look.",
        fix: "Do the GPU work in an app container, or make sure the app containers use at \
              least as many GPUs as the init container.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: infer
spec:
  serviceName: infer
  selector:
    matchLabels: {app: infer}
  template:
    metadata:
      labels: {app: infer}
    spec:
      initContainers:
      - name: convert-model
        image: nvcr.io/nvidia/tensorrt
        resources:
          limits: {nvidia.com/gpu: 1}
      containers:
      - name: server
        image: nginx
"#,
        old_example: None,
        cluster: None,
    },
    // ----------------------------------------------------------------------------------
    // Spec sanity
    Explanation {
        id: "selector",
        what: "spec.selector must be present and not empty, and must select the pod template: \
               every matchLabels pair must be among spec.template.metadata.labels, and every \
               matchExpressions entry needs a key, an operator In, NotIn, Exists or \
               DoesNotExist (values for In and NotIn, none for the others), and must hold for \
               the template's labels.",
        why: "apps/v1 requires a selector that selects the StatefulSet's own pods; an empty \
              one would select every pod in the namespace. The API server refuses such objects \
              (`selector does not match template labels`); stsguard names the label that \
              differs. apps/v1beta1 defaulted the selector from the template labels, so old \
              manifests often lack one.",
        fix: "Set spec.selector.matchLabels to a stable subset of the template's labels (e.g. \
              app.kubernetes.io/name and app.kubernetes.io/instance). Do not select on labels \
              that change between releases, such as a version: the selector cannot be changed \
              after creation.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: nginx}
    spec:
      containers:
      - name: web
        image: nginx
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "update-strategy",
        what: "spec.updateStrategy.type must be RollingUpdate or OnDelete (case-sensitive); \
               with OnDelete there must be no rollingUpdate block; rollingUpdate.partition must \
               not be negative; rollingUpdate.maxUnavailable must be a whole number of at least \
               1 or a percentage from 1% to 100%.",
        why: "These are the API server's own checks, and it refuses the object. Switching a \
              StatefulSet to OnDelete while leaving the old rollingUpdate block in place is \
              the usual way to hit this; with OnDelete pods change only when you delete them, \
              so a partition would mean nothing.",
        fix: "Use type: RollingUpdate with an optional rollingUpdate (partition, \
              maxUnavailable), or type: OnDelete without rollingUpdate.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  updateStrategy:
    type: OnDelete
    rollingUpdate: {partition: 2}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "partition-exceeds-replicas",
        what: "Warns when a RollingUpdate partition is greater than ordinals.start + replicas, \
               the ordinal after the last pod. A partition equal to it (the usual way to hold a \
               rollout before stepping it down) passes.",
        why: "Only pods with an ordinal of at least the partition take a template change. \
              Beyond the last ordinal no pod does, not even pods that a later scale-up adds \
              below the partition, so the next release silently rolls out nowhere. Such a \
              partition is usually left over from a canary at a larger scale.",
        fix: "Lower the partition to ordinals.start + replicas to hold a rollout, then step it \
              down to roll out; 0 updates every pod.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: 3
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {partition: 5}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "pod-management-policy",
        what: "spec.podManagementPolicy must be OrderedReady or Parallel, case-sensitive (an \
               empty value is defaulted to OrderedReady).",
        why: "The API server knows only these two values and refuses anything else; \
              `parallel` and `Ordered` are the usual typos. The policy cannot be changed after \
              creation (see immutable-field).",
        fix: "Write OrderedReady (pods are created one at a time, in order, each Ready before \
              the next) or Parallel (all at once, for workloads that need no ordered \
              start-up).",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  podManagementPolicy: parallel
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "replicas",
        what: "spec.replicas, spec.revisionHistoryLimit, spec.minReadySeconds and \
               spec.ordinals.start must not be negative.",
        why: "The API server refuses negative values. They usually come from templating \
              arithmetic or from -1 used as a placeholder for \"unset\".",
        fix: "Use 0 or more, or leave the field out for its default (replicas 1, \
              revisionHistoryLimit 10, minReadySeconds 0, ordinals.start 0).",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: -1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "restart-policy",
        what: "The pod template's restartPolicy must be Always or unset, and \
               activeDeadlineSeconds must not be set.",
        why: "A StatefulSet keeps every ordinal running: when a container exits, the kubelet \
              restarts it in place. OnFailure or Never would let pods finish, and \
              activeDeadlineSeconds would kill them after a deadline, so the API server \
              refuses both for StatefulSets. (An init container's restartPolicy: Always, which \
              makes it a sidecar, is a different field and fine.)",
        fix: "Remove restartPolicy (it defaults to Always) and activeDeadlineSeconds; work \
              that runs to completion belongs in a Job.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      restartPolicy: OnFailure
      containers:
      - name: web
        image: nginx
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "termination-grace",
        what: "Warns when spec.template.spec.terminationGracePeriodSeconds is outside the \
               policy's bounds, 0 to 9999 seconds in the built-in policy. A template that \
               leaves it out is judged as the API default of 30 seconds, so a policy minimum \
               above 30 flags it too.",
        why: "When a pod is deleted it gets SIGTERM, and is killed once the grace period is \
              over. Too short, and a database is killed before it has flushed and left its \
              cluster cleanly. Too long, and one pod that hangs on shutdown holds an ordered \
              rollout, a scale-down or a node drain for that long, because the controller \
              handles one pod at a time.",
        fix: "Set terminationGracePeriodSeconds to what a clean shutdown really takes (for \
              most databases tens of seconds to a few minutes), or adjust the policy's bounds.",
        knobs: &[
            "limits.terminationGracePeriodSeconds: {min, max} (default 0-9999; per namespace \
             under namespaces[].limits) sets the bounds.",
        ],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      terminationGracePeriodSeconds: 86400
      containers:
      - name: postgres
        image: postgres:16
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "dns-config",
        what: "With dnsPolicy: None the pod template needs a dnsConfig with at least one \
               nameserver; dnsConfig may list at most 3 nameservers, and at most 32 search \
               domains (6 with --kube-version below 1.28), or the policy's \
               limits.dnsSearchDomains.",
        why: "The kubelet writes the pod's resolv.conf from these fields, and pod validation \
              refuses what it cannot write: no nameserver at all with dnsPolicy None, more \
              nameservers than resolvers use, more search domains than allowed (raised from 6 \
              to 32 in Kubernetes 1.28). The API server does not validate a StatefulSet's pod \
              template (up to Kubernetes 1.33), so the StatefulSet is accepted and every pod \
              creation fails.",
        fix: "List nameservers in dnsConfig or use dnsPolicy: ClusterFirst; keep at most 3 \
              nameservers and the search domains within the limit.",
        knobs: &[
            "limits.dnsSearchDomains (per namespace under namespaces[].limits) sets the most \
             search domains; without it the limit follows --kube-version.",
        ],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      dnsPolicy: None
      containers:
      - name: web
        image: nginx
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "api-version",
        what: "A StatefulSet must use apiVersion apps/v1. apps/v1beta1 and apps/v1beta2 are \
               reported as errors, or as warnings with --kube-version below 1.16 where they are \
               still served; the rest of the object is then checked as apps/v1.",
        why: "Both beta versions were removed in Kubernetes 1.16: the API server no longer \
              serves them and refuses the object. Changing the version is not only a rename: \
              apps/v1beta1 defaulted spec.selector from the template labels and \
              updateStrategy to OnDelete, while apps/v1 requires a selector and defaults to \
              RollingUpdate.",
        fix: "Write apiVersion: apps/v1. Coming from apps/v1beta1, also add \
              spec.selector.matchLabels equal to the template labels, and set \
              updateStrategy.type: OnDelete if you relied on the old default.",
        knobs: &["--kube-version below 1.16 turns the finding into a warning."],
        example: r#"apiVersion: apps/v1beta2
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "schema",
        what: "The whole object is checked against the StatefulSet OpenAPI schema of the \
               Kubernetes API stsguard is built with. A value of the wrong type (replicas: \
               \"3\", a map where a list belongs) or a missing required field is an error; an \
               unknown field (a typo such as requiredDuringSchedulingRequiredDuringExecution, \
               or a field indented under the wrong parent) is a warning, an error with \
               --strict. null counts as unset.",
        why: "The API server refuses wrong types, but it drops unknown fields without a word: a \
              misspelt or misplaced field is admitted and simply has no effect, which for \
              affinity, probes or resources is found out in production. Quoted numbers are \
              easy to produce with Helm templates.",
        fix: "Give the field the type the API expects (remove the quotes around a number). \
              For an unknown field, fix its spelling (the finding suggests the closest known \
              field) or its indentation, or remove it.",
        knobs: &["--strict makes unknown fields errors."],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: "3"
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
"#,
        old_example: None,
        cluster: None,
    },
    // ----------------------------------------------------------------------------------
    // The governing Service
    Explanation {
        id: "service-missing",
        what: "Against the cluster: spec.serviceName names a Service that exists in the StatefulSet's namespace, in the same input or in the cluster. It says nothing when the cluster's Services are not known (offline without --cluster, or a webhook whose Service watch is not synced).",
        why: "The pods get their stable DNS names (web-0.web.default.svc.cluster.local) only from the governing Service. Without it nothing resolves, and members of a database that find each other by name never form a cluster; the API server admits the StatefulSet anyway. The Service is often applied after the StatefulSet, so this is a warning by default.",
        fix: "Create a headless Service (clusterIP: None) with that name in the namespace, selecting the pod template's labels, or correct spec.serviceName (it cannot change after creation: re-create the StatefulSet with --cascade=orphan).",
        knobs: &[
            "Judged only against a known cluster: `stsguard serve` with `--cluster on` (or `auto` in a pod), or `stsguard validate --cluster`; objects of the same input count as present.",
        ],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
"#,
        old_example: None,
        cluster: Some(
            r#"apiVersion: v1
kind: Service
metadata: {name: nginx, namespace: default}
spec:
  clusterIP: None
  selector: {app: nginx}
"#,
        ),
    },
    Explanation {
        id: "service-headless",
        what: "The Service named by spec.serviceName, when the same input holds it (a v1 \
               Service in the StatefulSet's namespace, or naming none) or the cluster has it \
               (at admission with `serve --cluster`, and with `validate --cluster`), must be \
               headless, with spec.clusterIP: None. A Service found nowhere is not checked \
               (see service-missing).",
        why: "Per-pod DNS records (web-0.web.default.svc.cluster.local) exist only for a \
              headless Service. Through a normal ClusterIP Service, clients get one virtual IP \
              balanced over all replicas and cannot reach a particular one, which breaks \
              databases whose members address each other by name. Neither the API server nor \
              the controller checks this.",
        fix: "Set clusterIP: None in the governing Service. clusterIP cannot be changed on an \
              existing Service: delete and re-create it. If clients also need one balanced \
              address, add a second, ordinary Service.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
"#,
        old_example: None,
        cluster: None,
    },
    Explanation {
        id: "service-selector",
        what: "When the governing Service is found (in the same input, or in the cluster), its spec.selector \
               must be present and not empty, and every one of its labels must be among the \
               pod template's labels. The first mismatch is reported.",
        why: "DNS records for the pods come from the Service's endpoints, which hold the pods \
              its selector picks. A Service that selects other labels, or none, gives the \
              StatefulSet's pods no DNS names, and nothing checks this at admission.",
        fix: "Make the Service's selector match spec.template.metadata.labels; usually it is \
              the same as the StatefulSet's spec.selector.matchLabels.",
        knobs: &[],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  clusterIP: None
  selector: {app: nginx}
  ports:
  - port: 80
"#,
        old_example: None,
        cluster: None,
    },
    // ----------------------------------------------------------------------------------
    // Against the cluster
    Explanation {
        id: "storage-class-missing",
        what: "Against the cluster: every claim template's storageClassName names a StorageClass of the cluster or of the same input, with a did-you-mean among the existing classes. An explicit empty class (\"\", bind to a pre-created PersistentVolume) and a missing class (see storage-class-no-default) are not this rule's.",
        why: "A PVC naming a class that does not exist is created and stays Pending forever (no provisioner acts on it), so the pod that mounts it is never scheduled. Claim templates cannot change after creation: the StatefulSet has to be re-created to fix it.",
        fix: "Use one of the cluster's classes (`kubectl get storageclass`), or create the class before the StatefulSet.",
        knobs: &[
            "Judged only against a known cluster: `stsguard serve` with `--cluster on` (or `auto` in a pod), or `stsguard validate --cluster`; objects of the same input count as present.",
        ],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        volumeMounts:
        - {name: data, mountPath: /data}
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: fats
      resources:
        requests: {storage: 1Gi}
"#,
        old_example: None,
        cluster: Some(
            r#"apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: fast
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: example.com/ssd
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: None
  selector: {app: web}
"#,
        ),
    },
    Explanation {
        id: "storage-class-no-default",
        what: "Against the cluster: a claim template without storageClassName, while the cluster (and the input) has no StorageClass annotated storageclass.kubernetes.io/is-default-class: \"true\" (or the beta annotation) and the policy fills no class (defaults.storageClassName).",
        why: "A claim without a class gets the cluster's default class when it is created; with no default, no provisioner acts on it and it stays Pending until an administrator creates a matching PersistentVolume by hand, so the pods are never scheduled.",
        fix: "Name a class in the claim template, set defaults.storageClassName in the policy so that the mutating webhook pins one, or mark one of the cluster's classes as the default.",
        knobs: &[
            "Judged only against a known cluster: `stsguard serve` with `--cluster on` (or `auto` in a pod), or `stsguard validate --cluster`; objects of the same input count as present.",
            "defaults.storageClassName in the policy fills the class, so the claim is not left without one.",
        ],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        volumeMounts:
        - {name: data, mountPath: /data}
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests: {storage: 1Gi}
"#,
        old_example: None,
        cluster: Some(
            r#"apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fast}
provisioner: example.com/ssd
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: None
  selector: {app: web}
"#,
        ),
    },
    Explanation {
        id: "node-fit",
        what: "Against the cluster's Nodes: the pod's effective request (per resource, the larger of the app containers plus sidecars and of each init container plus the sidecars before it; a limit stands in for a missing request) of cpu, memory and every extended resource (nvidia.com/gpu, nvidia.com/mig-*, amd.com/gpu, ...) must fit the allocatable of at least one node the pod may run on: its nodeSelector and required node affinity match the node's labels (In, NotIn, Exists, DoesNotExist, Gt, Lt; matchFields on metadata.name), it tolerates every NoSchedule and NoExecute taint (a taint on a requested extended resource counts as tolerated, as the ExtendedResourceToleration admission plugin adds that toleration), and a cordoned node counts as tainted node.kubernetes.io/unschedulable. What other pods already use is ignored: the question is whether the pod could ever run on today's nodes. The message names the best offer, a resource no node advertises, or why no node is eligible. A cluster with no Node at all is not judged.",
        why: "The scheduler leaves such a pod Pending (0/12 nodes are available: 12 Insufficient nvidia.com/gpu) for as long as the nodes stay as they are, and the StatefulSet controller, creating one pod at a time by default, never gets past it. A cluster autoscaler may add a node that fits, so this is a warning by default; a GPU platform with fixed nodes raises it to error.",
        fix: "Ask for what one node can hold (fewer GPUs per pod, more replicas), select the node pool that has the resource, tolerate its taints, or add a node that fits.",
        knobs: &[
            "Judged only against a known cluster: `stsguard serve` with `--cluster on` (or `auto` in a pod), or `stsguard validate --cluster`; objects of the same input count as present.",
        ],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        resources:
          limits: {nvidia.com/gpu: 4}
"#,
        old_example: None,
        cluster: Some(
            r#"apiVersion: v1
kind: Node
metadata:
  name: gpu-a1
  labels: {kubernetes.io/hostname: gpu-a1}
status:
  allocatable: {cpu: "63", memory: 500Gi, nvidia.com/gpu: "2", pods: "110"}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: None
  selector: {app: web}
"#,
        ),
    },
    Explanation {
        id: "priority-class-missing",
        what: "Against the cluster: the pod template's priorityClassName names a PriorityClass of the cluster (or of the same input), with a did-you-mean. The built-in system-cluster-critical and system-node-critical exist in every cluster and are listed by the API server like any other.",
        why: "The Priority admission plugin refuses a pod naming a PriorityClass that does not exist, so the controller's every pod creation fails (FailedCreate: no PriorityClass with name ... was found) while the StatefulSet itself was admitted.",
        fix: "Create the PriorityClass first (it is cluster-scoped), or name an existing one (`kubectl get priorityclass`).",
        knobs: &[
            "Judged only against a known cluster: `stsguard serve` with `--cluster on` (or `auto` in a pod), or `stsguard validate --cluster`; objects of the same input count as present.",
        ],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      priorityClassName: hihg
      containers:
      - name: web
        image: nginx
"#,
        old_example: None,
        cluster: Some(
            r#"apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 1000
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: None
  selector: {app: web}
"#,
        ),
    },
    Explanation {
        id: "runtime-class-missing",
        what: "Against the cluster: the pod template's runtimeClassName names a RuntimeClass \
               (node.k8s.io/v1) of the cluster or of the same input, with a did-you-mean. On a \
               cluster that does not serve node.k8s.io/v1 (before 1.20) the rule is off.",
        why: "The RuntimeClass admission plugin refuses a pod naming a RuntimeClass that does \
              not exist (pod rejected: RuntimeClass \"nvidia\" not found), so every pod \
              creation fails with FailedCreate. GPU workloads often name `nvidia`, which exists \
              only where the GPU operator (or an administrator) created it.",
        fix: "Name one of the cluster's RuntimeClasses (`kubectl get runtimeclass`), or \
              install the runtime handler and its RuntimeClass before the StatefulSet.",
        knobs: &[
            "Judged only against a known cluster: `stsguard serve` with `--cluster on` (or `auto` in a pod), or `stsguard validate --cluster`; objects of the same input count as present.",
        ],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      runtimeClassName: nvidai
      containers:
      - name: web
        image: nginx
"#,
        old_example: None,
        cluster: Some(
            r#"apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: nvidia}
handler: nvidia
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: None
  selector: {app: web}
"#,
        ),
    },
    Explanation {
        id: "service-account-missing",
        what: "Against the cluster: an explicit serviceAccountName (or the deprecated serviceAccount) other than default names a ServiceAccount of the StatefulSet's namespace, in the cluster or the same input. Every namespace has default, so it is never checked.",
        why: "The API server refuses a pod whose ServiceAccount does not exist (the ServiceAccount admission plugin: serviceaccount ... not found), so every pod creation fails with FailedCreate and the StatefulSet never gets a replica.",
        fix: "Create the ServiceAccount in the namespace before the StatefulSet (Helm and Argo CD order it first), or name an existing one.",
        knobs: &[
            "Judged only against a known cluster: `stsguard serve` with `--cluster on` (or `auto` in a pod), or `stsguard validate --cluster`; objects of the same input count as present.",
        ],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      serviceAccountName: builder
      containers:
      - name: web
        image: nginx
"#,
        old_example: None,
        cluster: Some(
            r#"apiVersion: v1
kind: ServiceAccount
metadata: {name: deployer, namespace: default}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: None
  selector: {app: web}
"#,
        ),
    },
    Explanation {
        id: "config-map-missing",
        what: "Against the cluster: every ConfigMap the pod template refers to without optional: true exists in its namespace, in the cluster or the same input: configMap volumes, configMap sources of projected volumes, envFrom[].configMapRef and env[].valueFrom.configMapKeyRef of containers and init containers. Only names are read: a missing key is not checked.",
        why: "A container whose environment refers to a missing ConfigMap never starts (CreateContainerConfigError); a pod whose volume does, waits in ContainerCreating until it appears. The API server admits both.",
        fix: "Create the ConfigMap before the StatefulSet, correct the name, or mark the reference optional: true when the pods can run without it.",
        knobs: &[
            "Judged only against a known cluster: `stsguard serve` with `--cluster on` (or `auto` in a pod), or `stsguard validate --cluster`; objects of the same input count as present.",
        ],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        volumeMounts:
        - {name: config, mountPath: /etc/web}
      volumes:
      - name: config
        configMap: {name: web-config}
"#,
        old_example: None,
        cluster: Some(
            r#"apiVersion: v1
kind: ConfigMap
metadata: {name: web-settings, namespace: default}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: None
  selector: {app: web}
"#,
        ),
    },
    Explanation {
        id: "secret-missing",
        what: "Against the cluster, when Secrets are watched (`serve --cluster-secrets`; `validate --cluster` lists them when it may): every Secret the pod template refers to without optional: true exists in its namespace, in the cluster or the same input: secret volumes, secret sources of projected volumes, envFrom[].secretRef and env[].valueFrom.secretKeyRef. Only names are read, never data.",
        why: "A container whose environment refers to a missing Secret never starts (CreateContainerConfigError); a pod whose volume does, waits in ContainerCreating. Listing Secrets, even their names, needs list on secrets, which security reviews rightly question: the rule is opt-in in the webhook.",
        fix: "Create the Secret before the StatefulSet, correct the name, or mark the reference optional: true.",
        knobs: &[
            "Judged only against a known cluster: `stsguard serve` with `--cluster on` (or `auto` in a pod), or `stsguard validate --cluster`; objects of the same input count as present.",
            "`stsguard serve --cluster-secrets` watches Secrets (metadata only); without it the rule is off in the webhook.",
        ],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        env:
        - name: PASSWORD
          valueFrom:
            secretKeyRef: {name: db-password, key: password}
"#,
        old_example: None,
        cluster: Some(
            r#"apiVersion: v1
kind: Secret
metadata: {name: db-passwords, namespace: default}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: None
  selector: {app: web}
"#,
        ),
    },
    // ----------------------------------------------------------------------------------
    // Updates
    Explanation {
        id: "immutable-field",
        what: "On UPDATE (in the webhook, or offline with `stsguard validate --old OLD NEW`, \
               which matches StatefulSets by namespace and name), only replicas, template, \
               updateStrategy, ordinals, persistentVolumeClaimRetentionPolicy, minReadySeconds \
               and revisionHistoryLimit may differ from the old object. A change to any other \
               field of spec (volumeClaimTemplates, selector, serviceName, \
               podManagementPolicy) is reported with its name, pointing at the first claim \
               template that differs when their number is unchanged. Claim templates are \
               compared without the status, kind, apiVersion and creationTimestamp that an \
               export adds.",
        why: "The API server refuses such an update with one message that lists the fields \
              that may change (`updates to statefulset spec for fields other than ... are \
              forbidden`), not the one you changed. The classic case is trying to grow the \
              volumes by editing the storage request of a claim template.",
        fix: "Keep the field as it was. To change it anyway while keeping the data: `kubectl \
              delete statefulset NAME --cascade=orphan` (pods and PVCs stay), then apply the \
              new manifest, whose StatefulSet adopts the running pods. To grow volumes, first \
              edit each PVC's request (where the storage class allows expansion), then \
              re-create the StatefulSet that way with the new size.",
        knobs: &["--old OLD gives `stsguard validate` the previous version to compare with."],
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        volumeMounts:
        - {name: data, mountPath: /data}
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: standard
      resources:
        requests: {storage: 10Gi}
"#,
        old_example: Some(
            r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        volumeMounts:
        - {name: data, mountPath: /data}
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: standard
      resources:
        requests: {storage: 1Gi}
"#,
        ),
        cluster: None,
    },
];

/// The explanation of a rule id.
pub fn explanation(id: &str) -> Option<&'static Explanation> {
    EXPLANATIONS.iter().find(|entry| entry.id == id)
}

/// The policy notes every rule shares (its level, the ignore annotation, ratcheting),
/// followed by the rule's own knobs.
pub fn policy_notes(rule: &Rule, entry: &Explanation) -> Vec<String> {
    let mut notes = Vec::new();
    if !INPUT_RULES.contains(&rule.id) {
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
        if !UPDATE_RULES.contains(&rule.id) {
            notes.push(
                "On UPDATE, a finding the old object already had is a warning, never a denial."
                    .to_string(),
            );
        }
    }
    notes.extend(entry.knobs.iter().map(|knob| (*knob).to_string()));
    notes
}

/// Runs `stsguard explain`.
pub fn run(args: &ExplainArgs) -> u8 {
    let Some(query) = &args.rule else {
        print!("{}", render_list(args.output));
        return EXIT_OK;
    };
    match lookup(query) {
        Some((rule, entry)) => {
            print!("{}", render_rule(rule, entry, args.output));
            EXIT_OK
        }
        None => {
            eprintln!("stsguard: {}", unknown_rule_message(query));
            EXIT_USAGE
        }
    }
}

/// The catalog rule and its explanation for a user's spelling of an id: case and `_` for
/// `-` do not matter.
pub fn lookup(query: &str) -> Option<(&'static Rule, &'static Explanation)> {
    let id = normalize(query);
    let rule = catalog::find(&id)?;
    Some((rule, explanation(rule.id)?))
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

    fn full(rule: &'a Rule, entry: &'a Explanation) -> Self {
        RuleJson {
            what: Some(entry.what),
            why: Some(entry.why),
            fix: Some(entry.fix),
            policy: Some(policy_notes(rule, entry)),
            example: Some(entry.example),
            old_example: entry.old_example,
            cluster: entry.cluster,
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
pub fn render_rule(rule: &Rule, entry: &Explanation, format: ExplainFormat) -> String {
    match format {
        ExplainFormat::Json => to_json(&RuleJson::full(rule, entry)),
        ExplainFormat::Text => render_rule_text(rule, entry),
    }
}

fn render_rule_text(rule: &Rule, entry: &Explanation) -> String {
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
    for (title, text) in [("What", entry.what), ("Why", entry.why), ("Fix", entry.fix)] {
        out.push('\n');
        out.push_str(title);
        out.push('\n');
        out.push_str(&wrap(text, "  ", "  "));
    }
    out.push_str("\nPolicy\n");
    for note in policy_notes(rule, entry) {
        out.push_str(&wrap(&note, "  - ", "    "));
    }
    out.push('\n');
    match (entry.old_example, entry.cluster) {
        (None, None) => {
            out.push_str("Example (stsguard validate example.yaml)\n");
            out.push_str(&indent(entry.example, "  "));
        }
        (None, Some(cluster)) => {
            out.push_str("Example (stsguard validate --cluster example.yaml)\n");
            out.push_str("  # in a cluster that holds only\n");
            out.push_str(&indent(cluster, "  "));
            out.push_str("  # example.yaml\n");
            out.push_str(&indent(entry.example, "  "));
        }
        (Some(old), _) => {
            out.push_str("Example (stsguard validate --old old.yaml new.yaml)\n");
            out.push_str("  # old.yaml\n");
            out.push_str(&indent(old, "  "));
            out.push_str("  # new.yaml\n");
            out.push_str(&indent(entry.example, "  "));
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
    fn every_rule_has_one_explanation_in_catalog_order() {
        let catalog: Vec<&str> = catalog::RULES.iter().map(|rule| rule.id).collect();
        let explained: Vec<&str> = EXPLANATIONS.iter().map(|entry| entry.id).collect();
        assert_eq!(explained, catalog);
    }

    #[test]
    fn explanations_are_filled_in() {
        for entry in EXPLANATIONS {
            for (section, text) in [
                ("what", entry.what),
                ("why", entry.why),
                ("fix", entry.fix),
                ("example", entry.example),
            ] {
                assert!(
                    text.trim().len() > 20,
                    "{}: {section} is too short",
                    entry.id
                );
            }
            assert!(entry.example.ends_with('\n'), "{}", entry.id);
        }
    }

    #[test]
    fn looks_rules_up_ignoring_case_and_underscores() {
        assert_eq!(
            lookup("name-length").map(|(r, _)| r.id),
            Some("name-length")
        );
        assert_eq!(
            lookup(" Name_Length ").map(|(r, _)| r.id),
            Some("name-length")
        );
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
        let (rule, entry) = lookup("yaml-syntax").unwrap();
        let notes = policy_notes(rule, entry);
        assert_eq!(notes.len(), 1);
        assert!(!notes[0].starts_with("rules:"));
    }

    #[test]
    fn gpu_count_notes_name_the_policy_knob() {
        let (rule, entry) = lookup("gpu-count").unwrap();
        let notes = policy_notes(rule, entry);
        assert!(notes[0].contains("gpu-count: error | warning | off"));
        assert!(notes[1].contains("stsguard.dev/ignore: \"gpu-count\""));
        assert!(notes.iter().any(|note| note.contains("gpu.maxPerNode")));
    }

    #[test]
    fn text_has_every_section() {
        let (rule, entry) = lookup("immutable-field").unwrap();
        let text = render_rule(rule, entry, ExplainFormat::Text);
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
        let (rule, entry) = lookup("service-name").unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&render_rule(rule, entry, ExplainFormat::Json)).unwrap();
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
