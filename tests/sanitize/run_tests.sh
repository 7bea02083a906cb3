# Sourced by run.sh and tsan.sh. run_tests OUT LABEL REPORT_RE TEST...:
# runs each test binary found under OUT with its output in OUT/TEST.log,
# prints one line per test, and on a failure shows the log's lines that
# match REPORT_RE (with the stack that follows: CI shows only this output)
# and sets `status` to 1.
run_tests() {
  local out=$1 label=$2 report=$3
  shift 3
  local t bin log start
  for t in "$@"; do
    bin=$(find "$out" -name "$t" -type f -perm -u+x | head -1)
    log="$out/$t.log"
    start=$(date +%s)
    if "$bin" >"$log" 2>&1; then
      echo "$t: passed in $(($(date +%s) - start)) s under $label"
    else
      echo "$t: FAILED under $label (see $log)"
      grep -E -A12 "$report" "$log" | head -60 || true
      status=1
    fi
  done
}
