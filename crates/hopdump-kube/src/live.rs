//! Live: read the same kinds as `--from-dir` from an API server with kube-rs (kubeconfig with
//! `--kubeconfig`/`--context`, or in-cluster config) and feed them through the same
//! [`crate::adapter::ingest`], so live and offline views cannot differ.

use std::path::PathBuf;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::api::networking::v1 as networking;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, LogParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde::Serialize;

use crate::Error;
use crate::adapter::ingest;
use crate::model::ClusterView;

#[derive(Debug, Clone, Default)]
pub struct LiveOptions {
    /// A kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster).
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// Also fetch the speakers' logs (last lines of each).
    pub logs: bool,
}

/// Blocking wrapper for the binary: runs its own single-threaded runtime.
pub fn load_live(opts: &LiveOptions) -> Result<ClusterView, Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Config(format!("starting the async runtime: {e}")))?;
    rt.block_on(load_live_async(opts))
}

async fn config(opts: &LiveOptions) -> Result<Config, Error> {
    let ko = KubeConfigOptions {
        context: opts.context.clone(),
        ..Default::default()
    };
    let cfg = match (&opts.kubeconfig, &opts.context) {
        (Some(path), _) => {
            let kc = Kubeconfig::read_from(path)
                .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
            Config::from_custom_kubeconfig(kc, &ko)
                .await
                .map_err(|e| Error::Config(e.to_string()))?
        }
        (None, Some(_)) => Config::from_kubeconfig(&ko)
            .await
            .map_err(|e| Error::Config(e.to_string()))?,
        (None, None) => Config::infer()
            .await
            .map_err(|e| Error::Config(e.to_string()))?,
    };
    Ok(cfg)
}

pub async fn load_live_async(opts: &LiveOptions) -> Result<ClusterView, Error> {
    let client = Client::try_from(config(opts).await?).map_err(|e| Error::Config(e.to_string()))?;
    let mut view = ClusterView::default();
    // Services are required; everything else is best effort (RBAC, CRDs not installed).
    add_all(&mut view, list::<core::Service>(&client, "services").await?);
    for r in [
        list::<discovery::EndpointSlice>(&client, "endpointslices").await,
        list::<core::Pod>(&client, "pods").await,
        list::<core::Node>(&client, "nodes").await,
        list::<core::Namespace>(&client, "namespaces").await,
        list::<networking::NetworkPolicy>(&client, "networkpolicies").await,
        list_events(&client).await,
        kube_proxy_cm(&client).await,
        metallb_legacy_cm(&client).await,
    ] {
        match r {
            Ok(objs) => add_all(&mut view, objs),
            Err(e) => view.notes.push(e.to_string()),
        }
    }
    for (kind, plural) in [
        ("IPAddressPool", "ipaddresspools"),
        ("L2Advertisement", "l2advertisements"),
        ("BGPAdvertisement", "bgpadvertisements"),
        ("ServiceL2Status", "servicel2statuses"),
    ] {
        match list_metallb(&client, kind, plural).await {
            Ok(objs) => add_all(&mut view, objs),
            Err(e) => view.notes.push(e.to_string()),
        }
    }
    if opts.logs {
        let speakers: Vec<(String, String)> = view
            .speakers()
            .iter()
            .map(|p| (p.namespace.clone(), p.name.clone()))
            .collect();
        for (ns, name) in speakers {
            let api: Api<core::Pod> = Api::namespaced(client.clone(), &ns);
            let lp = LogParams {
                container: Some("speaker".into()),
                tail_lines: Some(5000),
                ..Default::default()
            };
            match api.logs(&name, &lp).await {
                Ok(text) => view.speaker_logs.extend(crate::logs::parse(&name, &text)),
                Err(e) => view.notes.push(format!("logs of {ns}/{name}: {e}")),
            }
        }
    }
    view.finish();
    Ok(view)
}

fn add_all(view: &mut ClusterView, objs: Vec<serde_json::Value>) {
    for o in objs {
        ingest(view, o, None);
    }
}

fn api_err(what: &str, e: kube::Error) -> Error {
    Error::Api {
        what: what.to_string(),
        msg: e.to_string(),
    }
}

/// k8s-openapi objects serialise with their apiVersion and kind, so they go through the same
/// JSON path as files do.
fn to_values<K: Serialize>(items: Vec<K>) -> Vec<serde_json::Value> {
    items
        .into_iter()
        .filter_map(|i| serde_json::to_value(i).ok())
        .collect()
}

async fn list<K>(client: &Client, what: &str) -> Result<Vec<serde_json::Value>, Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + Serialize + std::fmt::Debug,
    <K as kube::Resource>::DynamicType: Default,
{
    let api: Api<K> = Api::all(client.clone());
    let l = api
        .list(&ListParams::default())
        .await
        .map_err(|e| api_err(what, e))?;
    Ok(to_values(l.items))
}

async fn list_events(client: &Client) -> Result<Vec<serde_json::Value>, Error> {
    let api: Api<core::Event> = Api::all(client.clone());
    let l = api
        .list(&ListParams::default().fields("reason=nodeAssigned"))
        .await
        .map_err(|e| api_err("events", e))?;
    Ok(to_values(l.items))
}

async fn kube_proxy_cm(client: &Client) -> Result<Vec<serde_json::Value>, Error> {
    let api: Api<core::ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    let cm = api
        .get_opt("kube-proxy")
        .await
        .map_err(|e| api_err("configmap kube-system/kube-proxy", e))?;
    Ok(to_values(cm.into_iter().collect()))
}

/// MetalLB before 0.13 configured pools in ConfigMap metallb-system/config (no CRDs).
async fn metallb_legacy_cm(client: &Client) -> Result<Vec<serde_json::Value>, Error> {
    let api: Api<core::ConfigMap> = Api::namespaced(client.clone(), "metallb-system");
    // Best effort, and quiet: on MetalLB ≥ 0.13 the ConfigMap is gone, and a role that may
    // read the CRDs but not ConfigMaps there is no problem worth a note.
    match api.get_opt("config").await {
        Ok(cm) => Ok(to_values(cm.into_iter().collect())),
        Err(kube::Error::Api(e)) if e.code == 403 => Ok(Vec::new()),
        Err(e) => Err(api_err("configmap metallb-system/config", e)),
    }
}

async fn list_metallb(
    client: &Client,
    kind: &str,
    plural: &str,
) -> Result<Vec<serde_json::Value>, Error> {
    let ar = ApiResource {
        group: "metallb.io".into(),
        version: "v1beta1".into(),
        api_version: "metallb.io/v1beta1".into(),
        kind: kind.into(),
        plural: plural.into(),
    };
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    match api.list(&ListParams::default()).await {
        Ok(l) => Ok(l
            .items
            .into_iter()
            .filter_map(|mut o| {
                // DynamicObject lists may omit per-item type metadata.
                if o.types.is_none() {
                    o.types = Some(kube::api::TypeMeta {
                        api_version: ar.api_version.clone(),
                        kind: ar.kind.clone(),
                    });
                }
                serde_json::to_value(o).ok()
            })
            .collect()),
        Err(kube::Error::Api(s)) if s.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(api_err(plural, e)),
    }
}
