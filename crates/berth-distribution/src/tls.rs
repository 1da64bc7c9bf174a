//! rustls client configurations for registry endpoints, and TLS failures in the words Go's
//! crypto/tls uses (what `docker pull` users see from dockerd).

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::certs::HostCerts;

/// A TLS configuration that could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Verifies the server against the system roots plus `certs.roots`; presents `certs.client`.
pub fn verified_config(
    system: &[CertificateDer<'static>],
    certs: HostCerts,
) -> Result<ClientConfig, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    // One bad system certificate must not make every registry unreachable.
    let (_added, _ignored) = roots.add_parsable_certificates(system.iter().cloned());
    for ca in certs.roots {
        roots.add(ca)?;
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    finish(builder, certs.client)
}

/// The system roots and no client certificate: for plain-HTTP endpoints (whose token realm or
/// blob redirects may still be HTTPS).
pub fn system_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(
            || match verified_config(crate::certs::system_roots(), HostCerts::default()) {
                Ok(c) => Arc::new(c),
                Err(e) => {
                    // Only a provider without the default protocol versions fails here, and ring
                    // has them all; should it happen, a client that trusts nothing is the safe one.
                    tracing::error!(error = %e, "building the TLS client configuration");
                    let _ = rustls::crypto::ring::default_provider().install_default();
                    Arc::new(
                        ClientConfig::builder()
                            .with_root_certificates(RootCertStore::empty())
                            .with_no_client_auth(),
                    )
                }
            },
        )
        .clone()
}

/// An insecure registry: any server certificate is accepted (dockerd's `InsecureSkipVerify`);
/// the handshake signatures are still checked, so the peer holds the certificate's key.
pub fn insecure_config(certs: HostCerts) -> Result<ClientConfig, TlsConfigError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServerCertificate(provider)));
    finish(builder, certs.client)
}

fn finish(
    builder: rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>,
    client: Option<(
        Vec<CertificateDer<'static>>,
        rustls_pki_types::PrivateKeyDer<'static>,
    )>,
) -> Result<ClientConfig, TlsConfigError> {
    // No ALPN here: the connector offers the HTTP versions it speaks.
    Ok(match client {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
        None => builder.with_no_client_auth(),
    })
}

#[derive(Debug)]
struct AnyServerCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Go's text for a rustls failure, when it has one (`tls: failed to verify certificate: x509:
/// certificate signed by unknown authority`, ...).
pub fn go_message(e: &rustls::Error) -> String {
    const VERIFY: &str = "tls: failed to verify certificate: x509: ";
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => {
                format!("{VERIFY}certificate signed by unknown authority")
            }
            // An issuer with the right name whose key did not sign it: to Go, still unknown.
            CertificateError::BadSignature => format!(
                "{VERIFY}certificate signed by unknown authority (possibly because of \"signature verification failed\" while trying to verify candidate authority certificate)"
            ),
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => {
                format!("{VERIFY}certificate has expired or is not yet valid")
            }
            CertificateError::NotValidForNameContext { expected, presented } => {
                let names: Vec<String> = presented
                    .iter()
                    .map(|p| {
                        // rustls writes `DnsName("a")` / `IpAddress(1.2.3.4)`: keep the name.
                        let inner = p
                            .split_once('(')
                            .map(|(_, rest)| rest.trim_end_matches(')'))
                            .unwrap_or(p);
                        inner.trim_matches('"').to_string()
                    })
                    .collect();
                let expected = match expected {
                    ServerName::DnsName(d) => d.as_ref().to_string(),
                    ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
                    other => format!("{other:?}"),
                };
                format!(
                    "{VERIFY}certificate is valid for {}, not {expected}",
                    names.join(", ")
                )
            }
            CertificateError::NotValidForName => {
                format!("{VERIFY}certificate is not valid for this host")
            }
            other => format!("{VERIFY}{other:?}"),
        },
        // A plain-HTTP server answering a ClientHello: Go's net/http says this.
        rustls::Error::InvalidMessage(_) => "http: server gave HTTP response to HTTPS client".into(),
        rustls::Error::AlertReceived(alert) => {
            format!("remote error: tls: {}", alert_text(*alert))
        }
        other => format!("tls: {other}"),
    }
}

fn alert_text(alert: rustls::AlertDescription) -> String {
    use rustls::AlertDescription as A;
    match alert {
        A::CertificateRequired => "certificate required".into(),
        A::BadCertificate => "bad certificate".into(),
        A::UnknownCA => "unknown certificate authority".into(),
        A::HandshakeFailure => "handshake failure".into(),
        A::ProtocolVersion => "protocol version not supported".into(),
        other => format!("{other:?}").to_ascii_lowercase(),
    }
}

/// `e` itself as a rustls error, looking inside the wrappers connectors put around it (an
/// `io::Error` holding it, a boxed error).
fn as_rustls<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(r) = e.downcast_ref::<rustls::Error>() {
        return Some(r);
    }
    if let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        return as_rustls(inner);
    }
    None
}

/// The rustls error somewhere in `e`'s source chain.
pub fn find_rustls_error<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = as_rustls(err) {
            return Some(r);
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("client error (Connect)")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn finds_the_tls_error_inside_connector_wrappers() {
        let tls = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls.clone());
        let outer = Outer(io);
        assert_eq!(find_rustls_error(&outer), Some(&tls));
        let plain = Outer(std::io::Error::other("refused"));
        assert_eq!(find_rustls_error(&plain), None);
    }

    #[test]
    fn go_words_for_certificate_failures() {
        let e = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(
            go_message(&e),
            "tls: failed to verify certificate: x509: certificate signed by unknown authority"
        );
        let e = rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("reg.example")
                .map(|n| n.to_owned())
                .unwrap_or(ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into())),
            presented: vec![
                "DnsName(\"localhost\")".into(),
                "IpAddress(127.0.0.1)".into(),
            ],
        });
        assert_eq!(
            go_message(&e),
            "tls: failed to verify certificate: x509: certificate is valid for localhost, 127.0.0.1, not reg.example"
        );
    }
}
