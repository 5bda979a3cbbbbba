//! MetalLB speaker logs (go-kit JSON, one object per line) -> the lines that say what a
//! speaker announced or withdrew and on which interface it answers.

use serde_json::Value;

use crate::model::SpeakerLogLine;

/// Events kept: announcing, withdrawing, responder creation, ARP/NDP answers.
const KEPT: [&str; 4] = [
    "serviceAnnounced",
    "serviceWithdrawn",
    "createARPResponder",
    "createNDPResponder",
];

/// Parse a speaker's log text; lines that are not JSON or not about services are skipped.
pub fn parse(pod: &str, text: &str) -> Vec<SpeakerLogLine> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .filter_map(|v| {
            let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
            let event = s("event").or_else(|| {
                s("msg")
                    .filter(|m| m.starts_with("got ARP request"))
                    .map(|_| "arpResponse".to_string())
            })?;
            if !KEPT.contains(&event.as_str()) && event != "arpResponse" {
                return None;
            }
            let ips = match v.get("ips").or_else(|| v.get("ip")) {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                Some(Value::String(ip)) => vec![ip.clone()],
                _ => Vec::new(),
            };
            Some(SpeakerLogLine {
                pod: pod.to_string(),
                event,
                service: s("service"),
                ips,
                interface: s("interface"),
                ts: s("ts"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_and_new_speaker_lines() {
        let t = r#"{"caller":"announcer.go:126","event":"createARPResponder","interface":"br-ex","level":"info","msg":"created ARP responder for interface","ts":"2025-04-09T05:48:18Z"}
{"caller":"main.go:420","event":"serviceAnnounced","ips":["172.16.0.120"],"level":"info","msg":"service has IP, announcing","pool":"example","protocol":"layer2","ts":"2025-04-09T05:48:56Z"}
{"caller":"main.go:229","event":"serviceAnnounced","ip":"192.168.1.240","msg":"service has IP, announcing","pool":"my-ip-space","protocol":"layer2","service":"default/nginx","ts":"2018-09-11T23:40:26.69818035Z"}
not json
{"caller":"level.go:63","level":"info","msg":"triggering discovery","op":"memberDiscovery","ts":"2024-07-18T11:50:09.806360806Z"}"#;
        let l = parse("speaker-x", t);
        assert_eq!(l.len(), 3);
        assert_eq!(l[0].interface.as_deref(), Some("br-ex"));
        assert_eq!(l[1].ips, vec!["172.16.0.120".to_string()]);
        assert_eq!(l[2].service.as_deref(), Some("default/nginx"));
    }
}
