//! `nft -j list ruleset` into tables, base chains (hook, priority), chains, rules and named
//! sets/maps, plus a renderer that prints a rule's expressions back in nft's own syntax.
//!
//! JSON is the input because it is structured and stable; `nft list ruleset` text is turned
//! into JSON by the real `nft` (loaded into a private scratch namespace) by the binary, so
//! nft's own grammar is never re-implemented here.

use std::collections::HashMap;

use serde_json::Value;

use crate::error::{Result, RulesError};

#[derive(Clone, Debug)]
pub struct NftRule {
    pub handle: u64,
    pub exprs: Vec<Value>,
    pub comment: Option<String>,
    /// The rule in nft syntax (rendered from JSON).
    pub text: String,
    pub counters: Option<(u64, u64)>,
}

#[derive(Clone, Debug)]
pub struct NftChain {
    pub name: String,
    /// Base chains: hook (prerouting, input, forward, output, postrouting), type and priority.
    pub hook: Option<String>,
    pub kind: Option<String>,
    pub prio: i32,
    pub policy: Option<String>,
    pub rules: Vec<NftRule>,
}

/// A named set or map; `elems` are (key, data) with data only for maps.
#[derive(Clone, Debug)]
pub struct NftSet {
    pub name: String,
    pub is_map: bool,
    pub elems: Vec<(Value, Option<Value>, Option<String>)>,
}

#[derive(Clone, Debug)]
pub struct NftTable {
    pub family: String,
    pub name: String,
    pub chains: Vec<NftChain>,
    index: HashMap<String, usize>,
    pub sets: HashMap<String, NftSet>,
}

impl NftTable {
    pub fn chain(&self, name: &str) -> Option<&NftChain> {
        self.index.get(name).map(|&i| &self.chains[i])
    }
    /// Families whose chains see IPv4 (`ip`, `inet`) or IPv6 (`ip6`, `inet`) packets.
    pub fn sees(&self, ipv6: bool) -> bool {
        match self.family.as_str() {
            "inet" => true,
            "ip" => !ipv6,
            "ip6" => ipv6,
            _ => false,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct NftRuleset {
    pub source_name: String,
    pub tables: Vec<NftTable>,
}

impl NftRuleset {
    pub fn rule_count(&self) -> usize {
        self.tables
            .iter()
            .flat_map(|t| &t.chains)
            .map(|c| c.rules.len())
            .sum()
    }
}

fn obj<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object().and_then(|o| o.get(key))
}

fn s(v: &Value, key: &str) -> String {
    obj(v, key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Parse `nft -j list ruleset` (or `list table`) output.
pub fn parse(source_name: &str, json: &str) -> Result<NftRuleset> {
    let err = |detail: String| RulesError::Json {
        source_name: source_name.into(),
        detail,
    };
    let root: Value = serde_json::from_str(json).map_err(|e| err(e.to_string()))?;
    let items = obj(&root, "nftables")
        .and_then(Value::as_array)
        .ok_or_else(|| err("no top-level \"nftables\" array".into()))?;
    let mut rs = NftRuleset {
        source_name: source_name.into(),
        tables: Vec::new(),
    };
    let table_idx = |rs: &mut NftRuleset, family: &str, name: &str| -> usize {
        if let Some(i) = rs
            .tables
            .iter()
            .position(|t| t.family == family && t.name == name)
        {
            return i;
        }
        rs.tables.push(NftTable {
            family: family.into(),
            name: name.into(),
            chains: Vec::new(),
            index: HashMap::new(),
            sets: HashMap::new(),
        });
        rs.tables.len() - 1
    };
    for item in items {
        let Some(o) = item.as_object() else { continue };
        for (kind, v) in o {
            match kind.as_str() {
                "table" => {
                    table_idx(&mut rs, &s(v, "family"), &s(v, "name"));
                }
                "chain" => {
                    let t = table_idx(&mut rs, &s(v, "family"), &s(v, "table"));
                    let table = &mut rs.tables[t];
                    let name = s(v, "name");
                    let chain = NftChain {
                        name: name.clone(),
                        hook: obj(v, "hook").and_then(Value::as_str).map(str::to_string),
                        kind: obj(v, "type").and_then(Value::as_str).map(str::to_string),
                        prio: obj(v, "prio").and_then(Value::as_i64).unwrap_or(0) as i32,
                        policy: obj(v, "policy").and_then(Value::as_str).map(str::to_string),
                        rules: Vec::new(),
                    };
                    match table.index.get(&name) {
                        Some(&i) => {
                            let rules = std::mem::take(&mut table.chains[i].rules);
                            table.chains[i] = NftChain { rules, ..chain };
                        }
                        None => {
                            table.chains.push(chain);
                            table.index.insert(name, table.chains.len() - 1);
                        }
                    }
                }
                "rule" => {
                    let t = table_idx(&mut rs, &s(v, "family"), &s(v, "table"));
                    let table = &mut rs.tables[t];
                    let cname = s(v, "chain");
                    let exprs: Vec<Value> = obj(v, "expr")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    let counters = exprs.iter().find_map(|e| {
                        let c = obj(e, "counter")?;
                        Some((obj(c, "packets")?.as_u64()?, obj(c, "bytes")?.as_u64()?))
                    });
                    let comment = obj(v, "comment")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    let mut text = render_rule(&exprs);
                    if let Some(c) = &comment {
                        text.push_str(&format!(" comment \"{c}\""));
                    }
                    let rule = NftRule {
                        handle: obj(v, "handle").and_then(Value::as_u64).unwrap_or(0),
                        exprs,
                        comment,
                        text,
                        counters,
                    };
                    let i = match table.index.get(&cname) {
                        Some(&i) => i,
                        None => {
                            table.chains.push(NftChain {
                                name: cname.clone(),
                                hook: None,
                                kind: None,
                                prio: 0,
                                policy: None,
                                rules: Vec::new(),
                            });
                            table.index.insert(cname, table.chains.len() - 1);
                            table.chains.len() - 1
                        }
                    };
                    table.chains[i].rules.push(rule);
                }
                "set" | "map" => {
                    let t = table_idx(&mut rs, &s(v, "family"), &s(v, "table"));
                    let mut elems = Vec::new();
                    for e in obj(v, "elem")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        let (key, data) = match e.as_array() {
                            Some(pair) if kind == "map" && pair.len() == 2 => {
                                (pair[0].clone(), Some(pair[1].clone()))
                            }
                            _ => (e.clone(), None),
                        };
                        // {"elem": {"val": K, "comment": C}} wraps keys that carry a comment.
                        let (key, comment) = match obj(&key, "elem") {
                            Some(inner) => (
                                obj(inner, "val").cloned().unwrap_or(Value::Null),
                                obj(inner, "comment")
                                    .and_then(Value::as_str)
                                    .map(str::to_string),
                            ),
                            None => (key, None),
                        };
                        elems.push((key, data, comment));
                    }
                    let name = s(v, "name");
                    rs.tables[t].sets.insert(
                        name.clone(),
                        NftSet {
                            name,
                            is_map: kind == "map",
                            elems,
                        },
                    );
                }
                _ => {}
            }
        }
    }
    Ok(rs)
}

/// nft syntax for an expression (best effort; used for display only).
pub fn render(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(render).collect::<Vec<_>>().join(", "),
        Value::Object(o) => {
            let Some((k, x)) = o.iter().next() else {
                return String::new();
            };
            match k.as_str() {
                "payload" => {
                    let p = s(x, "protocol");
                    let f = s(x, "field");
                    if p.is_empty() {
                        format!(
                            "@payload,{}",
                            render(obj(x, "offset").unwrap_or(&Value::Null))
                        )
                    } else {
                        format!("{p} {f}")
                    }
                }
                "meta" => {
                    let key = s(x, "key");
                    if matches!(
                        key.as_str(),
                        "iifname"
                            | "oifname"
                            | "iif"
                            | "oif"
                            | "mark"
                            | "l4proto"
                            | "nfproto"
                            | "pkttype"
                    ) && key != "l4proto"
                        && key != "nfproto"
                    {
                        key
                    } else {
                        format!("meta {key}")
                    }
                }
                "ct" => format!("ct {}", s(x, "key")),
                "fib" => {
                    let flags = obj(x, "flags")
                        .map(render)
                        .unwrap_or_default()
                        .replace(", ", " . ");
                    format!("fib {flags} {}", s(x, "result"))
                }
                "numgen" => format!(
                    "numgen {} mod {}",
                    s(x, "mode"),
                    render(obj(x, "mod").unwrap_or(&Value::Null))
                ),
                "concat" => x
                    .as_array()
                    .map(|a| a.iter().map(render).collect::<Vec<_>>().join(" . "))
                    .unwrap_or_default(),
                "prefix" => format!(
                    "{}/{}",
                    render(obj(x, "addr").unwrap_or(&Value::Null)),
                    render(obj(x, "len").unwrap_or(&Value::Null))
                ),
                "range" => x
                    .as_array()
                    .map(|a| a.iter().map(render).collect::<Vec<_>>().join("-"))
                    .unwrap_or_default(),
                "set" => match x {
                    Value::Array(a) => format!(
                        "{{ {} }}",
                        a.iter()
                            .map(|e| match e.as_array() {
                                Some(p) if p.len() == 2 =>
                                    format!("{} : {}", render(&p[0]), render(&p[1])),
                                _ => render(e),
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    other => format!("{{ {} }}", render(other)),
                },
                "elem" => render(obj(x, "val").unwrap_or(&Value::Null)),
                "&" | "|" | "^" | "<<" | ">>" => x
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(render)
                            .collect::<Vec<_>>()
                            .join(&format!(" {k} "))
                    })
                    .unwrap_or_default(),
                "match" => {
                    let op = s(x, "op");
                    let l = render(obj(x, "left").unwrap_or(&Value::Null));
                    let r = render(obj(x, "right").unwrap_or(&Value::Null));
                    if op == "==" || op == "in" {
                        format!("{l} {r}")
                    } else {
                        format!("{l} {op} {r}")
                    }
                }
                "vmap" => format!(
                    "{} vmap {}",
                    render(obj(x, "key").unwrap_or(&Value::Null)),
                    render(obj(x, "data").unwrap_or(&Value::Null))
                ),
                "map" => format!(
                    "{} map {}",
                    render(obj(x, "key").unwrap_or(&Value::Null)),
                    render(obj(x, "data").unwrap_or(&Value::Null))
                ),
                "jump" | "goto" => format!("{k} {}", s(x, "target")),
                "counter" => match (obj(x, "packets"), obj(x, "bytes")) {
                    (Some(p), Some(b)) => format!("counter packets {p} bytes {b}"),
                    _ => "counter".into(),
                },
                "mangle" => format!(
                    "{} set {}",
                    render(obj(x, "key").unwrap_or(&Value::Null)),
                    render(obj(x, "value").unwrap_or(&Value::Null))
                ),
                "dnat" | "snat" => {
                    let addr = render(obj(x, "addr").unwrap_or(&Value::Null));
                    match obj(x, "port") {
                        Some(p) => format!("{k} to {addr}:{}", render(p)),
                        None => format!("{k} to {addr}"),
                    }
                }
                "masquerade" => match obj(x, "flags") {
                    Some(f) => format!("masquerade {}", render(f)),
                    None => "masquerade".into(),
                },
                "reject" => match obj(x, "expr") {
                    Some(e) => format!("reject with {} {}", s(x, "type"), render(e)),
                    None => "reject".into(),
                },
                "xt" => format!("xt {} {}", s(x, "type"), s(x, "name")),
                other => {
                    if x.is_null() {
                        other.to_string()
                    } else {
                        format!("{other} {}", render(x))
                    }
                }
            }
        }
    }
}

fn render_rule(exprs: &[Value]) -> String {
    exprs
        .iter()
        .map(render)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KP: &str = r#"{"nftables": [
      {"table": {"family": "ip", "name": "kube-proxy", "handle": 1}},
      {"chain": {"family": "ip", "table": "kube-proxy", "name": "nat-prerouting", "handle": 2, "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
      {"map": {"family": "ip", "name": "service-ips", "table": "kube-proxy", "type": ["ipv4_addr", "inet_proto", "inet_service"], "map": "verdict",
        "elem": [[{"concat": ["192.168.1.240", "tcp", 80]}, {"goto": {"target": "external-X"}}],
                 [{"elem": {"val": {"concat": ["10.96.201.9", "tcp", 80]}, "comment": "default/broken:http"}}, {"goto": {"target": "reject-chain"}}]]}},
      {"rule": {"family": "ip", "table": "kube-proxy", "chain": "services", "handle": 9, "expr": [{"vmap": {"key": {"concat": [{"payload": {"protocol": "ip", "field": "daddr"}}, {"meta": {"key": "l4proto"}}, {"payload": {"protocol": "th", "field": "dport"}}]}, "data": "@service-ips"}}]}},
      {"rule": {"family": "ip", "table": "kube-proxy", "chain": "nat-prerouting", "handle": 3, "expr": [{"counter": {"packets": 4, "bytes": 240}}, {"jump": {"target": "services"}}]}}
    ]}"#;

    #[test]
    fn parses_tables_chains_maps_and_renders_rules() {
        let rs = parse("kp", KP).unwrap();
        let t = &rs.tables[0];
        assert_eq!((t.family.as_str(), t.name.as_str()), ("ip", "kube-proxy"));
        let pre = t.chain("nat-prerouting").unwrap();
        assert_eq!((pre.hook.as_deref(), pre.prio), (Some("prerouting"), -100));
        assert_eq!(pre.rules[0].counters, Some((4, 240)));
        assert_eq!(
            pre.rules[0].text,
            "counter packets 4 bytes 240 jump services"
        );
        assert_eq!(
            t.chain("services").unwrap().rules[0].text,
            "ip daddr . meta l4proto . th dport vmap @service-ips"
        );
        let m = &t.sets["service-ips"];
        assert!(m.is_map);
        assert_eq!(m.elems[1].2.as_deref(), Some("default/broken:http"));
    }

    #[test]
    fn rejects_non_nft_json() {
        assert!(parse("x", "{}").is_err());
        assert!(parse("x", "not json").is_err());
    }
}
