#!/usr/bin/env bash
# Validates monitoring/prometheus with promtool: the rules, the example
# config and the rules' unit tests. promtool comes from PATH, or from
# Debian's prometheus package unpacked into a cache (never installed: no
# service is started). Without either, falls back to a structural check.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
dir="$top/monitoring/prometheus"
cache="${KVGO_TOOLS_DIR:-$top/build/tools}"

promtool=$(command -v promtool || true)
if [ -z "$promtool" ] && [ -x "$cache/prometheus/usr/bin/promtool" ]; then
  promtool="$cache/prometheus/usr/bin/promtool"
fi
if [ -z "$promtool" ]; then
  mkdir -p "$cache"
  if (cd "$cache" && apt-get download prometheus >/dev/null 2>&1); then
    dpkg-deb -x "$cache"/prometheus_*.deb "$cache/prometheus"
    rm -f "$cache"/prometheus_*.deb
    promtool="$cache/prometheus/usr/bin/promtool"
  fi
fi

if [ -n "$promtool" ]; then
  cd "$dir"
  "$promtool" check rules alerts.yml
  "$promtool" check config prometheus.yml
  "$promtool" test rules alerts_test.yml
  echo "PASS: promtool check rules, check config, test rules"
  exit 0
fi

# Fallback: the structure promtool would need, checked by hand.
echo "promtool unavailable; structural check only"
grep -q '^groups:' "$dir/alerts.yml" || { echo "FAIL: no groups"; exit 1; }
alerts=$(grep -c '^ *- alert: ' "$dir/alerts.yml")
exprs=$(grep -c '^ *expr: ' "$dir/alerts.yml")
[ "$alerts" -gt 0 ] && [ "$alerts" -eq "$exprs" ] || { echo "FAIL: $alerts alerts, $exprs exprs"; exit 1; }
if grep -nP '\t' "$dir/alerts.yml"; then echo "FAIL: tabs in YAML"; exit 1; fi
echo "PASS: structural check of $alerts alerts"
