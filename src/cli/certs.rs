//! `stsguard certs`: a CA and a serving certificate for the webhook Service, and the two webhook
//! configurations with that CA as their `caBundle`, so a self-signed install needs no openssl.
//!
//! The CA's private key is used once and thrown away: nothing can sign another certificate that
//! the API server would trust for the webhook. Renewing means a new CA; `--keep-previous-ca`
//! keeps the old one in `ca.crt` so the API server trusts both while the pods reload.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use time::{Duration, OffsetDateTime};

use super::{EXIT_OK, print};
use crate::pki;

pub use crate::server::routes::{MUTATE_PATH, VALIDATE_PATH};

/// The webhook configurations of `deploy/base`, which `--render-webhooks` fills in.
pub const WEBHOOKS_YAML: &str = include_str!("../../deploy/base/webhooks.yaml");

/// Service name and namespace that `deploy/base/webhooks.yaml` is written for.
const BASE_SERVICE: &str = "stsguard";
const BASE_NAMESPACE: &str = "stsguard";

/// The label the API server puts on every namespace; the namespaceSelector excludes by it.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

const CA_FILE: &str = "ca.crt";
const CERT_FILE: &str = "tls.crt";
const KEY_FILE: &str = "tls.key";

/// Certificates are valid from an hour ago, so a node whose clock is a little behind accepts
/// them at once.
const BACKDATE: Duration = Duration::hours(1);

#[derive(Debug, Args)]
pub struct CertsArgs {
    /// Name of the webhook's Service.
    #[arg(long, value_name = "NAME", default_value = BASE_SERVICE)]
    pub service: String,

    /// Namespace of the webhook's Service; the rendered namespaceSelector leaves it out.
    #[arg(long, value_name = "NS", default_value = BASE_NAMESPACE)]
    pub namespace: String,

    /// Another DNS name or IP address for the serving certificate (repeatable).
    #[arg(long = "san", value_name = "NAME|IP")]
    pub sans: Vec<String>,

    /// Directory to write ca.crt, tls.crt and tls.key (mode 0600) into; created if missing.
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,

    /// Days the CA is valid.
    #[arg(long, value_name = "DAYS", default_value_t = 3650,
          value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub ca_days: u32,

    /// Days the serving certificate is valid (at most --ca-days).
    #[arg(long, value_name = "DAYS", default_value_t = 365,
          value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub cert_days: u32,

    /// Also render the MutatingWebhookConfiguration and ValidatingWebhookConfiguration with
    /// caBundle set to ca.crt: to FILE, or to stdout without one (`--render-webhooks=FILE`).
    #[arg(long, value_name = "FILE", num_args = 0..=1, require_equals = true,
          default_missing_value = "-")]
    pub render_webhooks: Option<PathBuf>,

    /// Replace files that already exist.
    #[arg(long)]
    pub force: bool,

    /// Keep the CA being replaced after the new one in ca.crt (and so in the caBundle), so the
    /// API server trusts the old serving certificate until the pods have reloaded.
    #[arg(long, requires = "force")]
    pub keep_previous_ca: bool,
}

/// Runs `stsguard certs`.
pub fn run(args: &CertsArgs) -> u8 {
    match generate(args) {
        Ok(()) => EXIT_OK,
        // `{:#}`: each context with the error under it. The errors wrapped here (I/O,
        // [`NameError`], [`pki::IssueError`], [`RenderError`]) have no `source()` that their
        // text already says, so nothing is printed twice.
        Err(error) => print::failure(&format_args!("{error:#}")),
    }
}

/// Only printed, never matched: anyhow.
fn generate(args: &CertsArgs) -> anyhow::Result<()> {
    check_label(&args.service, "--service")?;
    check_label(&args.namespace, "--namespace")?;
    if args.cert_days > args.ca_days {
        bail!(
            "--cert-days {} is longer than --ca-days {}: the certificate would outlive its CA",
            args.cert_days,
            args.ca_days
        );
    }
    let names = subject_alt_names(&args.service, &args.namespace, &args.sans)?;

    let ca_path = args.out_dir.join(CA_FILE);
    let cert_path = args.out_dir.join(CERT_FILE);
    let key_path = args.out_dir.join(KEY_FILE);
    let render_target: Option<PathBuf> = args
        .render_webhooks
        .as_deref()
        .filter(|path| *path != Path::new("-"))
        .map(Path::to_path_buf);
    let mut targets = vec![ca_path.clone(), cert_path.clone(), key_path.clone()];
    targets.extend(render_target.clone());
    if !args.force {
        let existing: Vec<String> = targets
            .iter()
            .filter(|path| fs::symlink_metadata(path).is_ok())
            .map(|path| path.display().to_string())
            .collect();
        if !existing.is_empty() {
            bail!(
                "{} already exist{}; use --force to replace {}",
                existing.join(", "),
                if existing.len() == 1 { "s" } else { "" },
                if existing.len() == 1 { "it" } else { "them" },
            );
        }
    }
    if let Some(dir) = render_target.as_deref().and_then(Path::parent)
        && !dir.as_os_str().is_empty()
        && !dir.is_dir()
    {
        bail!(
            "--render-webhooks: directory {} does not exist",
            dir.display()
        );
    }
    let previous_ca = if args.keep_previous_ca {
        let text = fs::read_to_string(&ca_path).with_context(|| {
            format!(
                "--keep-previous-ca: cannot read the previous CA {}",
                ca_path.display()
            )
        })?;
        Some(first_pem_certificate(&text).with_context(|| {
            format!(
                "--keep-previous-ca: {} holds no PEM certificate",
                ca_path.display()
            )
        })?)
    } else {
        None
    };

    let now = OffsetDateTime::now_utc();
    let ca_name = format!(
        "stsguard webhook CA for {}.{}.svc",
        args.service, args.namespace
    );
    let pair = pki::issue(&pki::Request {
        ca_name: &ca_name,
        names: &names,
        not_before: now - BACKDATE,
        ca_not_after: now + Duration::days(i64::from(args.ca_days)),
        cert_not_after: now + Duration::days(i64::from(args.cert_days)),
    })?;
    let mut ca_bundle = pair.ca_pem.clone();
    if let Some(previous) = previous_ca {
        ca_bundle.push_str(&previous);
    }

    fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("cannot create {}", args.out_dir.display()))?;
    write_file(&key_path, pair.key_pem.as_bytes(), 0o600, args.force)?;
    write_file(&cert_path, pair.cert_pem.as_bytes(), 0o644, args.force)?;
    write_file(&ca_path, ca_bundle.as_bytes(), 0o644, args.force)?;

    if args.render_webhooks.is_some() {
        let rendered = render_webhooks(&args.service, &args.namespace, ca_bundle.as_bytes())?;
        let header = format!(
            "# Rendered by `stsguard certs` for the Service {}/{}; caBundle is {}.\n",
            args.namespace,
            args.service,
            ca_path.display()
        );
        let text = format!("{header}{rendered}");
        match &render_target {
            Some(path) => write_file(path, text.as_bytes(), 0o644, args.force)?,
            None => io::stdout()
                .write_all(text.as_bytes())
                .context("cannot write to stdout")?,
        }
    }

    let mut summary = format!(
        "wrote {}, {} and {} (the key with mode 0600)\n  serving certificate for {}, valid until {}\n  CA valid until {}",
        ca_path.display(),
        cert_path.display(),
        key_path.display(),
        names.join(", "),
        pair.cert_not_after.date(),
        pair.ca_not_after.date(),
    );
    if args.keep_previous_ca {
        summary.push_str(" (ca.crt also holds the previous CA)");
    }
    if let Some(path) = &render_target {
        let _ = write!(summary, "\n  webhook configurations in {}", path.display());
    }
    eprintln!("stsguard: {summary}");
    Ok(())
}

/// The serving certificate's names: `<service>.<namespace>.svc` (what the API server calls)
/// first, its other forms, then every `--san`, without repeats.
fn subject_alt_names(
    service: &str,
    namespace: &str,
    sans: &[String],
) -> Result<Vec<String>, NameError> {
    let mut names = vec![
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
        format!("{service}.{namespace}"),
        service.to_string(),
    ];
    for san in sans {
        let san = san.trim();
        if san.parse::<IpAddr>().is_err() {
            check_dns_name(san)?;
        }
        if !names.iter().any(|name| name == san) {
            names.push(san.to_string());
        }
    }
    Ok(names)
}

/// A `--service`, `--namespace` or `--san` that cannot name the webhook Service.
#[derive(Debug, thiserror::Error)]
pub enum NameError {
    #[error(
        "{flag} {value:?} is not a valid name: at most 63 lower-case letters, digits and '-', \
         starting and ending with a letter or digit"
    )]
    Label { flag: &'static str, value: String },
    #[error(
        "--san {name:?} is neither an IP address nor a DNS name (lower-case labels of \
         letters, digits and '-', separated by dots; `*.` allowed in front)"
    )]
    San { name: String },
}

/// A Service name or namespace: an RFC 1123 label (lower-case letters, digits and `-`).
fn check_label(value: &str, flag: &'static str) -> Result<(), NameError> {
    if is_label(value) {
        Ok(())
    } else {
        Err(NameError::Label {
            flag,
            value: value.to_string(),
        })
    }
}

fn is_label(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-')
}

/// A `--san` that is not an IP address: a DNS name, possibly with a leading `*.` wildcard.
fn check_dns_name(name: &str) -> Result<(), NameError> {
    let labels = name.strip_prefix("*.").unwrap_or(name);
    if name.len() <= 253 && labels.split('.').all(is_label) {
        Ok(())
    } else {
        Err(NameError::San {
            name: name.to_string(),
        })
    }
}

/// The first `CERTIFICATE` block of a PEM file, with its delimiters and a final newline.
fn first_pem_certificate(text: &str) -> Option<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = text.find(BEGIN)?;
    let end = start + text[start..].find(END)? + END.len();
    Some(format!("{}\n", &text[start..end]))
}

/// The webhook configurations of `deploy/base/webhooks.yaml` for the Service
/// `<namespace>/<service>`, with `ca_bundle` (PEM) as every webhook's `caBundle` and the
/// namespaceSelector leaving out `namespace` instead of the base's `stsguard`. YAML, two
/// documents.
pub fn render_webhooks(
    service: &str,
    namespace: &str,
    ca_bundle: &[u8],
) -> Result<String, RenderError> {
    let client_config = |config: &mut WebhookClientConfig| {
        config.ca_bundle = Some(ByteString(ca_bundle.to_vec()));
        if let Some(reference) = config.service.as_mut() {
            reference.name = service.to_string();
            reference.namespace = namespace.to_string();
        }
    };
    let mut rendered = String::new();
    for document in crate::yaml::parse_stream(WEBHOOKS_YAML) {
        let value = document.map_err(RenderError::Base)?.value;
        let Some(value) = value else { continue };
        let kind = value
            .get("kind")
            .and_then(|kind| kind.as_str())
            .unwrap_or("")
            .to_string();
        let yaml = match kind.as_str() {
            "MutatingWebhookConfiguration" => {
                let mut configuration: MutatingWebhookConfiguration = serde_json::from_value(value)
                    .map_err(|error| RenderError::Decode {
                        kind: kind.clone(),
                        error,
                    })?;
                for webhook in configuration.webhooks.iter_mut().flatten() {
                    client_config(&mut webhook.client_config);
                    exclude_own_namespace(webhook.namespace_selector.as_mut(), namespace);
                }
                to_yaml(&configuration)?
            }
            "ValidatingWebhookConfiguration" => {
                let mut configuration: ValidatingWebhookConfiguration =
                    serde_json::from_value(value).map_err(|error| RenderError::Decode {
                        kind: kind.clone(),
                        error,
                    })?;
                for webhook in configuration.webhooks.iter_mut().flatten() {
                    client_config(&mut webhook.client_config);
                    exclude_own_namespace(webhook.namespace_selector.as_mut(), namespace);
                }
                to_yaml(&configuration)?
            }
            other => {
                return Err(RenderError::UnexpectedKind {
                    kind: other.to_string(),
                });
            }
        };
        if !rendered.is_empty() {
            rendered.push_str("---\n");
        }
        rendered.push_str(&yaml);
    }
    Ok(rendered)
}

/// Swaps the base's own namespace for `namespace` in the `kubernetes.io/metadata.name NotIn`
/// expression: the webhook must never judge the namespace it runs in.
fn exclude_own_namespace(selector: Option<&mut LabelSelector>, namespace: &str) {
    let expressions = selector
        .and_then(|selector| selector.match_expressions.as_mut())
        .into_iter()
        .flatten()
        .filter(|expression| {
            expression.key == NAMESPACE_NAME_LABEL && expression.operator == "NotIn"
        });
    for expression in expressions {
        let values = expression.values.get_or_insert_with(Vec::new);
        for value in values.iter_mut() {
            if value == BASE_NAMESPACE {
                *value = namespace.to_string();
            }
        }
        let mut seen = Vec::new();
        values.retain(|value| {
            let first = !seen.contains(value);
            seen.push(value.clone());
            first
        });
    }
}

/// Why the webhook configurations of `deploy/base` could not be rendered: the embedded file
/// is broken, which a test catches before a release. No variant has a `source()`: the text
/// says the cause once.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("deploy/base/webhooks.yaml: {0}")]
    Base(crate::yaml::YamlError),
    #[error("deploy/base/webhooks.yaml: unexpected kind {kind:?}")]
    UnexpectedKind { kind: String },
    #[error("{kind}: {error}")]
    Decode {
        kind: String,
        error: serde_json::Error,
    },
    #[error("{0}")]
    Encode(serde_saphyr::ser::Error),
}

fn to_yaml(value: &impl serde::Serialize) -> Result<String, RenderError> {
    let mut text = serde_saphyr::to_string(value).map_err(RenderError::Encode)?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Writes `contents` to `path`, created with `mode` (never widened afterwards). Without
/// `replace` the file must not exist; with it, a new file is written beside the old one and
/// renamed over it, so readers never see half a file and an existing file's mode or a symlink
/// at `path` does not carry over.
fn write_file(path: &Path, contents: &[u8], mode: u32, replace: bool) -> anyhow::Result<()> {
    let failed = || format!("cannot write {}", path.display());
    if !replace {
        let mut file = create_new(path, mode).with_context(failed)?;
        return file
            .write_all(contents)
            .and_then(|()| file.sync_all())
            .with_context(failed);
    }
    let name = path
        .file_name()
        .map_or_else(Default::default, |name| name.to_string_lossy());
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = create_new(&temporary, mode)
        .and_then(|mut file| file.write_all(contents).and_then(|()| file.sync_all()))
        .and_then(|()| fs::rename(&temporary, path));
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written.with_context(failed)
}

#[cfg(unix)]
fn create_new(path: &Path, mode: u32) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
}

#[cfg(not(unix))]
fn create_new(path: &Path, _mode: u32) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;

    use super::*;

    #[test]
    fn names_start_with_the_service_dns_name() {
        let names =
            subject_alt_names("hook", "tools", &["10.0.0.1".into(), "hook".into()]).unwrap();
        assert_eq!(
            names,
            [
                "hook.tools.svc",
                "hook.tools.svc.cluster.local",
                "hook.tools",
                "hook",
                "10.0.0.1"
            ]
        );
    }

    #[test]
    fn rejects_sans_that_are_not_names_or_addresses() {
        for bad in [
            "",
            "Upper.example",
            "under_score.example",
            "-lead.example",
            "a..b",
            "*",
        ] {
            assert!(
                subject_alt_names("s", "n", &[bad.to_string()]).is_err(),
                "{bad:?}"
            );
        }
        for good in [
            "*.example.com",
            "::1",
            "host.docker.internal",
            "192.168.1.10",
        ] {
            assert!(
                subject_alt_names("s", "n", &[good.to_string()]).is_ok(),
                "{good:?}"
            );
        }
    }

    #[test]
    fn rejects_service_names_that_are_not_labels() {
        assert!(check_label("stsguard", "--service").is_ok());
        assert!(check_label("Stsguard", "--service").is_err());
        assert!(check_label("a.b", "--namespace").is_err());
        assert!(check_label(&"x".repeat(64), "--namespace").is_err());
    }

    #[test]
    fn finds_the_first_certificate_of_a_bundle() {
        let bundle = "junk\n-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n\
                      -----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n";
        assert_eq!(
            first_pem_certificate(bundle).unwrap(),
            "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n"
        );
        assert_eq!(first_pem_certificate("nothing"), None);
    }

    #[test]
    fn renders_both_configurations_for_another_service() {
        let rendered = render_webhooks("hook", "tools", b"PEM").unwrap();
        let documents: Vec<serde_json::Value> = crate::yaml::parse_stream(&rendered)
            .into_iter()
            .filter_map(|document| document.unwrap().value)
            .collect();
        assert_eq!(documents.len(), 2);
        for document in &documents {
            for webhook in document["webhooks"].as_array().unwrap() {
                let config = &webhook["clientConfig"];
                assert_eq!(config["caBundle"], BASE64.encode("PEM"));
                assert_eq!(config["service"]["name"], "hook");
                assert_eq!(config["service"]["namespace"], "tools");
                let excluded = &webhook["namespaceSelector"]["matchExpressions"][0]["values"];
                assert_eq!(excluded, &serde_json::json!(["tools", "kube-system"]));
            }
        }
    }
}
