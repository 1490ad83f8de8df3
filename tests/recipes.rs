//! The README's "CI recipes", read from the README itself and run as far as they can run
//! here, so that the README and the CLI cannot drift apart: the pipe recipes verbatim through
//! `sh` (real `kubectl kustomize`; a stand-in `helm`, see [`helm_template_recipe`]), the
//! `stsguard validate` lines of the GitHub Actions and GitLab CI recipes verbatim on good and
//! broken manifests, and the pre-commit hook of `.pre-commit-hooks.yaml` through pre-commit
//! itself ([`pre_commit_hook_fails_on_the_broken_manifest_and_names_it`]).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The README's `## CI recipes` section.
fn recipes_section() -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    readme
        .split("\n## ")
        .find(|section| section.starts_with("CI recipes\n"))
        .expect("README has a ## CI recipes section")
        .to_string()
}

/// The fenced code blocks of the section: (language, body).
fn code_blocks() -> Vec<(String, String)> {
    let section = recipes_section();
    let mut blocks = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if let Some(language) = line.strip_prefix("```") {
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            blocks.push((language.to_string(), body.join("\n") + "\n"));
        }
    }
    blocks
}

/// The YAML block whose first line is `# NAME`, parsed.
fn yaml_recipe(name: &str) -> Value {
    let (_, body) = code_blocks()
        .into_iter()
        .find(|(language, body)| language == "yaml" && body.starts_with(&format!("# {name}\n")))
        .unwrap_or_else(|| panic!("README's CI recipes have no yaml block for {name}"));
    parse_yaml(&body)
}

fn parse_yaml(text: &str) -> Value {
    let mut documents = stsguard::yaml::parse_stream(text);
    assert_eq!(documents.len(), 1, "one YAML document");
    documents
        .remove(0)
        .expect("valid YAML")
        .value
        .expect("a document with content")
}

/// The lines of the `sh` block that pipe into `stsguard validate -`.
fn pipe_recipe(starts_with: &str) -> String {
    code_blocks()
        .into_iter()
        .filter(|(language, _)| language == "sh")
        .flat_map(|(_, body)| body.lines().map(str::to_string).collect::<Vec<_>>())
        .find(|line| line.starts_with(starts_with))
        .unwrap_or_else(|| panic!("README's CI recipes have no `{starts_with} …` line"))
}

/// A scratch directory with `bin/stsguard` (the built binary) for recipes run through `sh`.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        let scratch = Scratch { dir };
        scratch.link_program("stsguard", Path::new(env!("CARGO_BIN_EXE_stsguard")));
        scratch
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn link_program(&self, name: &str, program: &Path) {
        std::os::unix::fs::symlink(program, self.path().join("bin").join(name)).unwrap();
    }

    fn write(&self, path: &str, contents: &str) {
        let path = self.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    fn copy_data(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(common::data(from)).unwrap();
        self.write(to, &text);
    }

    /// Runs a recipe's shell line as CI would: `sh -e -c LINE` in the scratch directory,
    /// with its `bin/` first on `PATH` and no policy from the environment.
    fn sh(&self, line: &str) -> Output {
        let path = std::env::join_paths(
            std::iter::once(self.path().join("bin")).chain(
                std::env::var_os("PATH")
                    .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
                    .unwrap_or_default(),
            ),
        )
        .unwrap();
        Command::new("sh")
            .args(["-e", "-c", line])
            .current_dir(self.path())
            .env("PATH", path)
            .env_remove("STSGUARD_POLICY")
            .output()
            .unwrap()
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.path().join(path)).unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn show(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

/// The seed examples (no errors) as `k8s/`, the recipes' manifest directory.
fn good_manifests(scratch: &Scratch) {
    for entry in std::fs::read_dir(common::data("examples")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        scratch.copy_data(&format!("examples/{name}"), &format!("k8s/{name}"));
    }
}

/// A manifest with errors beside one without.
fn broken_manifests(scratch: &Scratch) {
    scratch.copy_data("examples/web.yaml", "k8s/web.yaml");
    scratch.copy_data("broken/warehouse.yaml", "k8s/warehouse.yaml");
}

/// The `run:` (GitHub) or `script:` (GitLab) lines that call stsguard.
fn stsguard_lines(lines: &[&str]) -> Vec<String> {
    lines
        .iter()
        .filter(|line| line.starts_with("stsguard "))
        .map(|line| line.to_string())
        .collect()
}

/// `cargo install --locked --git "$STSGUARD_GIT" stsguard`: the README's install section
/// (no published release binary), with the lock file and this crate's name.
fn assert_install_line(line: &str) {
    assert_eq!(
        line,
        format!(
            "cargo install --locked --git \"$STSGUARD_GIT\" {}",
            env!("CARGO_PKG_NAME")
        )
    );
}

/// The file a line redirects its standard output to (`… > FILE …`).
fn redirect_target(line: &str) -> &str {
    line.split(" > ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("`{line}` writes no file"))
}

#[test]
fn github_actions_recipe() {
    let workflow = yaml_recipe(".github/workflows/stsguard.yaml");
    let jobs = workflow["jobs"].as_object().expect("jobs");
    assert_eq!(jobs.len(), 1);
    let job = jobs.values().next().unwrap();
    assert_eq!(
        job["permissions"]["security-events"], "write",
        "upload-sarif needs security-events: write"
    );
    assert!(workflow["env"]["STSGUARD_GIT"].is_string());
    let steps = job["steps"].as_array().unwrap();
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    assert_install_line(runs[0]);
    let lines = stsguard_lines(&runs);
    let [sarif, github] = lines.as_slice() else {
        panic!("two stsguard steps (SARIF, then annotations): {lines:?}")
    };
    assert!(sarif.contains("--output sarif"), "{sarif}");
    assert!(github.contains("--output github"), "{github}");
    let upload = steps
        .iter()
        .position(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("github/codeql-action/upload-sarif@"))
        })
        .expect("an upload-sarif step");
    let position = |line: &str| steps.iter().position(|s| s["run"] == line).unwrap();
    assert!(
        position(sarif) < upload && upload < position(github),
        "SARIF, upload, then the step that fails the job"
    );
    let sarif_file = redirect_target(sarif);
    assert_eq!(steps[upload]["with"]["sarif_file"], sarif_file);

    // Manifests without errors: both steps pass, the SARIF log has warnings only.
    let scratch = Scratch::new();
    good_manifests(&scratch);
    let output = scratch.sh(sarif);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let log: Value = serde_json::from_str(&scratch.read(sarif_file)).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert!(results.iter().all(|r| r["level"] == "warning"), "{log}");
    let output = scratch.sh(github);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert!(
        !text(&output.stdout).contains("::error"),
        "{}",
        show(&output)
    );

    // Errors: the SARIF step lets exit 1 through and the upload gets the results, located
    // in the repository; the annotation step fails the job with located annotations.
    let scratch = Scratch::new();
    broken_manifests(&scratch);
    let output = scratch.sh(sarif);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let log: Value = serde_json::from_str(&scratch.read(sarif_file)).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    let errors: Vec<&Value> = results.iter().filter(|r| r["level"] == "error").collect();
    assert_eq!(errors.len(), 3, "{log}");
    for result in errors {
        let location = &result["locations"][0]["physicalLocation"];
        assert_eq!(location["artifactLocation"]["uri"], "k8s/warehouse.yaml");
        assert!(location["region"]["startLine"].as_u64().unwrap() > 0);
    }
    let output = scratch.sh(github);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    assert!(
        text(&output.stdout).contains(
            "::error file=k8s/warehouse.yaml,line=27,col=11,title=volume-mount-unknown::"
        ),
        "{}",
        show(&output)
    );

    // An unreadable path (exit 2) is not let through: the step fails.
    let scratch = Scratch::new();
    let output = scratch.sh(sarif);
    assert!(!output.status.success(), "no k8s/: {}", show(&output));
    assert!(text(&output.stderr).contains("k8s/"), "{}", show(&output));
}

#[test]
fn gitlab_ci_recipe() {
    let pipeline = yaml_recipe(".gitlab-ci.yml");
    let jobs = pipeline.as_object().unwrap();
    assert_eq!(jobs.len(), 1);
    let job = jobs.values().next().unwrap();
    assert!(job["variables"]["STSGUARD_GIT"].is_string());
    let script: Vec<&str> = job["script"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_install_line(script[0]);
    let lines = stsguard_lines(&script);
    let [junit] = lines.as_slice() else {
        panic!("one stsguard line: {lines:?}")
    };
    assert!(junit.contains("--output junit"), "{junit}");
    let report = redirect_target(junit);
    assert_eq!(job["artifacts"]["reports"]["junit"], report);
    assert_eq!(
        job["artifacts"]["when"], "always",
        "the report is kept when the job fails"
    );

    let testcases = |xml: &str| -> Vec<(String, bool)> {
        let document = roxmltree::Document::parse(xml).unwrap();
        document
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .map(|n| {
                let failed = n.children().any(|c| c.has_tag_name("failure"));
                (n.attribute("name").unwrap().to_string(), failed)
            })
            .collect()
    };
    let scratch = Scratch::new();
    good_manifests(&scratch);
    let output = scratch.sh(junit);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let cases = testcases(&scratch.read(report));
    assert!(cases.len() >= 7, "{cases:?}");
    assert!(cases.iter().all(|(_, failed)| !failed), "{cases:?}");

    let scratch = Scratch::new();
    broken_manifests(&scratch);
    let output = scratch.sh(junit);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let cases = testcases(&scratch.read(report));
    assert_eq!(
        cases,
        [
            (
                "StatefulSet default/analytics-warehouse-primary-replica-set-for-reporting-east"
                    .to_string(),
                true
            ),
            ("StatefulSet default/web".to_string(), false),
        ]
    );
}

/// A governing Service and its StatefulSet, as a kustomize base.
const BASE: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: db
spec:
  clusterIP: None
  selector:
    app: db
  ports:
  - name: pg
    port: 5432
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: 3
  selector:
    matchLabels:
      app: db
  template:
    metadata:
      labels:
        app: db
    spec:
      containers:
      - name: db
        image: postgres:16
        volumeMounts:
        - name: data
          mountPath: /var/lib/postgresql/data
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: standard
      resources:
        requests:
          storage: 10Gi
";

/// The pipe's run passed with nothing to report on its one StatefulSet.
fn assert_clean_single_statefulset(output: &Output) {
    assert_eq!(output.status.code(), Some(0), "{}", show(output));
    assert!(
        text(&output.stdout).ends_with("0 errors, 0 warnings in 1 file (1 StatefulSet)\n"),
        "{}",
        show(output)
    );
}

#[test]
fn kubectl_kustomize_recipe() {
    let line = pipe_recipe("kubectl kustomize ");
    assert!(line.ends_with(" | stsguard validate -"), "{line}");
    let overlay = line
        .strip_prefix("kubectl kustomize ")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let Some(kubectl) = common::kubectl() else {
        return;
    };
    let scratch = Scratch::new();
    scratch.link_program("kubectl", &kubectl);
    scratch.write("base/db.yaml", BASE);
    scratch.write(
        "base/kustomization.yaml",
        "resources:\n- db.yaml\nlabels:\n- pairs:\n    team: data\n",
    );
    // The overlay moves and renames the Service and the StatefulSet (kustomize rewrites
    // serviceName to match): nothing to report.
    scratch.write(
        &format!("{overlay}/kustomization.yaml"),
        "namespace: production\nnamePrefix: prod-\nresources:\n- ../../base\n",
    );
    let output = scratch.sh(&line);
    assert_clean_single_statefulset(&output);

    // A patch mounts a volume that does not exist: an error, located in the stream.
    scratch.write(
        &format!("{overlay}/kustomization.yaml"),
        "namespace: production\nnamePrefix: prod-\nresources:\n- ../../base\npatches:\n\
         - target: {kind: StatefulSet, name: db}\n  patch: |-\n\
         \x20   - op: add\n      path: /spec/template/spec/containers/0/volumeMounts/-\n\
         \x20     value: {name: config, mountPath: /etc/db}\n",
    );
    let output = scratch.sh(&line);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let stdout = text(&output.stdout);
    let finding = stdout
        .lines()
        .find(|l| l.contains("error[volume-mount-unknown]"))
        .unwrap_or_else(|| panic!("{}", show(&output)));
    assert!(finding.starts_with("<stdin>:"), "{finding}");
}

/// helm is not installed here (no Debian package, and its release binaries cannot be
/// fetched), so the README's line runs with a stand-in `helm` on `PATH` that prints what
/// `helm template` prints for a chart: a multi-document stream, each document after a
/// `# Source:` comment. What is tested is stsguard's side of the pipe.
#[test]
fn helm_template_recipe() {
    let line = pipe_recipe("helm template ");
    assert!(line.ends_with(" | stsguard validate -"), "{line}");
    let arguments = line
        .strip_prefix("helm ")
        .unwrap()
        .strip_suffix(" | stsguard validate -")
        .unwrap();
    let scratch = Scratch::new();
    let rendered = |statefulset: &str| {
        format!(
            "---\n# Source: chart/templates/service.yaml\n{}---\n# Source: chart/templates/statefulset.yaml\n{}",
            BASE.split("---\n").next().unwrap(),
            statefulset,
        )
    };
    scratch.write(
        "bin/helm",
        &format!(
            "#!/bin/sh\n[ \"$*\" = '{arguments}' ] || {{ echo \"helm stand-in: $*\" >&2; exit 2; }}\n\
             cat \"$(dirname \"$0\")/../rendered.yaml\"\n"
        ),
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let helm = scratch.path().join("bin/helm");
        std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    scratch.write(
        "rendered.yaml",
        &rendered(BASE.split("---\n").nth(1).unwrap()),
    );
    let output = scratch.sh(&line);
    assert_clean_single_statefulset(&output);

    let broken = std::fs::read_to_string(common::data("broken/warehouse.yaml")).unwrap();
    scratch.write("rendered.yaml", &rendered(&broken));
    let output = scratch.sh(&line);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    // Located in the stream: the warehouse's mount (line 27 of its file) comes after the
    // Service and helm's separators and `# Source:` comments.
    let service_lines = rendered("").lines().count() as u32;
    let expected = format!(
        "<stdin>:{}:11: error[volume-mount-unknown]",
        27 + service_lines
    );
    assert!(
        text(&output.stdout).contains(&expected),
        "{expected}\n{}",
        show(&output)
    );
}

/// The README's `.pre-commit-config.yaml` uses the hook `.pre-commit-hooks.yaml` defines, and
/// the hook is what the README says it is.
#[test]
fn pre_commit_config_names_the_hook() {
    let config = yaml_recipe(".pre-commit-config.yaml");
    let hooks_text = std::fs::read_to_string(root().join(".pre-commit-hooks.yaml")).unwrap();
    let hooks = parse_yaml(&hooks_text);
    let [hook] = hooks.as_array().unwrap().as_slice() else {
        panic!("one hook: {hooks}")
    };
    assert_eq!(config["repos"][0]["hooks"][0]["id"], hook["id"]);
    assert_eq!(hook["id"], "stsguard-validate");
    assert_eq!(hook["entry"], "stsguard validate");
    assert_eq!(hook["language"], "rust");
    assert_eq!(hook["files"], r"\.(ya?ml|json)$");
}

/// pre-commit from PyPI (`$PRE_COMMIT` or `PATH`; `.ci/run` installs it) runs the hook from
/// this checkout on a throwaway repository with one good and one broken manifest: the hook
/// builds stsguard with `cargo install` as it would for a user, fails, and names the broken
/// file with its line.
///
/// `pre-commit try-repo` clones the checkout at HEAD plus its changes to tracked files (not
/// untracked ones: `git add` a new file to try it). The release build it runs goes to
/// `target/tmp/pre-commit-cargo` (`CARGO_TARGET_DIR`), kept between runs, so that only a
/// first run (and CI's fresh clone) builds every dependency.
#[test]
fn pre_commit_hook_fails_on_the_broken_manifest_and_names_it() {
    let Some(pre_commit) = common::program("pre-commit", "PRE_COMMIT") else {
        return;
    };
    if !root().join(".git").exists() {
        common::skip("the checkout is not a git repository (pre-commit try-repo clones it)");
        return;
    }
    let repo = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let output = Command::new("git")
            .args(args)
            .current_dir(repo.path())
            .output()
            .unwrap();
        assert!(output.status.success(), "git {args:?}: {}", show(&output));
    };
    git(&["init", "-q", "."]);
    let copy = |from: &str, to: &str| {
        let to = repo.path().join(to);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(common::data(from), to).unwrap();
    };
    copy("examples/web.yaml", "good.yaml");
    copy("broken/warehouse.yaml", "manifests/broken.yaml");
    std::fs::write(repo.path().join("notes.txt"), "not a manifest\n").unwrap();
    git(&["add", "."]);

    let target: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pre-commit-cargo");
    let started = std::time::Instant::now();
    let output = Command::new(&pre_commit)
        .args(["try-repo", root().to_str().unwrap(), "stsguard-validate"])
        .args(["--all-files", "--color", "never"])
        .current_dir(repo.path())
        .env("CARGO_TARGET_DIR", &target)
        .env("PRE_COMMIT_HOME", repo.path().join(".pre-commit-home"))
        .env_remove("STSGUARD_POLICY")
        .output()
        .unwrap();
    {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "pre-commit try-repo (with cargo install) took {:.0?}",
            started.elapsed()
        );
    }
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    assert!(
        stdout.contains("stsguard validate") && stdout.contains("Failed"),
        "{}",
        show(&output)
    );
    assert!(
        stdout.contains("manifests/broken.yaml:27:11: error[volume-mount-unknown]"),
        "{}",
        show(&output)
    );
    assert!(
        !stdout
            .lines()
            .any(|l| l.starts_with("good.yaml:") && l.contains("error[")),
        "{}",
        show(&output)
    );
    assert!(
        stdout.contains("3 errors, 3 warnings in 2 files (2 StatefulSets)"),
        "{}",
        show(&output)
    );
}
