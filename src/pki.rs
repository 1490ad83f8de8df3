//! The certificates stsguard issues itself: a CA and a serving certificate it signs, for
//! `stsguard certs` (the webhook Service's pair, written to files) and for `serve`'s
//! ephemeral pair (localhost, when it is given none). Both are the same profile, so what
//! `serve` falls back to is what a self-signed install runs with.
//!
//! The CA's private key is dropped once the serving certificate is signed: nothing else can
//! ever be signed by it, so trusting the CA means trusting this one certificate.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use time::OffsetDateTime;

/// What to issue.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// The CA's common name.
    pub ca_name: &'a str,
    /// DNS names and IP addresses the serving certificate is for; the first is also its
    /// common name.
    pub names: &'a [String],
    /// Start of both validity periods.
    pub not_before: OffsetDateTime,
    pub ca_not_after: OffsetDateTime,
    pub cert_not_after: OffsetDateTime,
}

/// What [`issue`] made: PEM texts and the end of each validity period.
#[derive(Clone)]
pub struct Issued {
    /// The CA certificate: what a client must trust.
    pub ca_pem: String,
    /// The serving certificate.
    pub cert_pem: String,
    /// The serving certificate's private key (PKCS#8).
    pub key_pem: String,
    pub ca_not_after: OffsetDateTime,
    pub cert_not_after: OffsetDateTime,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("Issued")
            .field("ca_not_after", &self.ca_not_after)
            .field("cert_not_after", &self.cert_not_after)
            .finish_non_exhaustive()
    }
}

/// Why a certificate or key could not be made.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("cannot make the CA key: {0}")]
    CaKey(rcgen::Error),
    #[error("cannot make the CA certificate: {0}")]
    CaCertificate(rcgen::Error),
    #[error("cannot make the serving key: {0}")]
    ServingKey(rcgen::Error),
    #[error("cannot make the serving certificate: {0}")]
    ServingCertificate(rcgen::Error),
}

/// Makes a CA (ECDSA P-256) and a serving certificate it signs for `request.names`.
pub fn issue(request: &Request<'_>) -> Result<Issued, IssueError> {
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, request.ca_name);
    ca_params
        .distinguished_name
        .push(DnType::OrganizationName, "stsguard");
    // It signs serving certificates only, never another CA.
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = request.not_before;
    ca_params.not_after = request.ca_not_after;
    let ca_key = KeyPair::generate().map_err(IssueError::CaKey)?;
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(IssueError::CaCertificate)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut params = CertificateParams::default();
    if let Some(first) = request.names.first() {
        params
            .distinguished_name
            .push(DnType::CommonName, first.as_str());
    }
    params.subject_alt_names = request
        .names
        .iter()
        .map(|name| match name.parse::<IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => name
                .as_str()
                .try_into()
                .map(SanType::DnsName)
                .map_err(IssueError::ServingCertificate),
        })
        .collect::<Result<_, _>>()?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = request.not_before;
    params.not_after = request.cert_not_after;
    let key = KeyPair::generate().map_err(IssueError::ServingKey)?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(IssueError::ServingCertificate)?;

    Ok(Issued {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        ca_not_after: request.ca_not_after,
        cert_not_after: request.cert_not_after,
    })
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;

    #[test]
    fn issues_a_serving_certificate_for_names_and_addresses_signed_by_the_ca() {
        use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

        let now = OffsetDateTime::now_utc();
        let names = ["hook.tools.svc".to_string(), "10.0.0.1".to_string()];
        let issued = issue(&Request {
            ca_name: "test CA",
            names: &names,
            not_before: now - Duration::hours(1),
            ca_not_after: now + Duration::days(10),
            cert_not_after: now + Duration::days(2),
        })
        .unwrap();
        let der = |pem: &str| {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject;
            CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
        };
        let (ca_der, cert_der) = (der(&issued.ca_pem), der(&issued.cert_pem));
        let (_, ca) = X509Certificate::from_der(&ca_der).unwrap();
        let (_, cert) = X509Certificate::from_der(&cert_der).unwrap();
        assert!(ca.is_ca());
        assert!(!cert.is_ca());
        assert_eq!(cert.issuer(), ca.subject());
        let sans: Vec<String> = cert
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .iter()
            .map(|name| match name {
                GeneralName::DNSName(dns) => dns.to_string(),
                GeneralName::IPAddress(ip) => format!("{ip:?}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(sans, ["hook.tools.svc", "[10, 0, 0, 1]"]);
        assert_eq!(
            cert.validity().not_after.timestamp(),
            issued.cert_not_after.unix_timestamp()
        );
        assert_eq!(
            ca.validity().not_after.timestamp(),
            issued.ca_not_after.unix_timestamp()
        );
        assert!(!format!("{issued:?}").contains("PRIVATE KEY"));
    }
}
