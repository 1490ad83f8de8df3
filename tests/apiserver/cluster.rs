//! A real API server (`../shared/k8s/up`) and kubectl pointed at it.
//!
//! The server is etcd plus kube-apiserver 1.19 on free loopback ports, stopped by `down` when
//! its [`Cluster`] is dropped — also when a scenario panics or setup fails half-way, since the
//! guard exists before `up` runs.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// What the tests need from outside the repository.
#[derive(Debug, Clone)]
pub struct Tools {
    /// `../shared/k8s`: `up`, `down` and the kube-apiserver binary.
    pub k8s: PathBuf,
    pub kubectl: PathBuf,
    pub etcd: PathBuf,
}

impl Tools {
    /// The tools, or `None` after `common::skip` has said which one is missing.
    pub fn find() -> Option<Tools> {
        let k8s = crate::common::shared("k8s")?;
        for file in ["up", "down", "kube-apiserver"] {
            assert!(k8s.join(file).is_file(), "{} has no {file}", k8s.display());
        }
        let etcd = crate::common::program("etcd", "ETCD")?;
        let kubectl = crate::common::kubectl()?;
        Some(Tools { k8s, kubectl, etcd })
    }
}

/// One kubectl run.
#[derive(Debug)]
pub struct Run {
    pub command: String,
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("`{}` printed no JSON ({e}):\n{}", self.command, self))
    }

    /// The `Warning: ` lines kubectl printed: what the API server passed on from the webhooks'
    /// `response.warnings`.
    pub fn warnings(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter_map(|line| line.strip_prefix("Warning: "))
            .collect()
    }

    /// Whether a `Warning: ` line starts with `rule:` (stsguard puts the rule id first).
    pub fn warns(&self, rule: &str) -> bool {
        self.warnings()
            .iter()
            .any(|warning| warning.starts_with(&format!("{rule}:")))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$ {}\n--- exit: {} ---\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            if self.ok { "success" } else { "failure" },
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// An API server started by `up DIR`, stopped by `down DIR` on drop.
pub struct Cluster {
    dir: PathBuf,
    kubeconfig: PathBuf,
    tools: Tools,
    stopped: AtomicBool,
    /// Log files whose last lines go into failure messages (the webhook server's).
    logs: Mutex<Vec<PathBuf>>,
}

impl Cluster {
    /// Starts a server with its state in `dir` (about 5 s).
    pub fn up(tools: &Tools, dir: &Path) -> Result<Cluster, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        // The guard comes first: if `up` fails after starting etcd, dropping it still stops etcd.
        let mut cluster = Cluster {
            dir: dir.to_path_buf(),
            kubeconfig: dir.join("kubeconfig"),
            tools: tools.clone(),
            stopped: AtomicBool::new(false),
            logs: Mutex::new(Vec::new()),
        };
        // `up` looks for etcd on the PATH; $ETCD may name one elsewhere.
        let mut path = vec![tools.etcd.parent().unwrap().to_path_buf()];
        path.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let output = Command::new("bash")
            .arg(tools.k8s.join("up"))
            .arg(dir)
            .env("PATH", std::env::join_paths(path).unwrap())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}/up: {e}", tools.k8s.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let kubeconfig = stdout
            .lines()
            .find_map(|line| line.strip_prefix("KUBECONFIG="))
            .filter(|_| output.status.success());
        let Some(kubeconfig) = kubeconfig else {
            return Err(format!(
                "`up {}` failed ({}):\n{stdout}{}\nAPI server log: {}",
                dir.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr),
                dir.join("apiserver.log").display()
            ));
        };
        cluster.kubeconfig = PathBuf::from(kubeconfig);
        Ok(cluster)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The kubeconfig `up` wrote: contexts `admin` (current) and `restricted`.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Stops the kube-apiserver process only (etcd keeps running, so nothing stored is
    /// lost), and returns its command line, with which [`Cluster::start_apiserver`] starts
    /// it again on the same port.
    #[track_caller]
    pub fn stop_apiserver(&self) -> Vec<OsString> {
        let pid_file = self.dir.join("apiserver.pid");
        let pid: u32 = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or_else(|| panic!("no pid in {}", pid_file.display()));
        // Read before the process goes: the arguments `up` chose (ports, files).
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .unwrap_or_else(|e| panic!("the API server (pid {pid}) is not running: {e}"));
        let args: Vec<OsString> = cmdline
            .split(|&byte| byte == 0)
            .filter(|arg| !arg.is_empty())
            .map(|arg| OsString::from_vec(arg.to_vec()))
            .collect();
        assert!(
            args[0].to_string_lossy().ends_with("kube-apiserver"),
            "pid {pid} is not the API server: {args:?}"
        );
        let gone = || {
            // Gone, or a zombie waiting for init to reap it: either way it serves nothing.
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next();
            matches!(state, None | Some("Z")).then_some(())
        };
        // SIGTERM first. The server then stops listening at once, but waits up to its
        // shutdown timeout (60 s) for the watches still open — stsguard's among them — to
        // end; after 5 s it is killed, which ends them as a crash would.
        let kill = |signal: &str| {
            let status = Command::new("kill")
                .args([signal, &pid.to_string()])
                .status()
                .unwrap();
            assert!(status.success() || gone().is_some(), "kill {signal} {pid}");
        };
        kill("-TERM");
        if eventually(Duration::from_secs(5), gone).is_none() {
            kill("-KILL");
        }
        assert!(
            eventually(Duration::from_secs(10), gone).is_some(),
            "the API server (pid {pid}) does not stop"
        );
        args
    }

    /// Starts the API server again with the arguments [`Cluster::stop_apiserver`] returned,
    /// and `extra` ones, the way `up` starts it (in a session of its own, its pid where `down`
    /// looks for it, appending to its log); waits until its `/readyz` says ok.
    #[track_caller]
    pub fn start_apiserver(&self, args: &[OsString], extra: &[&str]) {
        let log = self.apiserver_log();
        let output = Command::new("bash")
            .arg("-c")
            .arg(r#"log=$1; shift; setsid "$@" >> "$log" 2>&1 < /dev/null & echo $!"#)
            .arg("start-apiserver")
            .arg(&log)
            .args(args)
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let pid = String::from_utf8_lossy(&output.stdout).trim().to_string();
        assert!(
            output.status.success() && pid.parse::<u32>().is_ok(),
            "cannot start the API server: {output:?}"
        );
        std::fs::write(self.dir.join("apiserver.pid"), format!("{pid}\n")).unwrap();
        self.wait_until_apiserver_ready();
    }

    /// Waits until the API server's `/readyz` says ok (about 5 s after a start).
    #[track_caller]
    pub fn wait_until_apiserver_ready(&self) {
        let ready = eventually(Duration::from_secs(60), || {
            let run = self.kubectl(&["get", "--raw", "/readyz"], None);
            (run.ok && run.stdout.trim() == "ok").then_some(())
        });
        if ready.is_none() {
            self.fail(
                "the API server is not ready again after 60 s",
                &self.kubectl(&["get", "--raw", "/readyz?verbose"], None),
            );
        }
    }

    /// Creates Nodes as a cluster has them once their kubelets report Ready: `status`
    /// (allocatable) set through the status subresource, as a kubelet does (a create ignores
    /// the status it is given), with a `Ready` condition; and the taints of the manifest only.
    /// The 1.19 API server's TaintNodesByCondition plugin taints every new Node
    /// `node.kubernetes.io/not-ready:NoSchedule`, which the node lifecycle controller (absent
    /// here) removes once the node is Ready.
    #[track_caller]
    pub fn create_nodes(&self, nodes: &[Value]) {
        self.kubectl_ok(
            &["create", "-f", "-"],
            Some(&serde_json::to_vec(&list(nodes.to_vec())).unwrap()),
        );
        for node in nodes {
            let name = node["metadata"]["name"].as_str().unwrap();
            let taints = json!({"spec": {"taints": node["spec"]["taints"]}}).to_string();
            self.kubectl_ok(
                &["patch", "node", name, "--type=merge", "-p", &taints],
                None,
            );
            let mut status = node["status"].clone();
            status["conditions"] = json!([{
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
            }]);
            let status = json!({"status": status}).to_string();
            self.kubectl_ok(
                &[
                    "patch",
                    "node",
                    name,
                    "--subresource=status",
                    "--type=merge",
                    "-p",
                    &status,
                ],
                None,
            );
        }
    }

    /// The API server's own log (klog lines, such as a webhook call that failed open).
    pub fn apiserver_log(&self) -> PathBuf {
        self.dir.join("apiserver.log")
    }

    /// Adds a log whose last lines every failure message shows.
    pub fn show_log_on_failure(&self, path: &Path) {
        self.logs.lock().unwrap().push(path.to_path_buf());
    }

    /// What a failure message adds: where the logs are, and the end of each watched log.
    pub fn context(&self) -> String {
        let mut text = format!("API server log: {}", self.apiserver_log().display());
        for log in self.logs.lock().unwrap().iter() {
            let content = std::fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = content.lines().collect();
            let tail = &lines[lines.len().saturating_sub(12)..];
            text.push_str(&format!(
                "\n--- last lines of {} ---\n{}",
                log.display(),
                tail.join("\n")
            ));
        }
        text
    }

    /// Runs kubectl against this server (`--kubeconfig`, its own discovery cache), with
    /// `stdin` when given.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        use std::io::Write;
        let cache = self.dir.join("kubectl-cache");
        let mut command = Command::new(&self.tools.kubectl);
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&cache)
            // A hung call fails the scenario instead of the whole run.
            .arg("--request-timeout=30s")
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.tools.kubectl.display()));
        if let Some(bytes) = stdin {
            let mut input = child.stdin.take().unwrap();
            input.write_all(bytes).unwrap();
        }
        let output = child.wait_with_output().unwrap();
        Run {
            command: format!("kubectl {}", args.join(" ")),
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs kubectl and panics, with the logs, unless it succeeds.
    #[track_caller]
    pub fn kubectl_ok(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let run = self.kubectl(args, stdin);
        if !run.ok {
            self.fail(&format!("`{}` failed", run.command), &run);
        }
        run
    }

    /// Panics with what kubectl said and the logs.
    #[track_caller]
    pub fn fail(&self, what: &str, run: &Run) -> ! {
        panic!("{what}\n{run}\n{}", self.context())
    }

    /// Creates (or updates) cluster-scoped or namespaced objects with `kubectl apply`.
    #[track_caller]
    pub fn apply(&self, objects: Vec<Value>) -> Run {
        let list = serde_json::to_vec(&list(objects)).unwrap();
        self.kubectl_ok(&["apply", "-f", "-"], Some(&list))
    }

    /// A namespace with these labels, created now.
    #[track_caller]
    pub fn namespace(&self, name: &str, labels: Value) -> Namespace<'_> {
        let object = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": labels},
        });
        self.kubectl_ok(
            &["create", "-f", "-"],
            Some(&serde_json::to_vec(&object).unwrap()),
        );
        Namespace {
            name: name.to_string(),
            cluster: self,
        }
    }

    /// A namespace that exists already.
    pub fn existing_namespace(&self, name: &str) -> Namespace<'_> {
        Namespace {
            name: name.to_string(),
            cluster: self,
        }
    }

    /// Stops the server (once).
    pub fn stop(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        let result = Command::new("bash")
            .arg(self.tools.k8s.join("down"))
            .arg(&self.dir)
            .stdin(Stdio::null())
            .output();
        if let Err(e) = result {
            eprintln!("cannot stop the API server in {}: {e}", self.dir.display());
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `kind: List` of objects, which kubectl reads as one input.
pub fn list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}

/// One namespace of a [`Cluster`], with kubectl verbs named for what the scenarios do.
pub struct Namespace<'a> {
    pub name: String,
    pub cluster: &'a Cluster,
}

impl Namespace<'_> {
    fn kubectl(&self, args: &[&str], stdin: Option<&Value>) -> Run {
        let mut all = vec!["--namespace", self.name.as_str()];
        all.extend(args);
        let body = stdin.map(|value| serde_json::to_vec(value).unwrap());
        self.cluster.kubectl(&all, body.as_deref())
    }

    /// `kubectl create` of these objects; whatever the API server answered.
    pub fn create(&self, objects: &[Value]) -> Run {
        self.kubectl(&["create", "-f", "-"], Some(&list(objects.to_vec())))
    }

    /// `kubectl create`, which must succeed.
    #[track_caller]
    pub fn created(&self, objects: &[Value]) -> Run {
        let run = self.create(objects);
        if !run.ok {
            self.cluster
                .fail(&format!("creating in {} was refused", self.name), &run);
        }
        run
    }

    /// `kubectl create --dry-run=server -o json` of one object: reviewed and defaulted by
    /// the API server and its webhooks, never stored.
    pub fn dry_run_create(&self, object: &Value) -> Run {
        self.kubectl(
            &["create", "--dry-run=server", "-o", "json", "-f", "-"],
            Some(object),
        )
    }

    /// `kubectl replace` of one object (a full PUT).
    pub fn replace(&self, object: &Value) -> Run {
        self.kubectl(&["replace", "-f", "-"], Some(object))
    }

    /// `kubectl apply` of one object: client-side (a three-way patch against the
    /// last-applied annotation) or `--server-side` (the API server merges it by field owner).
    pub fn apply(&self, object: &Value, server_side: bool) -> Run {
        let mut args = vec!["apply", "-f", "-"];
        if server_side {
            args.push("--server-side");
        }
        self.kubectl(&args, Some(object))
    }

    /// `kubectl patch statefulset NAME` with a patch of `kind` (`merge`, `json`, `strategic`).
    pub fn patch(&self, name: &str, kind: &str, patch: &Value) -> Run {
        let patch = patch.to_string();
        self.kubectl(
            &[
                "patch",
                "statefulset",
                name,
                &format!("--type={kind}"),
                "-p",
                &patch,
            ],
            None,
        )
    }

    /// `kubectl scale statefulset NAME`: a write of the `statefulsets/scale` subresource.
    pub fn scale(&self, name: &str, replicas: u32) -> Run {
        self.kubectl(
            &[
                "scale",
                "statefulset",
                name,
                &format!("--replicas={replicas}"),
            ],
            None,
        )
    }

    /// `kubectl set image statefulset/NAME container=image` (a strategic merge patch).
    pub fn set_image(&self, name: &str, container: &str, image: &str) -> Run {
        self.kubectl(
            &[
                "set",
                "image",
                &format!("statefulset/{name}"),
                &format!("{container}={image}"),
            ],
            None,
        )
    }

    /// Labels this namespace (`--overwrite`).
    #[track_caller]
    pub fn label(&self, key: &str, value: &str) {
        self.cluster.kubectl_ok(
            &[
                "label",
                "namespace",
                &self.name,
                &format!("{key}={value}"),
                "--overwrite",
            ],
            None,
        );
    }

    /// The StatefulSet as the API server stored it.
    #[track_caller]
    pub fn stored(&self, name: &str) -> Value {
        let run = self.kubectl(&["get", "statefulset", name, "-o", "json"], None);
        if !run.ok {
            self.cluster.fail(
                &format!("StatefulSet {}/{name} is not there", self.name),
                &run,
            );
        }
        run.json()
    }

    /// Asserts that no StatefulSet of that name was stored.
    #[track_caller]
    pub fn assert_absent(&self, name: &str) {
        let run = self.kubectl(&["get", "statefulset", name, "-o", "name"], None);
        if run.ok || !run.stderr.contains("NotFound") {
            self.cluster.fail(
                &format!("StatefulSet {}/{name} should not exist", self.name),
                &run,
            );
        }
    }
}

/// Polls `probe` every 200 ms until it returns `Some`, for at most `limit`.
pub fn eventually<T>(limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let started = Instant::now();
    loop {
        if let Some(found) = probe() {
            return Some(found);
        }
        if started.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
