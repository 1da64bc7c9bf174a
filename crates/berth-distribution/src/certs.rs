//! Certificates a registry connection trusts and presents: the system roots, and per registry
//! host the files in `<certs.d>/<host[:port]>/` as dockerd reads them — `*.crt` are extra CAs,
//! `*.cert` with the matching `*.key` is a client certificate.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// dockerd's certificate directory.
pub const DEFAULT_CERTS_DIR: &str = "/etc/docker/certs.d";

/// Where the system's CA bundle is on the common distributions (Go's list, in its order).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// A certs.d directory that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("missing key {key} for client certificate {cert}. CA certificates must use the extension .crt")]
    MissingKey { key: String, cert: String },
    #[error("missing client certificate {cert} for key {key}")]
    MissingCert { cert: String, key: String },
    #[error("{path}: {reason}")]
    Pem { path: String, reason: String },
}

/// What `<certs.d>/<host>/` holds.
#[derive(Debug, Default)]
pub struct HostCerts {
    /// CAs from `*.crt`, trusted beside the system roots.
    pub roots: Vec<CertificateDer<'static>>,
    /// The first `*.cert` + `*.key` pair (rustls presents one client certificate).
    pub client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

/// The directory for `host` (`host` or `host:port`, as written in image references).
pub fn host_dir(certs_dir: &Path, host: &str) -> PathBuf {
    // A host never holds a path separator; one that does (or `..`) is not a directory name.
    let clean: String = host
        .chars()
        .map(|c| if c == '/' { '_' } else { c })
        .collect();
    let clean = if clean == ".." || clean == "." {
        "_".to_string()
    } else {
        clean
    };
    certs_dir.join(clean)
}

fn pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| CertsError::Pem {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(CertsError::Pem {
            path: path.display().to_string(),
            reason: "no certificate in file".into(),
        });
    }
    Ok(certs)
}

/// Reads `<certs_dir>/<host>/`; a directory that is not there is no certificates.
pub fn read_host_certs(certs_dir: &Path, host: &str) -> Result<HostCerts, CertsError> {
    let dir = host_dir(certs_dir, host);
    let read_err = |source| CertsError::Read {
        path: dir.display().to_string(),
        source,
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HostCerts::default()),
        Err(e) => return Err(read_err(e)),
    };
    let mut names = Vec::new();
    for e in entries {
        names.push(
            e.map_err(read_err)?
                .file_name()
                .to_string_lossy()
                .into_owned(),
        );
    }
    // Directory order is arbitrary; sorted, the same files always give the same choice.
    names.sort();
    let mut out = HostCerts::default();
    for name in &names {
        let path = dir.join(name);
        if name.ends_with(".crt") {
            out.roots.extend(pem_certs(&path)?);
        } else if let Some(stem) = name.strip_suffix(".cert") {
            let key = format!("{stem}.key");
            if !names.contains(&key) {
                return Err(CertsError::MissingKey {
                    key,
                    cert: name.clone(),
                });
            }
            if out.client.is_none() {
                let chain = pem_certs(&path)?;
                let key_path = dir.join(&key);
                let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| CertsError::Pem {
                    path: key_path.display().to_string(),
                    reason: e.to_string(),
                })?;
                out.client = Some((chain, key));
            }
        } else if let Some(stem) = name.strip_suffix(".key") {
            let cert = format!("{stem}.cert");
            if !names.contains(&cert) {
                return Err(CertsError::MissingCert {
                    cert,
                    key: name.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// The system's CA certificates (`SSL_CERT_FILE`, else the distribution's bundle), read once.
pub fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let from_env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
        let candidates = from_env
            .into_iter()
            .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from));
        for path in candidates {
            if let Ok(it) = CertificateDer::pem_file_iter(&path) {
                let certs: Vec<_> = it.filter_map(Result::ok).collect();
                if !certs.is_empty() {
                    return certs;
                }
            }
        }
        tracing::warn!("no system CA bundle found: only certs.d CAs are trusted");
        Vec::new()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pem_cert() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["reg.example".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn reads_cas_and_a_client_pair() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("reg.example:5000");
        std::fs::create_dir(&host).unwrap();
        let (ca, _) = pem_cert();
        let (cert, key) = pem_cert();
        std::fs::write(host.join("ca.crt"), &ca).unwrap();
        std::fs::write(host.join("client.cert"), &cert).unwrap();
        std::fs::write(host.join("client.key"), &key).unwrap();
        let got = read_host_certs(dir.path(), "reg.example:5000").unwrap();
        assert_eq!(got.roots.len(), 1);
        assert!(got.client.is_some());
        // Another host has nothing.
        let none = read_host_certs(dir.path(), "other:5000").unwrap();
        assert!(none.roots.is_empty() && none.client.is_none());
    }

    #[test]
    fn unpaired_files_are_refused_in_dockerds_words() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("h");
        std::fs::create_dir(&host).unwrap();
        let (cert, key) = pem_cert();
        std::fs::write(host.join("client.cert"), &cert).unwrap();
        let e = read_host_certs(dir.path(), "h").unwrap_err();
        assert_eq!(
            e.to_string(),
            "missing key client.key for client certificate client.cert. CA certificates must use the extension .crt"
        );
        std::fs::remove_file(host.join("client.cert")).unwrap();
        std::fs::write(host.join("other.key"), &key).unwrap();
        let e = read_host_certs(dir.path(), "h").unwrap_err();
        assert_eq!(
            e.to_string(),
            "missing client certificate other.cert for key other.key"
        );
    }

    #[test]
    fn a_host_cannot_name_a_directory_outside() {
        let base = Path::new("/etc/docker/certs.d");
        assert_eq!(host_dir(base, "a/../../x"), base.join("a_.._.._x"));
        assert_eq!(host_dir(base, ".."), base.join("_"));
        assert_eq!(host_dir(base, "reg:5000"), base.join("reg:5000"));
    }

    #[test]
    fn a_bad_pem_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("h");
        std::fs::create_dir(&host).unwrap();
        std::fs::write(host.join("ca.crt"), "not a certificate").unwrap();
        let e = read_host_certs(dir.path(), "h").unwrap_err();
        assert!(e.to_string().contains("ca.crt"), "{e}");
    }
}
