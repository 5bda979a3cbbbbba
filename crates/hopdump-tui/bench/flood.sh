#!/usr/bin/env bash
# Measures the TUI under a flood and at rest, in a real pseudo-terminal (tmux 120x40): the time
# for hopdump-tui-replay to take and draw 200,000 packet events (27 MB of JSON lines piped in,
# parsed by its feeder thread), then its CPU over 10 idle seconds and its RSS.
#   cargo build --release -p hopdump-tui && crates/hopdump-tui/bench/flood.sh target/release/hopdump-tui-replay
set -euo pipefail
BIN=$(realpath "${1:?usage: flood.sh PATH/TO/hopdump-tui-replay}")
dir=$(mktemp -d); S=hdtui-flood-$$
trap 'tmux -L $S kill-server 2>/dev/null || true; rm -rf "$dir"' EXIT
python3 - "$dir/flood.jsonl" <<'PY'
import json, sys
hops = [{"node": "node%d" % (i // 3), "iface": "if%d" % i, "role": "uplink"} for i in range(8)]
out = [json.dumps({"planned": {"title": "flood", "hops": hops}}), json.dumps({"armed": {"window_ms": 3000}})]
for n in range(200000):
    h = n % 8
    out.append(json.dumps({"packet": {"hop": h, "line": "12:00:00.%06d IP 198.51.100.10.%d > 198.51.100.240.80: Flags [S], seq %d, win 64240, length 0" % (n % 1000000, 40000 + n % 20000, n)}}))
    if n % 1000 == 0:
        out.append(json.dumps({"counts": {"hop": h, "counts": {"forward": n, "forward_large": 0, "replies": n // 2, "rst": 0, "icmp": 0}}}))
        out.append(json.dumps({"drop": {"node": "node1", "iface": "if3", "reason": "NETFILTER_DROP", "location": "nft_do_chain+0x3e8", "count": 1}}))
open(sys.argv[1], "w").write("\n".join(out) + "\n")
PY
tmux -L $S -f /dev/null new-session -d -x 120 -y 40 -s main "env -i PATH=/usr/bin:/bin TERM=xterm-256color LANG=C.UTF-8 PS1='$ ' sh"
until tmux -L $S capture-pane -p -t main | grep -q '\$'; do sleep 0.05; done
tmux -L $S send-keys -t main -l "cat $dir/flood.jsonl | $BIN --instant -"
t0=$(date +%s.%N); tmux -L $S send-keys -t main Enter
until tmux -L $S capture-pane -p -t main | grep -q "trace ended"; do sleep 0.02; done; t1=$(date +%s.%N)
echo "200000 packet events taken and drawn in $(echo "$t1 - $t0" | bc) s"
SH=$(tmux -L $S display -p -t main '#{pane_pid}'); PID=$(pgrep -P "$SH" -x hopdump-tui-rep)
a=$(awk '{print $14+$15}' /proc/$PID/stat); sleep 10; b=$(awk '{print $14+$15}' /proc/$PID/stat)
echo "idle CPU over 10 s: $((b - a)) of $((10 * $(getconf CLK_TCK))) clock ticks"
grep VmRSS /proc/$PID/status
tmux -L $S send-keys -t main q
SOCK=$(tmux -L $S display -p '#{socket_path}' 2>/dev/null || true)
tmux -L $S kill-server; [ -n "$SOCK" ] && rm -f "$SOCK"
