//! `iptables-save` (and `ip6tables-save`, `-c` counters, legacy and nft backends) into tables,
//! chains and rules, keeping each rule's text so explanations quote what the admin would see.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Serialize;

use crate::error::{Result, RulesError};

/// Which iptables backend wrote a dump (they are separate rule sets in the kernel).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Legacy,
    Nft,
    Unknown,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Legacy => "iptables-legacy",
            Backend::Nft => "iptables-nft",
            Backend::Unknown => "iptables",
        }
    }
}

/// FNV-1a: chain names are short and trusted enough; SipHash showed up in profiles of 100k-rule
/// dumps.
#[derive(Clone, Copy, Default, Debug)]
pub struct FnvBuild;

pub struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl std::hash::BuildHasher for FnvBuild {
    type Hasher = Fnv;
    fn build_hasher(&self) -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

/// One option of a match module or target: `[!] --name values...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XtOpt {
    pub negated: bool,
    pub name: String,
    pub values: Vec<String>,
}

/// A match: a builtin (`-s`, `-d`, `-p`, `-i`, `-o`, `-f`; module "") or a `-m MODULE` with
/// its options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XtMatch {
    pub module: String,
    pub opts: Vec<XtOpt>,
}

/// `-j TARGET` / `-g CHAIN` with the target's options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XtTarget {
    pub name: String,
    pub goto: bool,
    pub opts: Vec<XtOpt>,
}

impl XtTarget {
    pub fn opt(&self, name: &str) -> Option<&str> {
        self.opts
            .iter()
            .find(|o| o.name == name)
            .and_then(|o| o.values.first())
            .map(String::as_str)
    }
}

/// One rule. Only its text is kept when the dump is read (validated then); matches and target
/// are parsed the first time the walker reaches the rule, so a 100k-rule dump stays small.
#[derive(Clone, Debug)]
pub struct XtRule {
    /// The whole dump, shared by its rules; `span` is this rule's text in it.
    src: std::sync::Arc<String>,
    span: (u32, u32),
    /// Line in the dump (1-based).
    pub line: u32,
    prefix_counters: Option<(u64, u64)>,
    args: std::sync::OnceLock<Box<RuleArgs>>,
}

impl XtRule {
    /// The rule as iptables-save prints it after `-A CHAIN `.
    pub fn text(&self) -> &str {
        self.src
            .get(self.span.0 as usize..self.span.1 as usize)
            .unwrap_or("")
    }

    fn args(&self) -> &RuleArgs {
        self.args.get_or_init(|| {
            tokenize(self.text())
                .ok()
                .and_then(|t| parse_rule_args(&t).ok())
                // Validated when the dump was read, so this default is never used.
                .unwrap_or_default()
                .into()
        })
    }

    /// True when the rule's `-d` (before any quoted word) excludes `dst`, so it cannot match:
    /// lets the walker skip parsing most of a 20k-rule KUBE-SERVICES chain. Never true when
    /// unsure.
    pub fn excludes_dst(&self, dst: std::net::IpAddr) -> bool {
        let text = self.text();
        let head = text.split('"').next().unwrap_or("");
        let mut prev = "";
        let mut words = head.split_ascii_whitespace();
        while let Some(w) = words.next() {
            if w == "-d" || w == "--destination" {
                let negated = prev == "!";
                return match (negated, words.next().and_then(crate::flow::parse_net)) {
                    (false, Some(net)) => !net.contains(&dst),
                    _ => false,
                };
            }
            prev = w;
        }
        false
    }

    pub fn matches(&self) -> &[XtMatch] {
        &self.args().0
    }

    pub fn target(&self) -> Option<&XtTarget> {
        self.args().1.as_ref()
    }

    /// Packet and byte counters (`iptables-save -c` or `-c P B`).
    pub fn counters(&self) -> Option<(u64, u64)> {
        self.prefix_counters.or(self.args().2)
    }

    /// The `--comment` text, if any (unquoted multi-word comments are joined back).
    pub fn comment(&self) -> Option<String> {
        self.matches()
            .iter()
            .filter(|m| m.module == "comment")
            .flat_map(|m| m.opts.iter())
            .find(|o| o.name == "comment")
            .map(|o| o.values.join(" "))
    }
}

#[derive(Clone, Debug)]
pub struct XtChain {
    pub name: String,
    /// Built-in chains have a policy (ACCEPT/DROP).
    pub policy: Option<String>,
    pub counters: Option<(u64, u64)>,
    pub rules: Vec<XtRule>,
}

#[derive(Clone, Debug)]
pub struct XtTable {
    pub name: String,
    pub chains: Vec<XtChain>,
    index: HashMap<String, usize, FnvBuild>,
}

impl XtTable {
    pub fn chain(&self, name: &str) -> Option<&XtChain> {
        self.index.get(name).map(|&i| &self.chains[i])
    }

    fn chain_mut(&mut self, name: &str) -> &mut XtChain {
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                self.chains.push(XtChain {
                    name: name.to_string(),
                    policy: None,
                    counters: None,
                    rules: Vec::new(),
                });
                self.index.insert(name.to_string(), self.chains.len() - 1);
                self.chains.len() - 1
            }
        };
        &mut self.chains[i]
    }
}

/// A whole `iptables-save` dump of one backend and family.
#[derive(Clone, Debug)]
pub struct XtDump {
    pub source_name: String,
    pub backend: Backend,
    pub ipv6: bool,
    pub tables: Vec<XtTable>,
}

impl XtDump {
    pub fn table(&self, name: &str) -> Option<&XtTable> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Number of rules in all tables.
    pub fn rule_count(&self) -> usize {
        self.tables
            .iter()
            .flat_map(|t| t.chains.iter())
            .map(|c| c.rules.len())
            .sum()
    }
}

/// Split a line the way the shell would (iptables-save quotes comments with `"` and escapes
/// inner quotes with `\`). Returns (token, was_quoted); plain words borrow from the line.
pub fn tokenize(line: &str) -> std::result::Result<Vec<(Cow<'_, str>, bool)>, String> {
    let mut out = Vec::with_capacity(24);
    tokenize_into(line, &mut out)?;
    Ok(out)
}

/// [`tokenize`] into a caller's vector (cleared first), so a dump reuses one buffer.
pub fn tokenize_into<'a>(
    line: &'a str,
    out: &mut Vec<(Cow<'a, str>, bool)>,
) -> std::result::Result<(), String> {
    out.clear();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if b[i] != b'"' {
            // A plain word (quotes only ever start a word in iptables-save output).
            while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'"' {
                i += 1;
            }
            if i >= b.len() || b[i] != b'"' {
                out.push((Cow::Borrowed(&line[start..i]), false));
                continue;
            }
        }
        // A word containing quotes: unquote and unescape into an owned string.
        let mut cur = String::from(&line[start..i]);
        let mut in_quote = false;
        while i < b.len() && (in_quote || !b[i].is_ascii_whitespace()) {
            match b[i] {
                b'"' => {
                    in_quote = !in_quote;
                    i += 1;
                }
                b'\\' if in_quote && i + 1 < b.len() => {
                    let next = line[i + 1..].chars().next().unwrap_or('\\');
                    cur.push(next);
                    i += 1 + next.len_utf8();
                }
                _ => {
                    let next = line[i..].chars().next().unwrap_or(' ');
                    // Copy a run of ordinary bytes at once.
                    let run_end = line[i..]
                        .find(|c: char| {
                            c == '"' || c == '\\' || (!in_quote && c.is_ascii_whitespace())
                        })
                        .map_or(b.len(), |k| i + k);
                    if run_end > i {
                        cur.push_str(&line[i..run_end]);
                        i = run_end;
                    } else {
                        cur.push(next);
                        i += next.len_utf8();
                    }
                }
            }
        }
        if in_quote {
            return Err("unterminated quote".into());
        }
        out.push((Cow::Owned(cur), true));
    }
    Ok(())
}

fn parse_counters(s: &str) -> Option<(u64, u64)> {
    let s = s.strip_prefix('[')?.strip_suffix(']')?;
    let (p, b) = s.split_once(':')?;
    Some((p.parse().ok()?, b.parse().ok()?))
}

/// A rule's matches, target and `-c` counters.
pub type RuleArgs = (Vec<XtMatch>, Option<XtTarget>, Option<(u64, u64)>);

/// Parse the arguments of one `-A CHAIN ...` rule.
pub fn parse_rule_args(tokens: &[(Cow<'_, str>, bool)]) -> std::result::Result<RuleArgs, String> {
    parse_args(tokens, true)
}

/// Check a rule's arguments without keeping them (the dump is validated on load, rules are
/// parsed for real only when walked): same grammar, no string copies.
fn check_rule_args(tokens: &[(Cow<'_, str>, bool)]) -> std::result::Result<(), String> {
    parse_args(tokens, false).map(drop)
}

fn parse_args(
    tokens: &[(Cow<'_, str>, bool)],
    keep: bool,
) -> std::result::Result<RuleArgs, String> {
    let mut matches: Vec<XtMatch> = Vec::new();
    let mut target: Option<XtTarget> = None;
    let mut counters = None;
    // Where `--options` go: the last module, or the target once it is given.
    enum Cur {
        None,
        Module(usize),
        Target,
    }
    let mut cur = Cur::None;
    let mut neg = false;
    let mut i = 0;
    let value = |i: usize| -> std::result::Result<String, String> {
        tokens
            .get(i)
            .map(|(t, _)| if keep { t.to_string() } else { String::new() })
            .ok_or_else(|| "option without a value".to_string())
    };
    while i < tokens.len() {
        let (tok, quoted) = (tokens[i].0.as_ref(), tokens[i].1);
        if quoted {
            return Err(format!("unexpected quoted word {tok:?}"));
        }
        match tok {
            "!" => {
                neg = true;
                i += 1;
                continue;
            }
            "-s" | "--source" | "-d" | "--destination" | "-p" | "--protocol" | "-i"
            | "--in-interface" | "-o" | "--out-interface" => {
                let name = match tok {
                    "-s" | "--source" => "s",
                    "-d" | "--destination" => "d",
                    "-p" | "--protocol" => "p",
                    "-i" | "--in-interface" => "i",
                    _ => "o",
                };
                // iptables also accepts `-s ! X` in old dumps.
                let mut j = i + 1;
                if tokens.get(j).is_some_and(|t| t.0 == "!") {
                    neg = !neg;
                    j += 1;
                }
                matches.push(XtMatch {
                    module: String::new(),
                    opts: vec![XtOpt {
                        negated: neg,
                        name: name.into(),
                        values: vec![value(j)?],
                    }],
                });
                i = j + 1;
            }
            "-f" | "--fragment" => {
                matches.push(XtMatch {
                    module: String::new(),
                    opts: vec![XtOpt {
                        negated: neg,
                        name: "f".into(),
                        values: vec![],
                    }],
                });
                i += 1;
            }
            "-m" | "--match" => {
                matches.push(XtMatch {
                    module: value(i + 1)?,
                    opts: Vec::new(),
                });
                cur = Cur::Module(matches.len() - 1);
                i += 2;
            }
            "-j" | "--jump" | "-g" | "--goto" => {
                target = Some(XtTarget {
                    name: value(i + 1)?,
                    goto: tok == "-g" || tok == "--goto",
                    opts: Vec::new(),
                });
                cur = Cur::Target;
                i += 2;
            }
            "-c" | "--set-counters" => {
                let p = value(i + 1)?.parse().map_err(|_| "bad packet counter")?;
                let b = value(i + 2)?.parse().map_err(|_| "bad byte counter")?;
                counters = Some((p, b));
                i += 3;
            }
            t if t.starts_with("--") => {
                let name = if keep {
                    t.trim_start_matches("--").to_string()
                } else {
                    String::new()
                };
                let mut values = Vec::new();
                let mut j = i + 1;
                while let Some((v, q)) = tokens.get(j) {
                    if !q
                        && (v == "!"
                            || (v.starts_with('-')
                                && v.len() > 1
                                && !v[1..].starts_with(|c: char| c.is_ascii_digit())))
                    {
                        break;
                    }
                    if keep {
                        values.push(v.to_string());
                    }
                    j += 1;
                }
                let opt = XtOpt {
                    negated: neg,
                    name,
                    values,
                };
                match cur {
                    Cur::Module(m) if keep => matches[m].opts.push(opt),
                    Cur::Module(_) => {}
                    Cur::Target => {
                        if let Some(t) = target.as_mut() {
                            t.opts.push(opt);
                        }
                    }
                    Cur::None => return Err(format!("option {t} before any -m or -j")),
                }
                i = j;
            }
            other => return Err(format!("unexpected word {other:?}")),
        }
        neg = false;
    }
    Ok((matches, target, counters))
}

/// Parse an `iptables-save` / `ip6tables-save` dump (with or without `-c`).
pub fn parse(source_name: &str, text: &str) -> Result<XtDump> {
    parse_string(source_name, text.to_string())
}

/// [`parse`] taking ownership of the text (no copy of a large dump).
pub fn parse_string(source_name: &str, text: String) -> Result<XtDump> {
    let src = std::sync::Arc::new(text);
    let text: &str = src.as_str();
    let base = text.as_ptr() as usize;
    let mut backend = Backend::Unknown;
    let mut ipv6 = false;
    let mut tables: Vec<XtTable> = Vec::new();
    let mut current: Option<usize> = None;
    let mut last_chain: Option<(usize, usize)> = None;
    let mut tokens: Vec<(Cow<'_, str>, bool)> = Vec::with_capacity(32);
    let err = |line: usize, detail: String| RulesError::Parse {
        source_name: source_name.to_string(),
        line,
        detail,
    };
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            if c.contains("nf_tables") || c.contains("-nft-save") {
                backend = Backend::Nft;
            } else if c.contains("legacy") {
                backend = Backend::Legacy;
            }
            if c.contains("ip6tables") {
                ipv6 = true;
            }
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            let name = name.trim();
            // A table may appear twice (concatenated dumps): continue the first one.
            current = Some(match tables.iter().position(|t| t.name == name) {
                Some(i) => i,
                None => {
                    tables.push(XtTable {
                        name: name.to_string(),
                        chains: Vec::new(),
                        index: HashMap::default(),
                    });
                    tables.len() - 1
                }
            });
            continue;
        }
        if line == "COMMIT" {
            current = None;
            continue;
        }
        let Some(t) = current else {
            // `iptables -L [-n] [-v]` and `-S` are what people paste; say what to run instead.
            let detail = if line.starts_with("Chain ") && line.contains('(') {
                "this is `iptables -L` output (a listing drops matches, comments and the table): save the rules with `iptables-save` (or `iptables-save -c` for counters) and pass that".to_string()
            } else if line.starts_with("-P ") || line.starts_with("-N ") {
                "this looks like `iptables -S` output (no table headers): save the rules with `iptables-save` and pass that".to_string()
            } else if line.starts_with("table ") || line.starts_with("flush ruleset") {
                "this is nftables syntax: pass it with --nft".to_string()
            } else if line.starts_with("-A ") || line.starts_with(':') {
                format!(
                    "rule outside a table (*nat, *filter…): {line} — a fragment (e.g. `iptables-save | grep`) is not enough: pass the whole `iptables-save` output"
                )
            } else {
                format!(
                    "not iptables-save syntax (expected *TABLE, :CHAIN, -A, COMMIT or # lines): {line}"
                )
            };
            return Err(err(line_no, detail));
        };
        let table = &mut tables[t];
        if let Some(decl) = line.strip_prefix(':') {
            let mut parts = decl.split_whitespace();
            let name = parts
                .next()
                .ok_or_else(|| err(line_no, "empty chain declaration".into()))?;
            let policy = parts.next().filter(|p| *p != "-").map(str::to_string);
            let counters = parts.next().and_then(parse_counters);
            let c = table.chain_mut(name);
            c.policy = policy;
            c.counters = counters;
            continue;
        }
        // `[p:b] -A CHAIN ...` (iptables-save -c) or `-A CHAIN ...`; also `-N`/`-P` of `-S` output.
        let (counters, rest) = if line.starts_with('[') {
            match line.split_once(' ') {
                Some((c, r)) => (parse_counters(c), r.trim_start()),
                None => return Err(err(line_no, "counters without a rule".into())),
            }
        } else {
            (None, line)
        };
        tokenize_into(rest, &mut tokens).map_err(|e| err(line_no, e))?;
        let Some((first, _)) = tokens.first() else {
            continue;
        };
        match first.as_ref() {
            "-A" | "--append" => {
                let chain = tokens
                    .get(1)
                    .map(|t| t.0.to_string())
                    .ok_or_else(|| err(line_no, "-A without a chain".into()))?;
                // Validate now (errors name the line); the parsed form is rebuilt on demand.
                check_rule_args(&tokens[2..]).map_err(|e| err(line_no, e))?;
                // The text after `-A CHAIN`.
                let ws = |c: char| c.is_ascii_whitespace();
                let body = rest
                    .split_once(ws)
                    .and_then(|(_, r)| r.trim_start().split_once(ws))
                    .map(|(_, r)| r.trim())
                    // An empty body still points into the dump (a `""` literal would not).
                    .unwrap_or(&rest[rest.len()..]);
                let start = (body.as_ptr() as usize)
                    .checked_sub(base)
                    .ok_or_else(|| err(line_no, "rule text outside the dump".into()))?;
                let span = (start as u32, (start + body.len()) as u32);
                // Rules of one chain are consecutive in a dump: skip the lookup then.
                let idx = match last_chain {
                    Some((t_idx, c_idx)) if t_idx == t && table.chains[c_idx].name == chain => {
                        c_idx
                    }
                    _ => {
                        table.chain_mut(&chain);
                        table.index[chain.as_str()]
                    }
                };
                last_chain = Some((t, idx));
                table.chains[idx].rules.push(XtRule {
                    src: src.clone(),
                    span,
                    line: line_no as u32,
                    prefix_counters: counters,
                    args: std::sync::OnceLock::new(),
                });
            }
            "-N" | "--new-chain" => {
                if let Some(c) = tokens.get(1) {
                    table.chain_mut(&c.0);
                }
            }
            "-P" | "--policy" => {
                if let (Some(c), Some(p)) = (tokens.get(1), tokens.get(2)) {
                    table.chain_mut(&c.0).policy = Some(p.0.to_string());
                }
            }
            other => {
                return Err(err(
                    line_no,
                    format!("unexpected {other:?} (expected -A, :CHAIN, *table or COMMIT)"),
                ));
            }
        }
    }
    Ok(XtDump {
        source_name: source_name.to_string(),
        backend,
        ipv6,
        tables,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizes_quotes_and_escapes() {
        let t = tokenize(r#"-A X -m comment --comment "a \"b\" c" -j Y"#).unwrap();
        assert_eq!(t[5], (Cow::Owned("a \"b\" c".to_string()), true));
        assert!(tokenize("-A X --comment \"open").is_err());
    }

    #[test]
    fn parses_kube_proxy_rules() {
        let d = parse(
            "t",
            "# Generated by iptables-nft-save v1.8.10 (nf_tables)\n*nat\n:PREROUTING ACCEPT [10:600]\n:KUBE-SVC-X - [0:0]\n[3:180] -A KUBE-SVC-X ! -s 10.244.0.0/16 -d 10.96.0.1/32 -p tcp -m comment --comment \"default/web:http cluster IP\" -m tcp --dport 80 -j KUBE-MARK-MASQ\n-A KUBE-SVC-X -m comment --comment \"default/web:http -> 10.244.1.12:8080\" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-A\n-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\nCOMMIT\n",
        )
        .unwrap();
        assert_eq!(d.backend, Backend::Nft);
        let nat = d.table("nat").unwrap();
        assert_eq!(
            nat.chain("PREROUTING").unwrap().policy.as_deref(),
            Some("ACCEPT")
        );
        let r = &nat.chain("KUBE-SVC-X").unwrap().rules[0];
        assert_eq!(r.counters(), Some((3, 180)));
        assert!(r.matches()[0].opts[0].negated);
        assert_eq!(r.comment().as_deref(), Some("default/web:http cluster IP"));
        let tcp = r.matches().iter().find(|m| m.module == "tcp").unwrap();
        assert_eq!(tcp.opts[0].name, "dport");
        assert_eq!(r.target().unwrap().name, "KUBE-MARK-MASQ");
        let r = &nat.chain("KUBE-SVC-X").unwrap().rules[1];
        let st = r
            .matches()
            .iter()
            .find(|m| m.module == "statistic")
            .unwrap();
        assert_eq!(st.opts[1].values, ["0.50000000000"]);
        let m = &nat.chain("KUBE-MARK-MASQ").unwrap().rules[0];
        assert_eq!(m.target().unwrap().opt("set-xmark"), Some("0x4000/0x4000"));
    }

    #[test]
    fn quick_destination_check_is_sound() {
        let d = parse(
            "t",
            "*nat\n-A A -d 10.96.0.1/32 -p tcp -j X\n-A A ! -d 10.96.0.1/32 -j X\n-A A -m comment --comment \"-d 1.2.3.4\" -j X\n-A A -d 10.0.0.0/8 -j X\nCOMMIT\n",
        )
        .unwrap();
        let r = &d.table("nat").unwrap().chain("A").unwrap().rules;
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert!(r[0].excludes_dst(ip("10.96.0.2")));
        assert!(!r[0].excludes_dst(ip("10.96.0.1")));
        assert!(
            !r[1].excludes_dst(ip("10.96.0.2")),
            "negated: never excluded by the quick check"
        );
        assert!(
            !r[2].excludes_dst(ip("9.9.9.9")),
            "inside a comment: not an address match"
        );
        assert!(!r[3].excludes_dst(ip("10.1.2.3")));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("dump", "*nat\n-A X -j\nCOMMIT\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = parse("dump", "-A X -j ACCEPT\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("outside a table"), "{e}");
    }

    /// What people paste instead of `iptables-save` is named, with what to run.
    #[test]
    fn listings_and_rule_specs_say_to_use_iptables_save() {
        let listing = "Chain PREROUTING (policy ACCEPT)\ntarget     prot opt source               destination\n";
        let e = parse("dump", listing).unwrap_err().to_string();
        assert!(
            e.contains("`iptables -L` output") && e.contains("iptables-save"),
            "{e}"
        );
        let spec = "-P INPUT ACCEPT\n-N KUBE-SERVICES\n-A INPUT -j KUBE-SERVICES\n";
        let e = parse("dump", spec).unwrap_err().to_string();
        assert!(e.contains("`iptables -S`"), "{e}");
        let e = parse("dump", "table ip filter {\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--nft"), "{e}");
    }

    /// Fuzz (iptables): `-A CHAIN` with nothing after the chain made the rule's span point
    /// at a `""` literal outside the dump (subtract with overflow).
    #[test]
    fn regression_iptables_append_without_rule_body() {
        let d = parse("t", "*nat\n-A KUBE-X\n-A KUBE-Y   \nCOMMIT\n").unwrap();
        let c = d.table("nat").unwrap().chain("KUBE-X").unwrap();
        assert_eq!(c.rules.len(), 1);
        assert_eq!(c.rules[0].text(), "");
        assert!(c.rules[0].target().is_none());
        assert_eq!(
            d.table("nat").unwrap().chain("KUBE-Y").unwrap().rules[0].text(),
            ""
        );
    }
}
