//! Certificates and TLS configuration: a CA made once (`hopdump agent init`), server
//! certificates each agent issues itself at start for its own addresses (so a DaemonSet
//! needs one Secret, not one per node), optional client certificates for mutual TLS, and a
//! bearer token. rcgen makes the certificates, rustls (ring) speaks TLS.

use std::io::Write as _;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::error::{AgentError, Result};

/// File names in a credentials directory made by [`init`].
pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca.key";
pub const TOKEN: &str = "token";
pub const CLIENT_CERT: &str = "client.pem";
pub const CLIENT_KEY: &str = "client.key";

const CA_NAME: &str = "hopdump agent CA";

fn cert_err(e: rcgen::Error) -> AgentError {
    AgentError::Cert(e.to_string())
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> AgentError + '_ {
    move |source| AgentError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Write a file readable by its owner only.
fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(data).map_err(io_err(path))
}

pub fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(io_err(path))
}

/// `n` random bytes from the kernel.
pub fn random(n: usize) -> Result<Vec<u8>> {
    let mut v = vec![0u8; n];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut v)
        .map_err(|_| AgentError::Cert("no randomness from the kernel".into()))?;
    Ok(v)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn ca_params() -> Result<rcgen::CertificateParams> {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(rcgen::DnType::CommonName, CA_NAME);
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    Ok(p)
}

/// What [`init`] wrote.
#[derive(Debug)]
pub struct Init {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
}

/// Make a credentials directory: CA certificate and key, a client certificate for mutual
/// TLS, and a bearer token. Keys and the token are 0600. Refuses to overwrite a CA.
pub fn init(dir: &Path) -> Result<Init> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    if dir.join(CA_KEY).exists() {
        return Err(AgentError::Config(format!(
            "{} already exists; remove it to make new credentials",
            dir.join(CA_KEY).display()
        )));
    }
    let ca_key = rcgen::KeyPair::generate().map_err(cert_err)?;
    let ca = ca_params()?.self_signed(&ca_key).map_err(cert_err)?;
    let ca_p = ca_params()?;
    let issuer = rcgen::Issuer::from_params(&ca_p, &ca_key);
    let client_key = rcgen::KeyPair::generate().map_err(cert_err)?;
    let mut cp = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
    cp.distinguished_name
        .push(rcgen::DnType::CommonName, "hopdump cli");
    cp.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client = cp.signed_by(&client_key, &issuer).map_err(cert_err)?;
    let token = hex(&random(32)?);
    let mut files = Vec::new();
    for (name, data, private) in [
        (CA_CERT, ca.pem(), false),
        (CA_KEY, ca_key.serialize_pem(), true),
        (CLIENT_CERT, client.pem(), false),
        (CLIENT_KEY, client_key.serialize_pem(), true),
        (TOKEN, format!("{token}\n"), true),
    ] {
        let p = dir.join(name);
        if private {
            write_private(&p, data.as_bytes())?;
        } else {
            std::fs::write(&p, data).map_err(io_err(&p))?;
        }
        files.push(p);
    }
    Ok(Init {
        dir: dir.to_path_buf(),
        files,
    })
}

/// A server certificate for `names` (IP addresses and DNS names), issued by the CA whose
/// key is `ca_key_pem`.
pub fn issue_server_cert(
    ca_key_pem: &str,
    names: &[String],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let ca_key = rcgen::KeyPair::from_pem(ca_key_pem).map_err(cert_err)?;
    let ca_p = ca_params()?;
    let issuer = rcgen::Issuer::from_params(&ca_p, &ca_key);
    let key = rcgen::KeyPair::generate().map_err(cert_err)?;
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "hopdump agent");
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    for n in names {
        let san = match n.parse::<IpAddr>() {
            Ok(ip) => rcgen::SanType::IpAddress(ip),
            Err(_) => rcgen::SanType::DnsName(
                n.clone()
                    .try_into()
                    .map_err(|e: rcgen::Error| AgentError::Cert(format!("{n:?}: {e}")))?,
            ),
        };
        p.subject_alt_names.push(san);
    }
    let cert = p.signed_by(&key, &issuer).map_err(cert_err)?;
    Ok((
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    ))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// PEM certificates in `pem`.
pub fn certs_from_pem(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let v: std::result::Result<Vec<_>, _> =
        CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    let v = v.map_err(|e| AgentError::Cert(format!("{what}: {e}")))?;
    if v.is_empty() {
        return Err(AgentError::Cert(format!("{what}: no certificate in it")));
    }
    Ok(v)
}

pub fn key_from_pem(pem: &str, what: &str) -> Result<PrivateKeyDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| AgentError::Cert(format!("{what}: {e}")))
}

fn roots(ca_pem: &str) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs_from_pem(ca_pem, "CA certificate")? {
        roots
            .add(c)
            .map_err(|e| AgentError::Cert(format!("CA certificate: {e}")))?;
    }
    Ok(roots)
}

/// The agent's TLS: its certificate, and (with `client_ca_pem`) client certificates that
/// chain to that CA are verified and accepted as credentials. Without a client certificate
/// a connection may still authenticate each call with a token.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca_pem: Option<&str>,
) -> Result<Arc<rustls::ServerConfig>> {
    let b = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| AgentError::Tls(e.to_string()))?;
    let b = match client_ca_pem {
        None => b.with_no_client_auth(),
        Some(pem) => {
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots(pem)?),
                provider(),
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| AgentError::Tls(e.to_string()))?;
            b.with_client_cert_verifier(v)
        }
    };
    let mut cfg = b
        .with_single_cert(chain, key)
        .map_err(|e| AgentError::Tls(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The CLI's TLS: trust only `ca_pem`; present a client certificate when given.
pub fn client_config(
    ca_pem: &str,
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<Arc<rustls::ClientConfig>> {
    let b = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| AgentError::Tls(e.to_string()))?
        .with_root_certificates(roots(ca_pem)?);
    let mut cfg = match client {
        None => b.with_no_client_auth(),
        Some((chain, key)) => b
            .with_client_auth_cert(chain, key)
            .map_err(|e| AgentError::Tls(e.to_string()))?,
    };
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(cfg))
}

/// The name to verify the agent's certificate against: its IP address.
pub fn server_name(ip: IpAddr) -> ServerName<'static> {
    ServerName::IpAddress(ip.into())
}

/// Short fingerprint of a DER certificate (for logs and `Hello::caller`).
pub fn fingerprint(der: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, der);
    hex(&d.as_ref()[..8])
}

/// Compare secrets in time independent of where they differ (the length is not secret:
/// tokens made by [`init`] all have one length).
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_issue_and_configs() {
        let d = tempfile::tempdir().unwrap();
        let init = init(d.path()).unwrap();
        assert_eq!(init.files.len(), 5);
        use std::os::unix::fs::PermissionsExt;
        for f in [CA_KEY, CLIENT_KEY, TOKEN] {
            let m = std::fs::metadata(d.path().join(f)).unwrap();
            assert_eq!(m.permissions().mode() & 0o777, 0o600, "{f}");
        }
        assert!(super::init(d.path()).is_err(), "never overwrites a CA");
        let key = read(&d.path().join(CA_KEY)).unwrap();
        let (chain, k) =
            issue_server_cert(&key, &["198.51.100.11".into(), "node1".into()]).unwrap();
        server_config(chain, k, Some(&read(&d.path().join(CA_CERT)).unwrap())).unwrap();
        let cc = certs_from_pem(&read(&d.path().join(CLIENT_CERT)).unwrap(), "c").unwrap();
        let ck = key_from_pem(&read(&d.path().join(CLIENT_KEY)).unwrap(), "k").unwrap();
        client_config(&read(&d.path().join(CA_CERT)).unwrap(), Some((cc, ck))).unwrap();
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
    }
}
