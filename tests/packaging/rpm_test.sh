#!/usr/bin/env bash
# The RPM: requirements, file list, scripts and attributes with rpm -qp, then
# an install into a scratch root (rpm --root, no scripts) to check that the
# files land where the spec says.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
version=$(grep -m1 '^project' "$top/CMakeLists.txt" | grep -o 'VERSION [0-9.]*' | cut -d' ' -f2)
command -v rpmbuild >/dev/null || { echo "SKIP: no rpmbuild (Debian package rpm)"; exit 77; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

rpm=$("$top/packaging/build-packages.sh" "$version" "$out" rpm)
[ "$(basename "$rpm")" = "kvgo-server-$version-1.x86_64.rpm" ] || fail "name $(basename "$rpm")"

# Nothing but systemd and the shell tools the scripts use.
reqs=$(rpm -qp --requires "$rpm" | grep -v '^rpmlib(' | sort -u | tr '\n' ' ')
[ "$reqs" = "/bin/sh shadow-utils systemd " ] || fail "requires: $reqs"

files=$(rpm -qpl "$rpm" | tr '\n' ' ')
for f in /opt/lynkdb/kvgo-server/bin/kvgo-server /opt/lynkdb/kvgo-server/bin/kvgo-cli /opt/lynkdb/kvgo-server/bin/kvgo-bench \
         /opt/lynkdb/kvgo-server/etc /etc/kvgo-server/kvgo-server.conf \
         /opt/lynkdb/kvgo-server/var/data /opt/lynkdb/kvgo-server/var/log \
         /usr/lib/systemd/system/kvgo-server.service; do
  case " $files " in *" $f "*) ;; *) fail "$f missing from the RPM";; esac
done
case "$files" in *build-id*) fail "build-id links in the RPM";; esac

# The config is %config(noreplace) and only root/kvgo can read it.
attrs=$(rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags} %{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME}\n]' "$rpm")
echo "$attrs" | grep -qx '/etc/kvgo-server/kvgo-server.conf cn -rw-r----- root kvgo' ||
  fail "config attributes: $(echo "$attrs" | grep kvgo-server.conf)"
echo "$attrs" | grep -qx '/opt/lynkdb/kvgo-server/var/data  drwxr-x--- kvgo kvgo' ||
  fail "data dir attributes: $(echo "$attrs" | grep var/data)"

scripts=$(rpm -qp --scripts "$rpm")
for s in 'useradd --system' 'groupadd --system' 'systemctl daemon-reload' 'try-restart' 'chmod 0750' \
         'auth_secret_key'; do
  echo "$scripts" | grep -q -- "$s" || fail "scripts lack '$s'"
done

root="$out/root"
mkdir -p "$root"
rpm --root "$root" --initdb
rpm --root "$root" --nodeps --noscripts --ignoreos -i "$rpm"
[ -x "$root/opt/lynkdb/kvgo-server/bin/kvgo-server" ] || fail "binary not installed"
[ -f "$root/etc/kvgo-server/kvgo-server.conf" ] || fail "config not installed"
[ "$(readlink "$root/opt/lynkdb/kvgo-server/etc")" = /etc/kvgo-server ] || fail "etc symlink"
[ -f "$root/usr/lib/systemd/system/kvgo-server.service" ] || fail "unit not installed"
rpm --root "$root" -q kvgo-server >/dev/null || fail "not in the scratch rpm database"
echo "PASS: rpm requirements, files, attributes, scripts, scratch-root install"

# The tarball (make dist): static binaries, default config, unit, README.
tgz=$("$top/packaging/build-packages.sh" "$version" "$out" dist)
listing=$(tar tzf "$tgz")
for f in bin/kvgo-server bin/kvgo-cli bin/kvgo-bench etc/kvgo-server.conf systemd/kvgo-server.service README.md postinstall.sh; do
  echo "$listing" | grep -qx "kvgo-server-$version-linux-x86_64/$f" || fail "$f missing from the tarball"
done
mkdir -p "$out/untar" && tar xzf "$tgz" -C "$out/untar"
file "$out/untar/kvgo-server-$version-linux-x86_64/bin/kvgo-server" | grep -q "statically linked" || fail "tarball binary not static"
"$out/untar/kvgo-server-$version-linux-x86_64/bin/kvgo-server" --check-config >/dev/null || fail "tarball binary cannot read its own config"
echo "PASS: tarball contents"
