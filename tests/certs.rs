//! `stsguard certs`, run as a binary into a temporary directory: the files it writes, the chain
//! they form (checked by a real rustls handshake), and the webhook configurations it renders.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use common::stsguard;

const SERVICE_NAMES: [&str; 4] = [
    "stsguard.stsguard.svc",
    "stsguard.stsguard.svc.cluster.local",
    "stsguard.stsguard",
    "stsguard",
];

/// Runs `stsguard certs --out-dir DIR ARGS…` and insists on success.
fn certs(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["certs", "--out-dir", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    let output = stsguard(&all);
    assert!(
        output.status.success(),
        "stsguard {all:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn pem_certificates(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .expect("PEM certificates")
}

/// Every DNS name and IP address (as text) in the certificate's subjectAltName.
fn subject_alt_names(der: &CertificateDer<'_>) -> Vec<String> {
    let (_, certificate) = X509Certificate::from_der(der).unwrap();
    let extension = certificate
        .subject_alternative_name()
        .unwrap()
        .expect("subjectAltName");
    extension
        .value
        .general_names
        .iter()
        .map(|name| match name {
            GeneralName::DNSName(dns) => dns.to_string(),
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => std::net::IpAddr::from(<[u8; 4]>::try_from(*bytes).unwrap()).to_string(),
                16 => std::net::IpAddr::from(<[u8; 16]>::try_from(*bytes).unwrap()).to_string(),
                n => panic!("IP address of {n} bytes"),
            },
            other => panic!("unexpected name {other:?}"),
        })
        .collect()
}

/// A TLS handshake in memory: a rustls server with `cert_pem` and `key_pem`, a rustls client
/// that trusts only `ca_pem` and asks for `name`. `Err` carries rustls' reason.
fn handshake(ca_pem: &[u8], cert_pem: &[u8], key_pem: &[u8], name: &str) -> Result<(), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::from_pem_slice(key_pem).expect("PEM private key");
    let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pem_certificates(cert_pem), key)
        .map_err(|e| format!("server: {e}"))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in pem_certificates(ca_pem) {
        roots.add(ca).map_err(|e| format!("trust anchor: {e}"))?;
    }
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let server_name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    let mut client = rustls::ClientConnection::new(Arc::new(client_config), server_name)
        .map_err(|e| e.to_string())?;
    let mut server =
        rustls::ServerConnection::new(Arc::new(server_config)).map_err(|e| e.to_string())?;
    for _ in 0..10 {
        while client.wants_write() {
            let mut wire = Vec::new();
            client.write_tls(&mut wire).unwrap();
            server.read_tls(&mut wire.as_slice()).unwrap();
            server
                .process_new_packets()
                .map_err(|e| format!("server: {e}"))?;
        }
        while server.wants_write() {
            let mut wire = Vec::new();
            server.write_tls(&mut wire).unwrap();
            client.read_tls(&mut wire.as_slice()).unwrap();
            client
                .process_new_packets()
                .map_err(|e| format!("client: {e}"))?;
        }
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(());
        }
    }
    Err("handshake did not finish".into())
}

fn handshake_in(dir: &Path, name: &str) -> Result<(), String> {
    handshake(
        &read(dir, "ca.crt"),
        &read(dir, "tls.crt"),
        &read(dir, "tls.key"),
        name,
    )
}

/// The YAML documents of a rendered stream, as JSON values.
fn documents(yaml: &str) -> Vec<Value> {
    stsguard::yaml::parse_stream(yaml)
        .into_iter()
        .filter_map(|document| document.expect("valid YAML").value)
        .collect()
}

/// The two configurations of a rendered stream, as k8s-openapi types.
fn configurations(yaml: &str) -> (MutatingWebhookConfiguration, ValidatingWebhookConfiguration) {
    let mut mutating = None;
    let mut validating = None;
    for document in documents(yaml) {
        match document["kind"].as_str() {
            Some("MutatingWebhookConfiguration") => {
                assert!(mutating.is_none(), "two MutatingWebhookConfigurations");
                mutating = Some(serde_json::from_value(document).unwrap());
            }
            Some("ValidatingWebhookConfiguration") => {
                assert!(validating.is_none(), "two ValidatingWebhookConfigurations");
                validating = Some(serde_json::from_value(document).unwrap());
            }
            other => panic!("unexpected document of kind {other:?}"),
        }
    }
    (
        mutating.expect("a MutatingWebhookConfiguration"),
        validating.expect("a ValidatingWebhookConfiguration"),
    )
}

fn out_dir() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("certs");
    (temp, dir)
}

#[test]
fn serving_certificate_verifies_against_the_ca_for_the_service_and_every_san() {
    let (_temp, dir) = out_dir();
    certs(
        &dir,
        &[
            "--san",
            "stsguard.example.com",
            "--san",
            "10.0.0.7",
            "--san",
            "::1",
        ],
    );
    for name in SERVICE_NAMES
        .iter()
        .chain(&["stsguard.example.com", "10.0.0.7", "::1"])
    {
        handshake_in(&dir, name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for name in ["other.stsguard.svc", "example.com", "10.0.0.8"] {
        let refused = handshake_in(&dir, name).expect_err(name);
        assert!(refused.contains("certificate"), "{name}: {refused}");
    }
}

#[test]
fn serving_certificate_names_the_service_forms_and_sans_and_nothing_else() {
    let (_temp, dir) = out_dir();
    certs(
        &dir,
        &[
            "--service",
            "guard",
            "--namespace",
            "tools",
            "--san",
            "guard.tools.svc",
            "--san",
            "192.168.1.20",
        ],
    );
    let serving = &pem_certificates(&read(&dir, "tls.crt"))[0];
    assert_eq!(
        subject_alt_names(serving),
        [
            "guard.tools.svc",
            "guard.tools.svc.cluster.local",
            "guard.tools",
            "guard",
            "192.168.1.20"
        ]
    );
    handshake_in(&dir, "guard.tools.svc").unwrap();
    assert!(handshake_in(&dir, "stsguard.stsguard.svc").is_err());

    let (_, certificate) = X509Certificate::from_der(serving).unwrap();
    assert!(!certificate.is_ca());
    let usage = certificate.extended_key_usage().unwrap().expect("EKU");
    assert!(usage.value.server_auth);
    let ca = &pem_certificates(&read(&dir, "ca.crt"))[0];
    let (_, ca) = X509Certificate::from_der(ca).unwrap();
    assert!(ca.is_ca());
    assert_eq!(certificate.issuer(), ca.subject());
}

#[test]
fn validity_follows_the_day_flags() {
    let (_temp, dir) = out_dir();
    certs(&dir, &["--ca-days", "30", "--cert-days", "7"]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let days_left = |pem: &[u8]| {
        let der = &pem_certificates(pem)[0];
        let (_, certificate) = X509Certificate::from_der(der).unwrap();
        let validity = certificate.validity();
        assert!(validity.not_before.timestamp() <= now);
        (validity.not_after.timestamp() - now) as f64 / 86_400.0
    };
    let ca = days_left(&read(&dir, "ca.crt"));
    let serving = days_left(&read(&dir, "tls.crt"));
    assert!((ca - 30.0).abs() < 0.1, "CA: {ca} days");
    assert!((serving - 7.0).abs() < 0.1, "serving: {serving} days");
}

#[cfg(unix)]
#[test]
fn key_is_created_with_mode_0600_also_when_replacing_a_wider_one() {
    use std::os::unix::fs::PermissionsExt as _;

    let (_temp, dir) = out_dir();
    certs(&dir, &[]);
    let mode = |name: &str| {
        std::fs::metadata(dir.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("tls.key"), 0o600);
    std::fs::set_permissions(dir.join("tls.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    certs(&dir, &["--force"]);
    assert_eq!(mode("tls.key"), 0o600);
    assert_eq!(mode("tls.crt") & 0o600, 0o600);
}

#[test]
fn refuses_to_overwrite_without_force() {
    let (_temp, dir) = out_dir();
    certs(&dir, &[]);
    let before: Vec<Vec<u8>> = ["ca.crt", "tls.crt", "tls.key"]
        .iter()
        .map(|name| read(&dir, name))
        .collect();

    let refused = stsguard(&["certs", "--out-dir", dir.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("already exist"), "{message}");
    assert!(message.contains("--force"), "{message}");
    assert!(message.contains("tls.key"), "{message}");
    let after: Vec<Vec<u8>> = ["ca.crt", "tls.crt", "tls.key"]
        .iter()
        .map(|name| read(&dir, name))
        .collect();
    assert_eq!(before, after, "a refused run changed the files");

    certs(&dir, &["--force"]);
    assert_ne!(read(&dir, "ca.crt"), before[0], "--force made no new CA");
    handshake_in(&dir, "stsguard.stsguard.svc").unwrap();
}

#[test]
fn refuses_to_overwrite_even_one_file_and_writes_nothing() {
    let (_temp, dir) = out_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tls.crt"), "keep me").unwrap();
    let refused = stsguard(&["certs", "--out-dir", dir.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(read(&dir, "tls.crt"), b"keep me");
    assert!(!dir.join("tls.key").exists());
    assert!(!dir.join("ca.crt").exists());
}

#[test]
fn renders_webhook_configurations_with_the_ca_as_ca_bundle() {
    let (_temp, dir) = out_dir();
    let output = certs(
        &dir,
        &[
            "--service",
            "guard",
            "--namespace",
            "tools",
            "--render-webhooks",
        ],
    );
    let ca = read(&dir, "ca.crt");
    let (mutating, validating) = configurations(&String::from_utf8(output.stdout).unwrap());

    let mutating_hooks = mutating.webhooks.unwrap();
    let validating_hooks = validating.webhooks.unwrap();
    assert_eq!(mutating_hooks.len(), 1);
    assert_eq!(validating_hooks.len(), 1);
    let client_configs = mutating_hooks
        .iter()
        .map(|hook| (&hook.client_config, &hook.namespace_selector))
        .chain(
            validating_hooks
                .iter()
                .map(|hook| (&hook.client_config, &hook.namespace_selector)),
        );
    for (config, selector) in client_configs {
        assert_eq!(
            config.ca_bundle.as_ref().unwrap().0,
            ca,
            "caBundle is not ca.crt"
        );
        let service = config.service.as_ref().unwrap();
        assert_eq!(
            (service.name.as_str(), service.namespace.as_str()),
            ("guard", "tools")
        );
        let expression = &selector
            .as_ref()
            .unwrap()
            .match_expressions
            .as_ref()
            .unwrap()[0];
        assert_eq!(expression.key, "kubernetes.io/metadata.name");
        assert_eq!(expression.operator, "NotIn");
        let excluded = expression.values.as_ref().unwrap();
        assert!(excluded.contains(&"tools".to_string()), "{excluded:?}");
        assert!(
            excluded.contains(&"kube-system".to_string()),
            "{excluded:?}"
        );
    }
    assert_eq!(
        mutating_hooks[0]
            .client_config
            .service
            .as_ref()
            .unwrap()
            .path
            .as_deref(),
        Some(stsguard::cli::certs::MUTATE_PATH)
    );
    assert_eq!(
        validating_hooks[0]
            .client_config
            .service
            .as_ref()
            .unwrap()
            .path
            .as_deref(),
        Some(stsguard::cli::certs::VALIDATE_PATH)
    );
}

#[test]
fn renders_webhook_configurations_to_a_file_and_keeps_stdout_clean() {
    let (temp, dir) = out_dir();
    let file = temp.path().join("webhooks.yaml");
    let flag = format!("--render-webhooks={}", file.display());
    let output = certs(&dir, &[&flag]);
    assert!(output.stdout.is_empty(), "stdout: {:?}", output.stdout);
    let (mutating, _) = configurations(&std::fs::read_to_string(&file).unwrap());
    let bundle = &mutating.webhooks.unwrap()[0].client_config.ca_bundle;
    assert_eq!(bundle.as_ref().unwrap().0, read(&dir, "ca.crt"));

    // The rendered file is guarded like the others.
    let other_dir = temp.path().join("other");
    let refused = stsguard(&["certs", "--out-dir", other_dir.to_str().unwrap(), &flag]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("webhooks.yaml"));
    assert!(!other_dir.join("tls.key").exists());
}

#[test]
fn keep_previous_ca_trusts_the_old_and_the_new_serving_certificate() {
    let (_temp, dir) = out_dir();
    certs(&dir, &[]);
    let old_ca = read(&dir, "ca.crt");
    let old_cert = read(&dir, "tls.crt");
    let old_key = read(&dir, "tls.key");

    let output = certs(
        &dir,
        &["--force", "--keep-previous-ca", "--render-webhooks"],
    );
    let bundle = read(&dir, "ca.crt");
    let cas = pem_certificates(&bundle);
    assert_eq!(cas.len(), 2, "new CA then the previous one");
    assert_eq!(cas[1], pem_certificates(&old_ca)[0]);
    let name = "stsguard.stsguard.svc";
    handshake(
        &bundle,
        &read(&dir, "tls.crt"),
        &read(&dir, "tls.key"),
        name,
    )
    .unwrap();
    handshake(&bundle, &old_cert, &old_key, name).unwrap();
    let (mutating, _) = configurations(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(
        mutating.webhooks.unwrap()[0]
            .client_config
            .ca_bundle
            .as_ref()
            .unwrap()
            .0,
        bundle
    );

    // Only the CA in force is kept: renewing again does not grow the bundle.
    certs(&dir, &["--force", "--keep-previous-ca"]);
    assert_eq!(pem_certificates(&read(&dir, "ca.crt")).len(), 2);
    assert_eq!(pem_certificates(&read(&dir, "ca.crt"))[1], cas[0]);
}

#[test]
fn bad_flags_exit_2_with_a_reason() {
    let (_temp, dir) = out_dir();
    let out = dir.to_str().unwrap();
    let cases: [(&[&str], &str); 6] = [
        (&["--san", "not a name"], "--san"),
        (&["--san", "Upper.example"], "--san"),
        (&["--service", "Web_Hook"], "--service"),
        (&["--namespace", "a.b"], "--namespace"),
        (&["--ca-days", "10", "--cert-days", "20"], "outlive"),
        (&["--cert-days", "0"], "--cert-days"),
    ];
    for (flags, expected) in cases {
        let mut args = vec!["certs", "--out-dir", out];
        args.extend_from_slice(flags);
        let output = stsguard(&args);
        let message = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flags:?}: {message}");
        assert!(message.contains(expected), "{flags:?}: {message}");
        assert!(!dir.exists(), "{flags:?} wrote files");
    }
    // --keep-previous-ca only makes sense when replacing.
    let output = stsguard(&["certs", "--out-dir", out, "--keep-previous-ca"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--force"));
}

/// Why `certs` refused, word for word: what a user reads on stderr is part of the interface.
/// The I/O part of a message is the system's own, read back here the same way.
#[test]
fn refusals_are_worded_exactly() {
    let (temp, dir) = out_dir();
    let out = dir.to_str().unwrap();
    let refused = |flags: &[&str], out_dir: &str| {
        let mut args = vec!["certs", "--out-dir", out_dir];
        args.extend_from_slice(flags);
        let output = stsguard(&args);
        assert_eq!(output.status.code(), Some(2), "{flags:?}");
        String::from_utf8(output.stderr).unwrap()
    };
    assert_eq!(
        refused(&["--ca-days", "10", "--cert-days", "20"], out),
        "stsguard: --cert-days 20 is longer than --ca-days 10: the certificate would outlive its CA\n"
    );
    assert_eq!(
        refused(&["--service", "Web_Hook"], out),
        "stsguard: --service \"Web_Hook\" is not a valid name: at most 63 lower-case letters, \
         digits and '-', starting and ending with a letter or digit\n"
    );
    assert_eq!(
        refused(&["--san", "Upper.example"], out),
        "stsguard: --san \"Upper.example\" is neither an IP address nor a DNS name (lower-case \
         labels of letters, digits and '-', separated by dots; `*.` allowed in front)\n"
    );
    let nowhere = temp.path().join("nowhere/webhooks.yaml");
    assert_eq!(
        refused(&[&format!("--render-webhooks={}", nowhere.display())], out),
        format!(
            "stsguard: --render-webhooks: directory {} does not exist\n",
            temp.path().join("nowhere").display()
        )
    );
    let ca = dir.join("ca.crt");
    let missing = std::fs::read_to_string(&ca).unwrap_err();
    assert_eq!(
        refused(&["--force", "--keep-previous-ca"], out),
        format!(
            "stsguard: --keep-previous-ca: cannot read the previous CA {}: {missing}\n",
            ca.display()
        )
    );
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&ca, "not a certificate\n").unwrap();
    assert_eq!(
        refused(&["--force", "--keep-previous-ca"], out),
        format!(
            "stsguard: --keep-previous-ca: {} holds no PEM certificate\n",
            ca.display()
        )
    );
    // An out-dir below a regular file cannot be created.
    let below_a_file = ca.join("certs");
    let not_a_dir = std::fs::create_dir_all(&below_a_file).unwrap_err();
    assert_eq!(
        refused(&[], below_a_file.to_str().unwrap()),
        format!(
            "stsguard: cannot create {}: {not_a_dir}\n",
            below_a_file.display()
        )
    );
}
