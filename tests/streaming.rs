//! `validate` streams its input (files and stdin are read, judged and dropped as it goes),
//! yet reports what a review of the whole input at once reports: a Service that comes after
//! its StatefulSet, in the same file, a later file or stdin, still counts, and a document that
//! is not UTF-8 is one error among documents that still count. Text output comes as the input
//! is read (before stdin ends); StatefulSets that wait for a later object come at the end, and
//! one judged with a Service that a later one replaces is given again. The memory bound is
//! shown by `benches/offline.sh`, not here.

mod common;

use std::path::{Path, PathBuf};

use common::{stsguard, stsguard_stdin};
use stsguard::cli::input;
use stsguard::cli::output::{self, OutputFormat};
use stsguard::cli::validate::{ReviewOptions, review_sources};
use stsguard::engine::KubeVersion;

/// The cassandra StatefulSet of the examples, named `name`.
fn statefulset(name: &str) -> String {
    let text = std::fs::read_to_string(common::data("examples/cassandra.yaml")).unwrap();
    let sts = text
        .split("---\n")
        .find(|doc| doc.contains("kind: StatefulSet"))
        .unwrap();
    sts.replacen("\n  name: cassandra\n", &format!("\n  name: {name}\n"), 1)
}

/// A Service `cassandra` that is neither headless nor selecting the pods.
const BAD_SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: cassandra\nspec:\n  clusterIP: 10.0.0.1\n  selector:\n    app: other\n";

/// `count` StatefulSets: more documents than one batch holds.
fn statefulsets(count: usize) -> String {
    (0..count)
        .map(|i| format!("---\n{}", statefulset(&format!("db-{i}"))))
        .collect()
}

/// `count` StatefulSets, then the Service.
fn late_service_stream(count: usize) -> String {
    format!("{}---\n{BAD_SERVICE}", statefulsets(count))
}

/// The report of a review of the whole input at once (`review_sources`), in `format`.
fn whole_input(format: OutputFormat, paths: &[PathBuf], stdin: Option<&[u8]>) -> String {
    let policy = common::default_policy();
    let options = ReviewOptions {
        policy: &policy,
        namespace: "default",
        kube_version: KubeVersion::LATEST,
        strict: false,
        cluster: None,
    };
    let sources: Vec<input::SourceFile> = paths
        .iter()
        .map(|path| {
            if path.as_os_str() == "-" {
                input::parse_source(input::STDIN_NAME.into(), stdin.unwrap())
            } else {
                input::read_source(path).unwrap()
            }
        })
        .collect();
    let report = review_sources(&sources, &[], &options);
    let mut out = Vec::new();
    output::write(&mut out, format, &report).unwrap();
    String::from_utf8(out).unwrap()
}

/// [`whole_input`] as JSON.
fn whole_input_json(paths: &[PathBuf], stdin: Option<&[u8]>) -> String {
    whole_input(OutputFormat::Json, paths, stdin)
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn a_service_after_its_statefulsets_counts_in_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("late.yaml");
    std::fs::write(&file, late_service_stream(600)).unwrap();
    let output = stsguard(&["validate", "--output", "json", arg(&file)]);
    let json = String::from_utf8(output.stdout).unwrap();
    assert_eq!(json, whole_input_json(&[file], None));
    assert_eq!(json.matches("\"rule\": \"service-headless\"").count(), 600);
    assert_eq!(json.matches("\"rule\": \"service-selector\"").count(), 600);
}

#[test]
fn a_service_in_a_later_file_or_on_stdin_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (first, last) = (dir.path().join("a.yaml"), dir.path().join("z.yaml"));
    // The later file's Service replaces the first file's (the last one wins, as for kubectl).
    let good = BAD_SERVICE
        .replace("10.0.0.1", "None")
        .replace("other", "cassandra");
    std::fs::write(&first, format!("{good}{}", statefulsets(300))).unwrap();
    std::fs::write(&last, BAD_SERVICE).unwrap();
    let output = stsguard(&["validate", "--output", "json", arg(&first), arg(&last)]);
    let json = String::from_utf8(output.stdout).unwrap();
    assert_eq!(json, whole_input_json(&[first.clone(), last.clone()], None));

    let text = std::fs::read(&first).unwrap();
    let output = stsguard_stdin(&["validate", "--output", "json", "-", arg(&last)], &text);
    let json = String::from_utf8(output.stdout).unwrap();
    let dash = PathBuf::from("-");
    assert_eq!(json, whole_input_json(&[dash, last], Some(&text)));
    assert!(json.contains("\"file\": \"<stdin>\""));
}

#[test]
fn a_document_that_is_not_utf8_is_one_error_and_the_rest_counts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sts.yaml");
    std::fs::write(&file, statefulset("web")).unwrap();
    let mut text = b"---\nname: caf\xc3\xa9 \xff\n".to_vec();
    text.extend_from_slice(late_service_stream(300).as_bytes());
    let output = stsguard_stdin(&["validate", "--output", "json", arg(&file), "-"], &text);
    let json = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        json,
        whole_input_json(&[file, PathBuf::from("-")], Some(&text))
    );
    assert_eq!(json.matches("the document is not UTF-8 text").count(), 1);
    // Located at the bad byte: line 2, after `name: café `.
    assert!(
        json.contains("\"line\": 2,\n      \"column\": 12,"),
        "{json}"
    );
    // The Service after it still counts, for the file's StatefulSet too.
    assert_eq!(json.matches("\"rule\": \"service-headless\"").count(), 301);
}

/// The seed cassandra StatefulSet named `name`, mounting a volume that does not exist: an
/// error that depends on no other document.
fn broken_statefulset(name: &str) -> String {
    statefulset(name).replace(
        "- name: cassandra-data\n          mountPath",
        "- name: nowhere\n          mountPath",
    )
}

/// Documents enough (ConfigMaps) that what follows is read in a later batch than what came
/// before: within a batch, every object is indexed before any StatefulSet is judged.
fn filler() -> String {
    (0..300)
        .map(|i| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\n"))
        .collect()
}

/// A headless Service `cassandra` selecting the cassandra pods.
const GOOD_SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: cassandra\nspec:\n  clusterIP: None\n  selector:\n    app: cassandra\n";

#[test]
fn text_findings_come_before_stdin_ends() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    use std::sync::mpsc;
    use std::time::Duration;

    let mut child = common::stsguard_command()
        .args(["validate", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = lines_tx.send(line.unwrap());
        }
    });
    // The Service first, as `helm template` and `kubectl kustomize` order them: each
    // StatefulSet's verdict is then final as soon as it is judged.
    let mut input = GOOD_SERVICE.to_string();
    for i in 0..600 {
        input.push_str(&format!("---\n{}", broken_statefulset(&format!("db-{i}"))));
    }
    stdin.write_all(input.as_bytes()).unwrap();
    stdin.flush().unwrap();
    // stdin stays open: the findings must come anyway.
    let first = lines
        .recv_timeout(Duration::from_secs(60))
        .expect("no finding while stdin was open");
    assert!(first.contains("error[volume-mount-unknown]"), "{first}");
    drop(stdin);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let rest: Vec<String> = lines.try_iter().collect();
    assert_eq!(status.code(), Some(1));
    let summary = rest.last().unwrap();
    assert!(summary.starts_with("600 errors, "), "{summary}");
    assert!(
        summary.ends_with(" in 1 file (600 StatefulSets)"),
        "{summary}"
    );
}

/// The finding lines of the text format (`file:line:column: severity[rule]: message`), sorted.
fn text_findings(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|line| line.contains(": error[") || line.contains(": warning["))
        .collect();
    lines.sort_unstable();
    lines
}

/// The same findings as the JSON report, as the text format writes them.
fn json_as_text(json: &str) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_str(json).unwrap();
    let mut lines: Vec<String> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{}:{}:{}: {}[{}]: {}",
                f["file"].as_str().unwrap(),
                f["line"],
                f["column"],
                f["severity"].as_str().unwrap(),
                f["rule"].as_str().unwrap(),
                f["message"].as_str().unwrap()
            )
        })
        .collect();
    lines.sort_unstable();
    lines
}

#[test]
fn text_gives_statefulsets_that_wait_for_a_later_service_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("late.yaml");
    // Three broken StatefulSets; only the middle one names a Service, which comes last.
    let no_service =
        |name| broken_statefulset(name).replace("serviceName: cassandra", "serviceName: \"\"");
    let text = format!(
        "{}---\n{}---\n{}{}---\n{BAD_SERVICE}",
        no_service("first"),
        broken_statefulset("waits"),
        no_service("last"),
        filler(),
    );
    std::fs::write(&file, &text).unwrap();
    let output = stsguard(&["validate", arg(&file)]);
    let out = String::from_utf8(output.stdout).unwrap();
    let json = stsguard(&["validate", "--output", "json", arg(&file)]).stdout;
    let json = String::from_utf8(json).unwrap();
    // The same findings as the report of the whole input…
    assert_eq!(text_findings(&out), json_as_text(&json));
    // …but `waits` comes after `last`: its verdict waited for the Service.
    let mount_lines: Vec<usize> = out
        .lines()
        .filter(|line| line.contains("error[volume-mount-unknown]"))
        .map(|line| line.split(':').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(mount_lines.len(), 3, "{out}");
    assert!(
        mount_lines[0] < mount_lines[2] && mount_lines[2] < mount_lines[1],
        "{out}"
    );
    let at = |text: &str| {
        out.find(text)
            .unwrap_or_else(|| panic!("no {text} in {out}"))
    };
    assert!(
        at("error[service-headless]") > at(&format!(":{}:", mount_lines[1])),
        "{out}"
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn a_service_redefined_later_gives_its_statefulsets_again() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("twice.yaml");
    let filler = filler();
    let text = format!(
        "{GOOD_SERVICE}---\n{}{filler}---\n{BAD_SERVICE}",
        statefulset("db")
    );
    std::fs::write(&file, &text).unwrap();
    for format in ["text", "github"] {
        let output = stsguard(&["validate", "--output", format, arg(&file)]);
        let out = String::from_utf8(output.stdout).unwrap();
        let note = out
            .find("StatefulSet default/db judged again at the end of the input")
            .unwrap_or_else(|| panic!("{format}: no note in {out}"));
        assert!(out[note..].contains("service-headless"), "{format}: {out}");
        assert!(
            out.ends_with("in 1 file (1 StatefulSet)\n"),
            "{format}: {out}"
        );
        assert!(out.contains("2 errors, 0 warnings"), "{format}: {out}");
        assert_eq!(output.status.code(), Some(1), "{format}");
    }
    let json = stsguard(&["validate", "--output", "json", arg(&file)]).stdout;
    assert_eq!(
        String::from_utf8(json).unwrap(),
        whole_input_json(std::slice::from_ref(&file), None)
    );
    // The same Service twice changes nothing: nothing is given again.
    std::fs::write(
        &file,
        format!(
            "{GOOD_SERVICE}---\n{}{filler}---\n{GOOD_SERVICE}",
            statefulset("db")
        ),
    )
    .unwrap();
    let out = String::from_utf8(stsguard(&["validate", arg(&file)]).stdout).unwrap();
    assert_eq!(out, "0 errors, 0 warnings in 1 file (1 StatefulSet)\n");
}

#[test]
fn junit_is_the_report_of_the_whole_input() {
    let dir = tempfile::tempdir().unwrap();
    let (first, last) = (dir.path().join("a.yaml"), dir.path().join("z.yaml"));
    std::fs::write(
        &first,
        format!(
            "{}---\n{GOOD_SERVICE}---\n{}---\nkey: [unclosed\n---\n{}",
            broken_statefulset("early"),
            statefulsets(300),
            broken_statefulset("late")
        ),
    )
    .unwrap();
    std::fs::write(&last, format!("{BAD_SERVICE}---\nkey: [unclosed\n")).unwrap();
    let paths = [first, last];
    let output = stsguard(&[
        "validate",
        "--output",
        "junit",
        arg(&paths[0]),
        arg(&paths[1]),
    ]);
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        whole_input(OutputFormat::Junit, &paths, None)
    );
}

#[test]
fn a_list_on_stdin_waits_for_a_later_service_item_by_item() {
    let item = |name: &str| {
        statefulset(name)
            .lines()
            .map(|line| format!("  {line}\n"))
            .collect::<String>()
            .replacen("  apiVersion", "- apiVersion", 1)
    };
    let list = format!(
        "apiVersion: v1\nkind: List\nitems:\n{}{}",
        item("one"),
        item("two")
    );
    let text = format!("{list}{}---\n{BAD_SERVICE}", filler());
    let output = stsguard_stdin(&["validate", "--output", "json", "-"], text.as_bytes());
    let json = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        json,
        whole_input_json(&[PathBuf::from("-")], Some(text.as_bytes()))
    );
    assert_eq!(json.matches("\"rule\": \"service-headless\"").count(), 2);
}

/// JSON, SARIF and JUnit put their document together at the end: in input order, numbered
/// (SARIF's fingerprints) and counted as a review of the whole input at once gives them,
/// whatever order the verdicts were settled in.
#[test]
fn documents_assembled_at_the_end_are_those_of_the_whole_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mixed.yaml");
    // Two StatefulSets of one name with the same finding (SARIF numbers them 1 and 2): the
    // first waits for a Service that comes last, the second does not and is given first.
    let no_service =
        broken_statefulset("dup").replace("serviceName: cassandra", "serviceName: \"\"");
    let text = format!(
        "{}---\n{no_service}---\nkey: [unclosed\n{}---\n{BAD_SERVICE}---\n{}",
        broken_statefulset("dup"),
        filler(),
        statefulset("late")
    );
    std::fs::write(&file, &text).unwrap();
    for format in [OutputFormat::Json, OutputFormat::Sarif, OutputFormat::Junit] {
        let name = format!("{format:?}").to_lowercase();
        let output = stsguard(&["validate", "--output", &name, arg(&file)]);
        assert_eq!(
            String::from_utf8(output.stdout).unwrap(),
            whole_input(format, std::slice::from_ref(&file), None),
            "{name}"
        );
    }
    let sarif = stsguard(&["validate", "--output", "sarif", arg(&file)]).stdout;
    let sarif = String::from_utf8(sarif).unwrap();
    assert!(sarif.contains(":1\""), "{sarif}");
    assert!(sarif.contains(":2\""), "{sarif}");
}
