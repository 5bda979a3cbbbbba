//! HTTP for `hopdump monitor` on hyper 1: one request over a caller-made connection (the
//! http/https probes and the webhook), the TLS client configuration, the `/metrics` +
//! `/healthz` server, and the alert webhook client.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{MonitorError, Result};
use crate::metrics::{CONTENT_TYPE, Registry};

/// Send `req` on `io` (HTTP/1.1) and return the response's status code; the body is not read.
/// Errors are short texts for the probe line.
pub async fn request<IO>(io: IO, req: Request<Full<Bytes>>) -> std::result::Result<u16, String>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("http: {e}"))?;
    let mut conn = std::pin::pin!(conn);
    let mut send = std::pin::pin!(sender.send_request(req));
    // The connection future does the I/O; poll it beside the request, in this task, so that
    // a dropped (timed out) probe leaves nothing running. It may finish (the server closed
    // after answering) before the response is taken: then the response is waiting already.
    let conn_result = tokio::select! {
        biased;
        r = &mut send => return r.map(|resp| resp.status().as_u16()).map_err(|e| http_error(&e)),
        r = &mut conn => r,
    };
    match send.await {
        Ok(resp) => Ok(resp.status().as_u16()),
        Err(e) => Err(match conn_result {
            Err(ce) => http_error(&ce),
            Ok(()) if e.is_canceled() => "http: connection closed before a response".into(),
            Ok(()) => http_error(&e),
        }),
    }
}

fn http_error(e: &hyper::Error) -> String {
    use std::error::Error as _;
    let mut s = format!("http: {e}");
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// TLS client configuration (ring): the system's roots, or no verification at all
/// (`insecure`: the probe then only proves that a TLS handshake completes).
pub fn tls_config(insecure: bool) -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| MonitorError::Tls(e.to_string()))?;
    let cfg = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        for c in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(c);
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(cfg))
}

/// Accepts any certificate; handshake signatures are still checked.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, tokio_rustls::rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        tokio_rustls::rustls::crypto::verify_tls12_signature(
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
    ) -> std::result::Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        tokio_rustls::rustls::crypto::verify_tls13_signature(
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

/// Serve `/metrics` (the registry's exposition) and `/healthz` on `listener` until the task
/// is dropped.
pub async fn serve_metrics(listener: TcpListener, registry: Arc<Mutex<Registry>>) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(_) => {
                // Out of descriptors and the like: do not spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let reg = registry.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let resp = route(&req, &reg);
                async move { Ok::<_, Infallible>(resp) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn route(req: &Request<Incoming>, reg: &Mutex<Registry>) -> Response<Full<Bytes>> {
    let reply = |code: StatusCode, ctype: &str, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(if req.method() == Method::HEAD {
            String::new()
        } else {
            body
        })));
        *r.status_mut() = code;
        if let Ok(v) = ctype.parse() {
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
        }
        r
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => {
            let text = reg.lock().unwrap_or_else(|e| e.into_inner()).render();
            reply(StatusCode::OK, CONTENT_TYPE, text)
        }
        "/healthz" => reply(StatusCode::OK, "text/plain", "ok\n".into()),
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics or /healthz\n".into(),
        ),
    }
}

/// Where alerts are POSTed.
#[derive(Debug, Clone)]
pub struct Webhook {
    url: String,
    uri: Uri,
    host: String,
    port: u16,
    tls: Option<Arc<ClientConfig>>,
}

impl Webhook {
    /// Parse `http://HOST[:PORT]/PATH` or `https://…` (verified against the system's roots).
    pub fn parse(url: &str) -> Result<Webhook> {
        let bad = |why: &str| MonitorError::BadUrl {
            url: url.to_string(),
            why: why.to_string(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| bad(&e.to_string()))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad("must start with http:// or https://")),
        };
        let host = uri
            .host()
            .ok_or_else(|| bad("no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = if https {
            Some(tls_config(false)?)
        } else {
            None
        };
        Ok(Webhook {
            url: url.to_string(),
            uri,
            host,
            port,
            tls,
        })
    }

    /// POST `json`; Ok(status) for a 2xx answer within `timeout`.
    pub async fn post(&self, json: Vec<u8>, timeout: Duration) -> Result<u16> {
        let err = |why: String| MonitorError::Webhook {
            url: self.url.clone(),
            why,
        };
        let fut = async {
            let stream = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| crate::probe::io_error(&e))?;
            let authority = self
                .uri
                .authority()
                .map(|a| a.as_str().to_string())
                .unwrap_or_default();
            let path = self.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let req = Request::post(path)
                .header(hyper::header::HOST, authority)
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .header(hyper::header::USER_AGENT, crate::probe::USER_AGENT)
                .body(Full::new(Bytes::from(json)))
                .map_err(|e| e.to_string())?;
            match &self.tls {
                None => request(stream, req).await,
                Some(tls) => {
                    let name =
                        ServerName::try_from(self.host.clone()).map_err(|e| format!("tls: {e}"))?;
                    let s = TlsConnector::from(tls.clone())
                        .connect(name, stream)
                        .await
                        .map_err(|e| format!("tls: {e}"))?;
                    request(s, req).await
                }
            }
        };
        match tokio::time::timeout(timeout, fut).await {
            Err(_) => Err(err(format!("no answer within {timeout:?}"))),
            Ok(Err(e)) => Err(err(e)),
            Ok(Ok(code)) if (200..300).contains(&code) => Ok(code),
            Ok(Ok(code)) => Err(err(format!("answered HTTP {code}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn webhook_urls() {
        assert!(Webhook::parse("http://127.0.0.1:9/hook").is_ok());
        assert!(Webhook::parse("http://[::1]:9/hook").is_ok());
        for bad in ["ftp://x/", "127.0.0.1:9", "http:///x", "not a url"] {
            assert!(Webhook::parse(bad).is_err(), "{bad}");
        }
    }
}
