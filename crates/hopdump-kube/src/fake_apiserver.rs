//! Test support (feature `fake-apiserver`): no kube-apiserver can be installed here, so tests run
//! the real kube-rs client against this small HTTPS server. It serves the objects of a fixture
//! directory (the same files `--from-dir` reads) at the real REST paths (list cluster-wide, list
//! in a namespace, get by name; 404 Status otherwise), with a fresh CA and server certificate
//! per start, and writes the kubeconfig that reaches it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio_rustls::rustls;

/// objects by (api prefix like `/api/v1` or `/apis/metallb.io/v1beta1`, plural)
type Store = BTreeMap<(String, String), Vec<Value>>;

pub struct FakeApiServer {
    pub addr: SocketAddr,
    pub ca_pem: String,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeApiServer {
    /// Load `dir` and start serving on 127.0.0.1 (an ephemeral port); returns once listening.
    pub fn start(dir: &Path) -> Result<FakeApiServer, String> {
        let store = Arc::new(load(dir)?);
        let (cert_der, key_der, ca_pem) = certs()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(vec![cert_der], key_der)
            .map_err(|e| e.to_string())?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| e.to_string())?;
        let addr = std_listener.local_addr().map_err(|e| e.to_string())?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let reqs = requests.clone();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else {
                    return;
                };
                loop {
                    tokio::select! {
                        _ = &mut stopped => return,
                        acc = listener.accept() => {
                            let Ok((tcp, _)) = acc else { continue };
                            let acceptor = acceptor.clone();
                            let store = store.clone();
                            let reqs = reqs.clone();
                            tokio::spawn(async move {
                                let Ok(tls) = acceptor.accept(tcp).await else { return };
                                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                                    let store = store.clone();
                                    let reqs = reqs.clone();
                                    async move { Ok::<_, Infallible>(handle(&store, &reqs, &req)) }
                                });
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(TokioIo::new(tls), svc)
                                    .await;
                            });
                        }
                    }
                }
            });
        });
        Ok(FakeApiServer {
            addr,
            ca_pem,
            requests,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// A kubeconfig with one context `fake` (and a second, `other`, pointing nowhere useful).
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: https://127.0.0.1:{port}\n    certificate-authority-data: {ca}\n- name: other\n  cluster:\n    server: https://127.0.0.1:1\n    certificate-authority-data: {ca}\nusers:\n- name: tester\n  user:\n    token: fake-token\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: tester\n- name: other\n  context:\n    cluster: other\n    user: tester\ncurrent-context: other\n",
            port = self.addr.port(),
            ca = base64(self.ca_pem.as_bytes())
        )
    }

    /// Paths (with query) served so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn certs() -> Result<
    (
        rustls::pki_types::CertificateDer<'static>,
        rustls::pki_types::PrivateKeyDer<'static>,
        String,
    ),
    String,
> {
    let e = |e: rcgen::Error| e.to_string();
    let ca_key = rcgen::KeyPair::generate().map_err(e)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hopdump test CA");
    let ca = ca_params.self_signed(&ca_key).map_err(e)?;
    let key = rcgen::KeyPair::generate().map_err(e)?;
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).map_err(e)?;
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress(std::net::IpAddr::from([
            127, 0, 0, 1,
        ])));
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let cert = params.signed_by(&key, &issuer).map_err(e)?;
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    Ok((cert.der().clone(), key_der, ca.pem()))
}

fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn plural(kind: &str) -> String {
    let k = kind.to_ascii_lowercase();
    if let Some(stem) = k.strip_suffix('y') {
        format!("{stem}ies")
    } else if k.ends_with('s') {
        format!("{k}es")
    } else {
        format!("{k}s")
    }
}

fn default_api_version(kind: &str) -> &'static str {
    match kind {
        "EndpointSlice" => "discovery.k8s.io/v1",
        "NetworkPolicy" => "networking.k8s.io/v1",
        _ => "v1",
    }
}

fn load(dir: &Path) -> Result<Store, String> {
    let docs = crate::offline::all_docs(dir).map_err(|e| e.to_string())?;
    let mut store = Store::new();
    let mut add = |mut o: Value, hint: Option<&str>| {
        let Some(kind) = o
            .get("kind")
            .and_then(Value::as_str)
            .or(hint)
            .map(str::to_string)
        else {
            return;
        };
        let av = o
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or(default_api_version(&kind))
            .to_string();
        o["kind"] = json!(kind);
        o["apiVersion"] = json!(av);
        let prefix = if av.contains('/') {
            format!("/apis/{av}")
        } else {
            format!("/api/{av}")
        };
        store.entry((prefix, plural(&kind))).or_default().push(o);
    };
    for d in docs {
        match d.get("items").and_then(Value::as_array) {
            Some(items) => {
                let k = d.get("kind").and_then(Value::as_str).unwrap_or("");
                let hint = k.strip_suffix("List").filter(|k| !k.is_empty());
                for i in items {
                    add(i.clone(), hint);
                }
            }
            None => add(d, None),
        }
    }
    Ok(store)
}

fn respond(code: u16, v: &Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::OK);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn not_found(what: &str) -> Response<Full<Bytes>> {
    respond(
        404,
        &json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                "message": format!("{what} not found"),"reason":"NotFound","code":404}),
    )
}

fn handle<B>(store: &Store, reqs: &Mutex<Vec<String>>, req: &Request<B>) -> Response<Full<Bytes>> {
    let uri = req.uri();
    if let Ok(mut r) = reqs.lock() {
        r.push(uri.to_string());
    }
    let path = uri.path();
    let (prefix, rest) = if let Some(r) = path.strip_prefix("/api/v1/") {
        ("/api/v1".to_string(), r)
    } else if let Some(r) = path.strip_prefix("/apis/") {
        let mut it = r.splitn(3, '/');
        let (g, v, rest) = (
            it.next().unwrap_or(""),
            it.next().unwrap_or(""),
            it.next().unwrap_or(""),
        );
        (format!("/apis/{g}/{v}"), rest)
    } else {
        return not_found(path);
    };
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    // (namespace, plural, name)
    let (ns, plural, name) = match segs.as_slice() {
        [p] => (None, *p, None),
        ["namespaces", ns, p] => (Some(*ns), *p, None),
        ["namespaces", ns, p, n] => (Some(*ns), *p, Some(*n)),
        [p, n] => (None, *p, Some(*n)),
        _ => return not_found(path),
    };
    let objs: Vec<&Value> = store
        .get(&(prefix.clone(), plural.to_string()))
        .map(|v| {
            v.iter()
                .filter(|o| {
                    ns.is_none_or(|ns| {
                        o.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns)
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    match name {
        Some(n) => match objs
            .into_iter()
            .find(|o| o.pointer("/metadata/name").and_then(Value::as_str) == Some(n))
        {
            Some(o) => respond(200, o),
            None => not_found(path),
        },
        None => {
            if !store.keys().any(|(p, pl)| p == &prefix && pl == plural)
                && prefix.starts_with("/apis/metallb")
            {
                // CRD not installed.
                return not_found(path);
            }
            let kind = objs
                .first()
                .and_then(|o| o.get("kind").and_then(Value::as_str))
                .unwrap_or("")
                .to_string();
            respond(
                200,
                &json!({"apiVersion": prefix.trim_start_matches("/api/").trim_start_matches("/apis/"),
                        "kind": format!("{kind}List"), "metadata": {"resourceVersion": "1000"}, "items": objs}),
            )
        }
    }
}
