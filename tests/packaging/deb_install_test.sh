#!/usr/bin/env bash
# The DEB as an operator meets it: install it on this machine with dpkg -i,
# check files, user, permissions and the config (made by postinst, not a
# conffile), run the installed binary as the kvgo user with the installed
# config (the unit's ExecStart line), talk to it, upgrade to a newer build
# (no prompt, config kept), then remove and purge and check what is left.
# Needs root; exits 77 (skipped) otherwise, or when kvgo-server is already
# installed here (we never touch a real installation).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
version=$(grep -m1 '^project' "$top/CMakeLists.txt" | grep -o 'VERSION [0-9.]*' | cut -d' ' -f2)
prefix=/opt/lynkdb/kvgo-server
conf=/etc/kvgo-server/kvgo-server.conf

[ "$(id -u)" = 0 ] || { echo "SKIP: installing a DEB needs root"; exit 77; }
if dpkg-query -W kvgo-server >/dev/null 2>&1 || [ -e "$prefix" ] || [ -e /etc/kvgo-server ]; then
  echo "SKIP: kvgo-server is already installed on this machine"; exit 77
fi

out=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  dpkg --purge kvgo-server >/dev/null 2>&1 || true
  rm -rf "$out"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
check_mode() {  # path "mode user group"
  local got; got=$(stat -c '%a %U %G' "$1")
  [ "$got" = "$2" ] || fail "$1 is '$got', want '$2'"
}

deb=$("$top/packaging/build-packages.sh" "$version" "$out" deb)
if command -v lintian >/dev/null; then
  lintian --fail-on error "$deb" || fail "lintian reports errors"
fi
dpkg-deb -f "$deb" Depends | grep -qx 'passwd' || fail "unexpected Depends: $(dpkg-deb -f "$deb" Depends)"

dpkg -i "$deb" >/dev/null
[ -x "$prefix/bin/kvgo-server" ] || fail "no $prefix/bin/kvgo-server"
file -L "$prefix/bin/kvgo-server" | grep -q "statically linked" || fail "binary is not static"
[ -f "$prefix/etc/kvgo-server.conf" ] || fail "$prefix/etc/kvgo-server.conf does not resolve"
getent passwd kvgo | grep -q ':/usr/sbin/nologin$' || fail "no kvgo system user with nologin"
check_mode "$prefix/var" "750 kvgo kvgo"
check_mode "$prefix/var/data" "750 kvgo kvgo"
check_mode "$prefix/var/log" "750 kvgo kvgo"
check_mode "$conf" "640 root kvgo"
grep -q 'the-secret-key-of-server' "$conf" && fail "placeholder secret not replaced"
secret=$(sed -n 's/^auth_secret_key = "\([A-Za-z0-9]\{40\}\)"$/\1/p' "$conf")
[ ${#secret} -eq 40 ] || fail "no random 40-character secret in $conf"
# Not a conffile: postinst writes the secret into it, and dpkg would ask
# about that change at every upgrade (checked below).
dpkg-query -W -f='${Conffiles}\n' kvgo-server | grep -q "$conf" && fail "$conf is a conffile"
dpkg -V kvgo-server || fail "dpkg -V reports changed files right after the install"

unit=/lib/systemd/system/kvgo-server.service
[ -f "$unit" ] || fail "no unit $unit"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$unit" || fail "systemd-analyze verify"
  level=$(systemd-analyze security --offline=yes "$unit" 2>/dev/null | sed -n 's/.*Overall exposure level for .*: [0-9.]* \([A-Z]*\).*/\1/p')
  case "$level" in OK|MEDIUM) ;; *) fail "systemd-analyze security rates the unit '$level'";; esac
  echo "unit exposure: $level"
fi

# Run the ExecStart line as kvgo, on a free port (the installed config's
# bind moved off 9100 so that the test never collides with a real server).
port=$(( 20000 + RANDOM % 20000 ))
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
http_port=$((port + 1))
sed -i -e "s|^bind = .*|bind = \"127.0.0.1:$port\"\nhttp_port = $http_port|" "$conf"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
setpriv --reuid=kvgo --regid=kvgo --init-groups -- $exec_start > "$out/server.log" 2>&1 &
pid=$!
"$prefix/bin/kvgo-bench" --addr "127.0.0.1:$port" --secret "$secret" --seconds 0.5 --clients 1 \
  --cases seq-write,seq-read --json '' > "$out/bench.txt" 2>&1 || { cat "$out/server.log" "$out/bench.txt"; fail "bench failed"; }
grep -q '^seq-read ' "$out/bench.txt" || fail "no reads"
grep -q 'errors' "$out/bench.txt" && fail "errors talking to the installed server: $(cat "$out/bench.txt")"
[ "$(stat -c %U "$prefix/var/data/CURRENT")" = kvgo ] || fail "data not owned by kvgo"
out_cli=$("$prefix/bin/kvgo-cli" --config "$conf" get kvgo-bench-probe) || fail "kvgo-cli with the installed config"
[ "$out_cli" = "x" ] || fail "kvgo-cli read '$out_cli'"
(exec 3<>"/dev/tcp/127.0.0.1/$http_port" && printf 'GET /readyz HTTP/1.0\r\n\r\n' >&3 && grep -q "200 OK" <&3) ||
  fail "/readyz of the installed server"
kill -TERM "$pid"; wait "$pid" || fail "server did not exit 0 on SIGTERM"; pid=""

# An upgrade asks nothing (stdin closed), and keeps the config as it is: the
# generated secret and the operator's edit (the bind above).
sum_before=$(sha256sum "$conf")
deb2=$("$top/packaging/build-packages.sh" "$version.1" "$out/next" deb)
dpkg -i "$deb2" </dev/null >"$out/upgrade.log" 2>&1 || { cat "$out/upgrade.log"; fail "upgrade to $version.1"; }
[ "$(dpkg-query -W -f='${Status} ${Version}' kvgo-server)" = "install ok installed $version.1-1" ] ||
  fail "after the upgrade: $(dpkg-query -W -f='${Status} ${Version}' kvgo-server)"
[ "$(sha256sum "$conf")" = "$sum_before" ] || fail "the upgrade changed $conf"
check_mode "$conf" "640 root kvgo"

dpkg -r kvgo-server >/dev/null
[ -f "$conf" ] || fail "remove deleted the config"
[ -f "$prefix/var/data/CURRENT" ] || fail "remove deleted the data"
[ -e "$prefix/bin/kvgo-server" ] && fail "remove left the binary"
dpkg --purge kvgo-server >/dev/null
[ -e "$prefix" ] && fail "purge left $prefix: $(find "$prefix")"
[ -e /etc/kvgo-server ] && fail "purge left /etc/kvgo-server"
[ -e "$unit" ] && fail "purge left the unit"
echo "PASS: deb install, run, remove, purge (kvgo user kept, as policy wants)"
