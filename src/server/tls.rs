//! TLS for the admission listener: rustls (TLS 1.2 and 1.3, ring provider), a certificate
//! resolver whose pair can be swapped while serving, optional client-certificate
//! verification, and the ephemeral certificate `serve` uses when given none.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};

/// Why a certificate, key or CA was refused.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("the certificate file holds no PEM certificate")]
    NoCertificate,
    #[error("the certificate file is not valid PEM: {0}")]
    CertificatePem(String),
    #[error("the key file holds no usable PEM private key: {0}")]
    KeyPem(String),
    #[error("the certificate and key do not form a usable pair: {0}")]
    Pair(rustls::Error),
    #[error("the certificate's validity period cannot be read")]
    Validity,
    #[error("the client CA file holds no usable certificate: {0}")]
    ClientCa(String),
    #[error("cannot build the TLS configuration: {0}")]
    Config(String),
    #[error("cannot generate the ephemeral certificate: {0}")]
    Generate(#[from] rcgen::Error),
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
        .map_err(|e| TlsError::CertificatePem(e.to_string()))?;
    let leaf = chain.first().ok_or(TlsError::NoCertificate)?;
    let not_after = x509::not_after(leaf).ok_or(TlsError::Validity)?;
    // Fixed texts: the PEM parser's messages can quote lines of the file, which for a key
    // file would put key material in the log.
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
        TlsError::KeyPem(
            match e {
                rustls::pki_types::pem::Error::NoItemsFound => "no PEM private key block found",
                rustls::pki_types::pem::Error::MissingSectionEnd { .. } => {
                    "a PEM block has no END line (a partly written file?)"
                }
                _ => "malformed PEM",
            }
            .into(),
        )
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
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| TlsError::ClientCa(e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| TlsError::ClientCa(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(TlsError::ClientCa("no PEM certificate found".into()));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::ClientCa(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A CA and a serving certificate signed by it, as PEM.
#[derive(Clone)]
pub struct EphemeralPki {
    /// The CA certificate: what a client must trust.
    pub ca_pem: String,
    /// The serving certificate.
    pub cert_pem: String,
    /// The serving certificate's private key.
    pub key_pem: String,
}

impl std::fmt::Debug for EphemeralPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("EphemeralPki").finish_non_exhaustive()
    }
}

/// Generates a throw-away CA and a serving certificate for `names` (DNS names or IP
/// addresses), valid from yesterday for `days` days. The CA key is dropped: nothing else
/// can ever be signed by it.
pub fn generate_ephemeral(names: &[&str], days: i64) -> Result<EphemeralPki, TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let today = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64 / 86_400)
        .unwrap_or(0);
    let date = |days: i64| {
        let (y, m, d) = x509::civil_from_days(days);
        rcgen::date_time_ymd(y, m, d)
    };

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "stsguard ephemeral CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = date(today - 1);
    ca.not_after = date(today + days);
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate()?;
    let mut leaf =
        CertificateParams::new(names.iter().map(|n| (*n).to_string()).collect::<Vec<_>>())?;
    leaf.distinguished_name.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("stsguard"),
    );
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = date(today - 1);
    leaf.not_after = date(today + days);
    let cert = leaf.signed_by(&key, &issuer)?;
    Ok(EphemeralPki {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// The little X.509 reading stsguard needs: the leaf's notAfter, for the expiry metric.
pub mod x509 {
    /// One DER element: (tag, contents, rest).
    fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let len = rest[..count]
                .iter()
                .fold(0usize, |len, &b| (len << 8) | usize::from(b));
            (len, &rest[count..])
        };
        (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
    }

    /// notAfter of a DER certificate, in Unix seconds.
    pub fn not_after(der: &[u8]) -> Option<i64> {
        const SEQUENCE: u8 = 0x30;
        const VERSION: u8 = 0xa0;
        let (SEQUENCE, certificate, _) = element(der)? else {
            return None;
        };
        let (SEQUENCE, tbs, _) = element(certificate)? else {
            return None;
        };
        // TBSCertificate: [0] version (optional), serialNumber, signature, issuer, validity.
        let (tag, _, mut rest) = element(tbs)?;
        if tag == VERSION {
            rest = element(rest)?.2; // serialNumber
        }
        rest = element(rest)?.2; // signature
        rest = element(rest)?.2; // issuer
        let (SEQUENCE, validity, _) = element(rest)? else {
            return None;
        };
        let (_, _, validity) = element(validity)?; // notBefore
        let (tag, time, _) = element(validity)?;
        parse_time(tag, time)
    }

    /// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
    fn parse_time(tag: u8, text: &[u8]) -> Option<i64> {
        const UTC_TIME: u8 = 0x17;
        const GENERALIZED_TIME: u8 = 0x18;
        let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
        let num = |s: &str| -> Option<i64> {
            s.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| s.parse().ok())
                .flatten()
        };
        let (year, rest) = match (tag, text.len()) {
            (UTC_TIME, 12) => {
                // RFC 5280: YY ≥ 50 is 19YY.
                let yy = num(text.get(..2)?)?;
                (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
            }
            (GENERALIZED_TIME, 14) => (num(text.get(..4)?)?, &text[4..]),
            _ => return None,
        };
        let field = |i: usize| num(rest.get(i..i + 2)?);
        let (month, day) = (field(0)?, field(2)?);
        let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
            return None;
        }
        let days = days_from_civil(year, month, day);
        Some(days * 86_400 + hour * 3600 + minute * 60 + second)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date of a day number since 1970-01-01.
    pub fn civil_from_days(days: i64) -> (i32, u8, u8) {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        (year as i32, month as u8, day as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_dates_both_ways() {
        assert_eq!(x509::days_from_civil(1970, 1, 1), 0);
        assert_eq!(x509::days_from_civil(2000, 3, 1), 11_017);
        for days in [-1, 0, 59, 60, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = x509::civil_from_days(days);
            assert_eq!(
                x509::days_from_civil(i64::from(y), i64::from(m), i64::from(d)),
                days
            );
        }
    }

    #[test]
    fn reads_the_expiry_of_a_generated_certificate() {
        let pki = generate_ephemeral(&["localhost", "127.0.0.1"], 30).unwrap();
        let serving = load_pair(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
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
        assert!(x509::not_after(b"\x30\x84\xff\xff\xff\xff").is_none());
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
