#!/usr/bin/env python3
"""Writes the kube check fixtures: one directory per case, each a support bundle in the format
`kubectl get KIND -A -o json` prints (a `kind: List` with typed items), except
`old-prefix-events`, laid out like `kubectl cluster-info dump --output-directory` (typed lists
whose items carry no kind, one directory per namespace). Run from this directory:
python3 make_fixtures.py. Objects follow the shapes in shared/reference/06_* (MetalLB) and the
Kubernetes API (v1.33)."""
import copy, json, os, shutil

T0 = "2026-11-20T10:00:00Z"

def meta(name, ns=None, labels=None, annotations=None, **kw):
    m = {"name": name, "uid": f"uid-{ns or 'c'}-{name}", "resourceVersion": "1000", "creationTimestamp": T0}
    if ns: m["namespace"] = ns
    if labels: m["labels"] = labels
    if annotations: m["annotations"] = annotations
    m.update(kw)
    return m

def node(name, ip, labels=None, taints=None, net_unavail=False):
    l = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
    l.update(labels or {})
    conds = [{"type": "NetworkUnavailable", "status": "True" if net_unavail else "False", "reason": "FlannelIsUp", "lastTransitionTime": T0, "lastHeartbeatTime": T0},
             {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastTransitionTime": T0, "lastHeartbeatTime": T0}]
    spec = {"podCIDR": "10.244.0.0/24"}
    if taints: spec["taints"] = taints
    return {"apiVersion": "v1", "kind": "Node", "metadata": meta(name, labels=l), "spec": spec,
            "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}], "conditions": conds}}

def pod(name, ns, node, ip, labels, ready=True, ports=None, host_network=False, phase="Running"):
    c = {"name": labels.get("component", "app"), "image": "registry.example/app:1", "ports": ports or []}
    spec = {"nodeName": node, "containers": [c]}
    if host_network: spec["hostNetwork"] = True
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta(name, ns, labels), "spec": spec,
            "status": {"phase": phase, "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": ip,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": T0}]}}

def speaker(name, node, ip, helm=False, ready=True):
    labels = ({"app.kubernetes.io/name": "metallb", "app.kubernetes.io/component": "speaker", "app.kubernetes.io/instance": "metallb"}
              if helm else {"app": "metallb", "component": "speaker"})
    p = pod(name, "metallb-system", node, ip, labels, ready=ready, host_network=True,
            ports=[{"name": "monitoring", "containerPort": 7472, "protocol": "TCP"}, {"name": "memberlist-tcp", "containerPort": 7946, "protocol": "TCP"}])
    p["spec"]["containers"][0]["name"] = "speaker"
    return p

def service(name, ns, ip, etp="Cluster", ann=None, ranges=None, port=80, target="http", lbclass=None):
    spec = {"type": "LoadBalancer", "selector": {"app": name}, "clusterIP": "10.96.120.15", "clusterIPs": ["10.96.120.15"],
            "ports": [{"name": "http", "protocol": "TCP", "port": port, "targetPort": target, "nodePort": 31080}],
            "externalTrafficPolicy": etp, "internalTrafficPolicy": "Cluster", "sessionAffinity": "None",
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "allocateLoadBalancerNodePorts": True}
    if etp == "Local": spec["healthCheckNodePort"] = 32001
    if ranges: spec["loadBalancerSourceRanges"] = ranges
    if lbclass: spec["loadBalancerClass"] = lbclass
    status = {"loadBalancer": {"ingress": [{"ip": ip}]} if ip else {}}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name, ns, {"app": name}, ann), "spec": spec, "status": status}

def slice_(svc, ns, eps):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": meta(f"{svc}-x7k2p", ns, {"kubernetes.io/service-name": svc, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                             ownerReferences=[{"apiVersion": "v1", "kind": "Service", "name": svc, "uid": f"uid-{ns}-{svc}"}]),
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": r, "serving": r, "terminating": False}, "nodeName": n,
                           "targetRef": {"kind": "Pod", "name": p, "namespace": ns, "uid": f"uid-{ns}-{p}"}} for (p, ip, n, r) in eps]}

def l2status(name, node, svc, ns, ifaces=None):
    st = {"node": node, "serviceName": svc, "serviceNamespace": ns}
    if ifaces: st["interfaces"] = [{"name": i} for i in ifaces]
    return {"apiVersion": "metallb.io/v1beta1", "kind": "ServiceL2Status",
            "metadata": meta(name, "metallb-system", {"metallb.io/node": node, "metallb.io/service-name": svc, "metallb.io/service-namespace": ns},
                             generateName="l2-", ownerReferences=[{"apiVersion": "v1", "kind": "Pod", "name": "speaker-" + node, "uid": "u"}]),
            "spec": {}, "status": st}

def event(svc, ns, node, t="2026-11-20T10:05:00Z", old=False):
    msg = f'announcing from node "{node}"' if old else f'announcing from node "{node}" with protocol "layer2"'
    return {"apiVersion": "v1", "kind": "Event", "metadata": meta(f"{svc}.187a{node}", ns),
            "involvedObject": {"apiVersion": "v1", "kind": "Service", "name": svc, "namespace": ns, "uid": f"uid-{ns}-{svc}", "resourceVersion": "1000"},
            "reason": "nodeAssigned", "message": msg, "source": {"component": "metallb-speaker"}, "reportingComponent": "metallb-speaker",
            "firstTimestamp": t, "lastTimestamp": t, "count": 1, "type": "Normal"}

def pool(name="first-pool", addrs=("192.168.1.240-192.168.1.250",)):
    return {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": meta(name, "metallb-system"),
            "spec": {"addresses": list(addrs), "autoAssign": True, "avoidBuggyIPs": False}}

def l2adv(name="l2", pools=None, node_selectors=None, ifaces=None):
    spec = {}
    if pools: spec["ipAddressPools"] = pools
    if node_selectors: spec["nodeSelectors"] = node_selectors
    if ifaces: spec["interfaces"] = ifaces
    return {"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement", "metadata": meta(name, "metallb-system"), "spec": spec}

def kube_proxy(mode="", strict=False):
    conf = f"apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nclusterCIDR: 10.244.0.0/16\nipvs:\n  scheduler: \"\"\n  strictARP: {'true' if strict else 'false'}\nmode: \"{mode}\"\n"
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("kube-proxy", "kube-system", {"app": "kube-proxy"}),
            "data": {"config.conf": conf, "kubeconfig.conf": "apiVersion: v1\nkind: Config\n"}}

def netpol(name, ns, spec):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta(name, ns), "spec": spec}

HTTP = [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
EXCL = "node.kubernetes.io/exclude-from-external-load-balancers"

def base():
    return {
        "nodes": [node("cp1", "192.168.1.10", {"node-role.kubernetes.io/control-plane": "", EXCL: ""},
                       [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]),
                  node("w1", "192.168.1.11"), node("w2", "192.168.1.12")],
        "namespaces": [{"apiVersion": "v1", "kind": "Namespace", "metadata": meta(n, labels={"kubernetes.io/metadata.name": n})} for n in ["default", "kube-system", "metallb-system"]],
        "pods": [speaker("speaker-cp1", "cp1", "192.168.1.10"), speaker("speaker-w1", "w1", "192.168.1.11"), speaker("speaker-w2", "w2", "192.168.1.12"),
                 pod("controller-7f9c", "metallb-system", "w1", "10.244.1.3", {"app": "metallb", "component": "controller"}),
                 pod("web-1", "default", "w1", "10.244.1.12", {"app": "web"}, ports=HTTP),
                 pod("web-2", "default", "w2", "10.244.2.7", {"app": "web"}, ports=HTTP)],
        "services": [service("web", "default", "192.168.1.240", ann={"metallb.io/ip-allocated-from-pool": "first-pool"})],
        "endpointslices": [slice_("web", "default", [("web-1", "10.244.1.12", "w1", True), ("web-2", "10.244.2.7", "w2", True)])],
        "events": [event("web", "default", "w1")],
        "configmaps": [kube_proxy()],
        "networkpolicies": [],
        "metallb": [pool(), l2adv(), l2status("l2-cf2xr", "w1", "web", "default")],
    }

def write_lists(d, objs):
    os.makedirs(d, exist_ok=True)
    for fname, items in objs.items():
        with open(os.path.join(d, fname + ".json"), "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}, f, indent=4)
            f.write("\n")

def write_dump(d, objs):
    """kubectl cluster-info dump --output-directory layout (typed lists, items without kind)."""
    os.makedirs(d, exist_ok=True)
    def strip(items):
        out = []
        for i in items:
            i = copy.deepcopy(i); i.pop("kind", None); i.pop("apiVersion", None); out.append(i)
        return out
    def typed(path, kind, items):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump({"kind": kind + "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1000"}, "items": strip(items)}, f, indent=4)
            f.write("\n")
    typed(os.path.join(d, "nodes.json"), "Node", objs["nodes"])
    for ns in ["default", "kube-system", "metallb-system"]:
        for fname, kind in [("pods", "Pod"), ("services", "Service"), ("events", "Event"), ("configmaps", "ConfigMap")]:
            typed(os.path.join(d, ns, fname + ".json"), kind, [o for o in objs[fname] if o["metadata"].get("namespace") == ns])
    # Not part of cluster-info dump: added to the bundle with kubectl get -A -o yaml.
    with open(os.path.join(d, "extra-endpointslices.yaml"), "w") as f:
        for o in objs["endpointslices"]:
            f.write("---\n" + json.dumps(o) + "\n")  # JSON is YAML
    with open(os.path.join(d, "metallb.yaml"), "w") as f:
        f.write(json.dumps({"apiVersion": "v1", "kind": "List", "items": objs["metallb"]}, indent=2) + "\n")
    logdir = os.path.join(d, "metallb-system", "speaker-w1")
    os.makedirs(logdir, exist_ok=True)
    with open(os.path.join(logdir, "logs.txt"), "w") as f:
        f.write('{"caller":"announcer.go:126","event":"createARPResponder","interface":"eth0","level":"info","msg":"created ARP responder for interface","ts":"2026-11-20T10:04:00Z"}\n')
        f.write('{"caller":"main.go:420","event":"serviceAnnounced","ips":["192.168.1.240"],"level":"info","msg":"service has IP, announcing","pool":"first-pool","protocol":"layer2","ts":"2026-11-20T10:05:00Z"}\n')

CASES = {}
def case(name):
    def deco(f):
        CASES[name] = f
        return f
    return deco

@case("healthy")
def _(o): return o

@case("no-lb-ip")
def _(o):
    s = o["services"][0]
    s["status"] = {"loadBalancer": {}}
    s["metadata"]["annotations"] = {"metallb.universe.tf/address-pool": "production"}
    o["metallb"] = [m for m in o["metallb"] if m["kind"] != "ServiceL2Status"]
    o["events"] = []
    return o

@case("old-prefix-events")
def _(o):
    o["services"][0]["metadata"]["annotations"] = {"metallb.universe.tf/ip-allocated-from-pool": "first-pool"}
    o["metallb"] = [m for m in o["metallb"] if m["kind"] != "ServiceL2Status"]
    o["events"] = [event("web", "default", "w2", "2026-11-20T09:00:00Z", old=True), event("web", "default", "w1", "2026-11-20T10:05:00Z")]
    return o

@case("no-endpoints")
def _(o):
    for p in o["pods"]:
        if p["metadata"]["name"].startswith("web-"):
            p["status"]["conditions"][0]["status"] = "False"
    o["endpointslices"] = [slice_("web", "default", [("web-1", "10.244.1.12", "w1", False), ("web-2", "10.244.2.7", "w2", False)])]
    return o

@case("no-speakers")
def _(o):
    o["pods"] = [p for p in o["pods"] if "speaker" not in p["metadata"]["name"]]
    o["pods"] += [speaker("metallb-speaker-" + n, n, ip, helm=True, ready=False) for n, ip in [("w1", "192.168.1.11"), ("w2", "192.168.1.12")]]
    o["metallb"] = [m for m in o["metallb"] if m["kind"] != "ServiceL2Status"]
    o["events"] = []
    return o

@case("all-excluded")
def _(o):
    for n in o["nodes"]:
        n["metadata"]["labels"][EXCL] = ""
    return o

@case("etp-local-wrong-node")
def _(o):
    o["services"][0] = service("web", "default", "192.168.1.240", etp="Local", ann={"metallb.io/ip-allocated-from-pool": "first-pool"})
    o["endpointslices"] = [slice_("web", "default", [("web-2", "10.244.2.7", "w2", True)])]
    o["pods"] = [p for p in o["pods"] if p["metadata"]["name"] != "web-1"]
    return o

@case("etp-local-ok")
def _(o):
    o = CASES["etp-local-wrong-node"](o)
    o["metallb"] = [pool(), l2adv(), l2status("l2-9qwer", "w2", "web", "default")]
    o["events"] = [event("web", "default", "w2")]
    return o

@case("l2adv-nodeselector")
def _(o):
    o["metallb"] = [pool(), l2adv(pools=["first-pool"], node_selectors=[{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["w2"]}]}], ifaces=["eth1"]),
                    l2status("l2-cf2xr", "w1", "web", "default", ifaces=["eth0"])]
    return o

@case("ipvs-no-strictarp")
def _(o):
    o["configmaps"] = [kube_proxy("ipvs", False)]
    return o

@case("netpol")
def _(o):
    o = CASES["etp-local-ok"](o)
    o["services"][0]["spec"]["loadBalancerSourceRanges"] = ["203.0.113.0/24", "10.0.0.0/8"]
    o["networkpolicies"] = [
        netpol("default-deny", "default", {"podSelector": {}, "policyTypes": ["Ingress"]}),
        netpol("web-from-lan", "default", {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
               "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.99.0.0/16"]}}], "ports": [{"protocol": "TCP", "port": "http"}]}]})]
    return o

@case("split-brain")
def _(o):
    o["metallb"].append(l2status("l2-zz9xq", "w2", "web", "default"))
    return o

def metallb_legacy_cm(pools):
    """MetalLB <= 0.12: pools in ConfigMap metallb-system/config (layout of its v0.12 docs)."""
    conf = "address-pools:\n"
    for name, proto, addrs, auto in pools:
        conf += f"- name: {name}\n  protocol: {proto}\n"
        if not auto: conf += "  auto-assign: false\n"
        conf += "  addresses:\n" + "".join(f"  - {a}\n" for a in addrs)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("config", "metallb-system"), "data": {"config": conf}}

@case("metallb-legacy-configmap")
def _(o):
    # MetalLB 0.12: no CRDs at all (no pools, advertisements or ServiceL2Status), the old
    # annotation and event form; a layer2 pool holding the IP, a bgp pool that does not.
    o["services"][0]["metadata"]["annotations"] = {"metallb.universe.tf/address-pool": "default"}
    o["metallb"] = []
    o["events"] = [event("web", "default", "w1", old=True)]
    o["configmaps"].append(metallb_legacy_cm([("default", "layer2", ["192.168.1.240/28"], True),
                                              ("bgp-pool", "bgp", ["203.0.113.64-203.0.113.79"], False)]))
    return o

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    for name, f in CASES.items():
        d = os.path.join(here, name)
        shutil.rmtree(d, ignore_errors=True)
        objs = f(base())
        (write_dump if name == "old-prefix-events" else write_lists)(d, objs)
    print("wrote", ", ".join(CASES))
