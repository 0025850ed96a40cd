#!/usr/bin/env bash
# CPU profiles of Ferry's processes under the report bench (issue 17): runs
# `cargo bench -p ferry-e2e --bench report` for one deployment and, while it runs, samples
# every Ferry process it starts with `perf record` (DWARF call graphs: the release profile
# keeps line tables, not frame pointers). For each process kind it writes to OUT (default
# target/profiles/<deployment>):
#   <kind>.svg        a flamegraph (inferno), the process's threads merged
#   <kind>.folded     the folded stacks behind it
#   summary.txt       per kind: samples, and the share of the samples under each group of
#                     frames that matters here (kernel, allocator, SQL driver, TLS/HTTP,
#                     serde, tracing, tokio's scheduler, ...)
# Usage: scripts/profile.sh [embedded|1|2]   (default 1; the bench's knobs apply, e.g.
#        FERRY_BENCH_ORDERS=2000 FERRY_BENCH_LATENCY_MS=0)
# Needs perf and inferno (`cargo install inferno`); run `cargo build --release --bins` first.
set -euo pipefail
cd "$(dirname "$0")/.."
deployment=${1:-1}
out=${OUT:-${CARGO_TARGET_DIR:-$PWD/target}/profiles/$deployment}
frequency=${FERRY_PROFILE_HZ:-99}
mkdir -p "$out"
rm -f "$out"/*.data "$out"/*.folded "$out"/*.svg

for tool in perf inferno-collapse-perf inferno-flamegraph; do
  command -v "$tool" >/dev/null || { echo "profile: $tool is missing" >&2; exit 1; }
done

if [ "$deployment" = embedded ]; then
  kinds=(ferry)
else
  kinds=(connector-mailchimp connector-mpluskassa mapper order-orchestrator notifier)
fi

export FERRY_BENCH_DEPLOYMENTS=$deployment
export FERRY_BENCH_LATENCY_MS=${FERRY_BENCH_LATENCY_MS:-0}
export FERRY_BENCH_ORDERS=${FERRY_BENCH_ORDERS:-2000}
export FERRY_BENCH_DETAIL=${FERRY_BENCH_DETAIL:-1}
cargo bench -p ferry-e2e --bench report >"$out/report.md" 2>"$out/report.log" &
bench=$!

# Attach to each process as it appears (a service started twice, with 2 instances, is
# sampled twice: its instances land in one profile).
declare -A attached=()
recorders=()
while kill -0 "$bench" 2>/dev/null; do
  for kind in "${kinds[@]}"; do
    for pid in $(pgrep -f "/release/$kind( |$)" || true); do
      [ -n "${attached[$pid]:-}" ] && continue
      attached[$pid]=1
      perf record -q -F "$frequency" --call-graph dwarf,8192 -p "$pid" \
        -o "$out/$kind.$pid.data" >/dev/null 2>&1 &
      recorders+=($!)
    done
  done
  sleep 0.5
done
wait "$bench" || { tail -n 30 "$out/report.log" >&2; echo "profile: the bench failed" >&2; exit 1; }
for r in "${recorders[@]}"; do wait "$r" || true; done

: >"$out/summary.txt"
for kind in "${kinds[@]}"; do
  files=("$out/$kind".*.data)
  [ -e "${files[0]}" ] || continue
  for f in "${files[@]}"; do
    perf script -i "$f" 2>/dev/null | inferno-collapse-perf --all
  done | sed "s/^[^;]*;/$kind;/" >"$out/$kind.folded"
  inferno-flamegraph --title "$kind (report bench, deployment $deployment)" \
    <"$out/$kind.folded" >"$out/$kind.svg"
  python3 - "$kind" "$out/$kind.folded" >>"$out/summary.txt" <<'EOF'
import re, sys
kind, path = sys.argv[1], sys.argv[2]
# A sample counts for the first group (in this order) one of its frames matches.
groups = [
    ("kernel: scheduling, futex, epoll", r"schedule|futex|epoll|try_to_wake_up|finish_task_switch"),
    ("kernel: network (TCP over loopback)", r"tcp_|ip_|__sys_sendto|__sys_recvfrom|sock_|skb"),
    ("SQL: sqlx (PostgreSQL/SQLite driver)", r"sqlx|sqlite3|libsqlite"),
    ("SQL: sea-orm / sea-query building", r"sea_orm|sea_query"),
    ("AMQP: lapin", r"lapin|amq_protocol"),
    ("HTTP / TLS (reqwest, hyper, rustls)", r"reqwest|hyper|rustls|h2::"),
    ("serde (JSON, XML)", r"serde|quick_xml"),
    ("tracing / logs", r"tracing|fmt::"),
    ("allocator (malloc, free)", r"malloc|free|realloc|_int_|cfree"),
    ("tokio scheduler", r"tokio::runtime"),
]
counts = {name: 0 for name, _ in groups}
total = 0
for line in open(path):
    stack, _, n = line.rstrip().rpartition(" ")
    if not n.isdigit():
        continue
    n = int(n)
    total += n
    for name, pattern in groups:
        if re.search(pattern, stack):
            counts[name] += n
            break
print(f"{kind}: {total} samples")
for name, _ in groups:
    share = 100.0 * counts[name] / total if total else 0.0
    print(f"  {share:5.1f} %  {name}")
rest = total - sum(counts.values())
print(f"  {100.0 * rest / total if total else 0.0:5.1f} %  other (Ferry's own code and the rest)")
# Where the CPU is spent itself: the innermost frames holding the most samples.
leaves = {}
for line in open(path):
    stack, _, n = line.rstrip().rpartition(" ")
    if n.isdigit():
        leaf = stack.rsplit(";", 1)[-1][:110]
        leaves[leaf] = leaves.get(leaf, 0) + int(n)
print("  innermost frames:")
for leaf, n in sorted(leaves.items(), key=lambda kv: -kv[1])[:12]:
    print(f"  {100.0 * n / total:5.1f} %  {leaf}")
EOF
done
rm -f "$out"/*.data
cat "$out/summary.txt"
echo "profile: flamegraphs and folded stacks in $out"
