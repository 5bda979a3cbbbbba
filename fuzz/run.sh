#!/bin/sh
# One campaign per target, one after the other, one worker (the machine's cores are shared).
# Usage: fuzz/run.sh [RUNS] [TARGET...]   (default 10000000 runs, every target);
# MAX_TIME=SECONDS also stops each campaign after that long (whichever comes first);
# TIMEOUT=SECONDS (default 10) is the wall-clock limit of one input: raise it on a loaded machine.
# Logs: fuzz/work/logs/TARGET.log (libFuzzer's final stats give the execution count);
# crashes: fuzz/artifacts/TARGET/. Needs `cargo install cargo-fuzz` (stable works with -s none).
set -u
cd "$(dirname "$0")"
RUNS=${1:-10000000}
[ $# -gt 0 ] && shift
TARGETS=${*:-wire pcap iptables nft ipvs ctnetlink arp agent}
[ -d seeds ] || python3 make_seeds.py --nft
cargo fuzz build -s none --debug-assertions || exit 2
mkdir -p work/logs
for t in $TARGETS; do
    mkdir -p "work/$t" "artifacts/$t" "corpus/$t"
    echo "$(date -u +%FT%TZ) start $t" >> work/logs/campaign.log
    cargo fuzz run -s none --debug-assertions "$t" "work/$t" "seeds/$t" "corpus/$t" -- \
        -runs="$RUNS" ${MAX_TIME:+-max_total_time=$MAX_TIME} -max_len=4096 -timeout="${TIMEOUT:-10}" -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" > "work/logs/$t.log" 2>&1
    echo "$(date -u +%FT%TZ) end $t rc=$? $(grep -o 'number_of_executed_units: [0-9]*' "work/logs/$t.log")" >> work/logs/campaign.log
done
