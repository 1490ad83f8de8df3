//! TLS for the admission listener: rustls (TLS 1.2 and 1.3, ring provider), a certificate
//! resolver whose pair can be swapped while serving, optional client-certificate
//! verification, and the ephemeral certificate `serve` uses when given none.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use time::{Duration, OffsetDateTime, Time};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::pki;

/// Why a certificate, key or CA was refused.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("the certificate file holds no PEM certificate")]
    NoCertificate,
    #[error("the certificate file is not valid PEM: {0}")]
    CertificatePem(rustls::pki_types::pem::Error),
    /// A fixed text, never the PEM parser's ([`load_pair`] says why).
    #[error("the key file holds no usable PEM private key: {0}")]
    KeyPem(&'static str),
    #[error("the certificate and key do not form a usable pair: {0}")]
    Pair(rustls::Error),
    #[error("the certificate's validity period cannot be read")]
    Validity,
    #[error("the client CA file holds no usable certificate: {0}")]
    ClientCa(ClientCaError),
    #[error("cannot build the TLS configuration: {0}")]
    Config(rustls::Error),
    #[error("cannot generate the ephemeral certificate: {0}")]
    Generate(#[from] pki::IssueError),
}

/// Why the client CA file gives no certificate to verify clients with.
#[derive(Debug, thiserror::Error)]
pub enum ClientCaError {
    #[error("{0}")]
    Pem(rustls::pki_types::pem::Error),
    #[error("{0}")]
    Certificate(rustls::Error),
    #[error("no PEM certificate found")]
    Empty,
    #[error("{0}")]
    Verifier(rustls::server::VerifierBuilderError),
}

/// The crypto provider stsguard uses everywhere (ring: small and quick to build).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A loaded serving pair.
#[derive(Clone, Debug)]
pub struct ServingCert {
    pub key: Arc<CertifiedKey>,
    /// The leaf's notAfter, Unix seconds.
    pub not_after: i64,
}

/// Reads a PEM certificate chain (leaf first) and its private key, and checks that they
/// belong together.
pub fn load_pair(cert_pem: &[u8], key_pem: &[u8]) -> Result<ServingCert, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(TlsError::CertificatePem)?;
    let leaf = chain.first().ok_or(TlsError::NoCertificate)?;
    let not_after = not_after(leaf).ok_or(TlsError::Validity)?;
    // Fixed texts: the PEM parser's messages can quote lines of the file, which for a key
    // file would put key material in the log.
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
        TlsError::KeyPem(match e {
            rustls::pki_types::pem::Error::NoItemsFound => "no PEM private key block found",
            rustls::pki_types::pem::Error::MissingSectionEnd { .. } => {
                "a PEM block has no END line (a partly written file?)"
            }
            _ => "malformed PEM",
        })
    })?;
    let key = CertifiedKey::from_der(chain, key, &provider()).map_err(TlsError::Pair)?;
    Ok(ServingCert {
        key: Arc::new(key),
        not_after,
    })
}

/// Serves whichever pair was stored last; new handshakes pick up a rotated certificate
/// while established connections keep theirs.
#[derive(Debug)]
pub struct CertResolver {
    current: ArcSwap<CertifiedKey>,
}

impl CertResolver {
    pub fn new(initial: Arc<CertifiedKey>) -> Self {
        CertResolver {
            current: ArcSwap::new(initial),
        }
    }

    /// Serves `key` from the next handshake on.
    pub fn store(&self, key: Arc<CertifiedKey>) {
        self.current.store(key);
    }

    /// The pair being served.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.load_full()
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// The rustls configuration of the admission listener: TLS 1.3 and 1.2, HTTP/2 and
/// HTTP/1.1 by ALPN, and with `client_ca_pem` a required client certificate signed by it.
pub fn server_config(
    resolver: Arc<CertResolver>,
    client_ca_pem: Option<&[u8]>,
) -> Result<ServerConfig, TlsError> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Config)?;
    let builder = match client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| TlsError::ClientCa(ClientCaError::Pem(e)))?;
                roots
                    .add(cert)
                    .map_err(|e| TlsError::ClientCa(ClientCaError::Certificate(e)))?;
            }
            if roots.is_empty() {
                return Err(TlsError::ClientCa(ClientCaError::Empty));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::ClientCa(ClientCaError::Verifier(e)))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// `serve`'s ephemeral pair: a throw-away CA and a serving certificate for `names` (DNS names
/// or IP addresses), valid from the start of yesterday (UTC, so a client whose clock is a
/// little behind accepts it) for `days` days.
pub fn generate_ephemeral(names: &[&str], days: u32) -> Result<pki::Issued, TlsError> {
    let today = OffsetDateTime::now_utc().replace_time(Time::MIDNIGHT);
    let until = today + Duration::days(i64::from(days));
    let names: Vec<String> = names.iter().map(|name| (*name).to_string()).collect();
    Ok(pki::issue(&pki::Request {
        ca_name: "stsguard ephemeral CA",
        names: &names,
        not_before: today - Duration::days(1),
        ca_not_after: until,
        cert_not_after: until,
    })?)
}

/// The leaf's notAfter in Unix seconds, for the expiry metric and the expired warning.
fn not_after(der: &[u8]) -> Option<i64> {
    let (_, certificate) = X509Certificate::from_der(der).ok()?;
    Some(certificate.validity().not_after.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_expiry_of_a_generated_certificate() {
        let pki = generate_ephemeral(&["localhost", "127.0.0.1"], 30).unwrap();
        let serving = load_pair(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let days_left = (serving.not_after - now) / 86_400;
        assert!((29..=30).contains(&days_left), "{days_left}");
    }

    #[test]
    fn refuses_garbage_and_mismatched_pairs() {
        let a = generate_ephemeral(&["localhost"], 1).unwrap();
        let b = generate_ephemeral(&["localhost"], 1).unwrap();
        assert!(matches!(
            load_pair(b"garbage", a.key_pem.as_bytes()),
            Err(TlsError::NoCertificate)
        ));
        assert!(load_pair(a.cert_pem.as_bytes(), b"garbage").is_err());
        assert!(matches!(
            load_pair(a.cert_pem.as_bytes(), b.key_pem.as_bytes()),
            Err(TlsError::Pair(_))
        ));
        let truncated = &a.cert_pem.as_bytes()[..a.cert_pem.len() / 2];
        assert!(load_pair(truncated, a.key_pem.as_bytes()).is_err());
        assert!(not_after(b"\x30\x84\xff\xff\xff\xff").is_none());
        // Errors about a key never quote the key file.
        for key in [
            "-----BEGIN PRIVATE KEY-----\nSECRET!SECRET\n-----END PRIVATE KEY-----\n",
            "-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n",
            "-----BEGIN SECRET KEY\n",
        ] {
            let error = load_pair(a.cert_pem.as_bytes(), key.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(!error.contains("SECRET"), "{error}");
        }
    }

    #[test]
    fn offers_rustls_default_suites_only() {
        // TLS 1.3 and 1.2 with ECDHE and AEAD ciphers: rustls has nothing older or weaker,
        // and stsguard adds nothing to its defaults. (TLS 1.0/1.1 hellos: tests/server.)
        let pki = generate_ephemeral(&["localhost"], 1).unwrap();
        let serving = load_pair(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap();
        let config = server_config(Arc::new(CertResolver::new(serving.key)), None).unwrap();
        let suites: Vec<_> = config
            .crypto_provider()
            .cipher_suites
            .iter()
            .map(|suite| suite.suite())
            .collect();
        let defaults: Vec<_> = rustls::crypto::ring::DEFAULT_CIPHER_SUITES
            .iter()
            .map(|suite| suite.suite())
            .collect();
        assert_eq!(suites, defaults);
        for suite in &config.crypto_provider().cipher_suites {
            assert!(
                matches!(
                    suite.version().version,
                    rustls::ProtocolVersion::TLSv1_3 | rustls::ProtocolVersion::TLSv1_2
                ),
                "{suite:?}"
            );
        }
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn refuses_a_client_ca_without_certificates() {
        let pki = generate_ephemeral(&["localhost"], 1).unwrap();
        let serving = load_pair(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap();
        let resolver = Arc::new(CertResolver::new(serving.key));
        assert!(server_config(resolver.clone(), Some(b"nothing")).is_err());
        assert!(server_config(resolver, Some(pki.ca_pem.as_bytes())).is_ok());
    }
}
