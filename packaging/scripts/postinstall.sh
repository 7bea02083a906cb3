#!/bin/sh
# kvgo-server post-install steps, shared by `make install` (as root), the DEB
# postinst and the RPM %post (the package build pastes this file into them).
#
#   postinstall.sh [PREFIX]     (default /opt/lynkdb/kvgo-server)
#
# Creates the kvgo system user and group, the data and log directories
# (0750, owned by kvgo), and replaces the placeholder secret of a fresh
# config with a random 40-character one. Idempotent.
set -e
prefix="${1:-/opt/lynkdb/kvgo-server}"

if ! getent group kvgo >/dev/null 2>&1; then
  groupadd --system kvgo
fi
if ! getent passwd kvgo >/dev/null 2>&1; then
  useradd --system --gid kvgo --home-dir "$prefix/var" --no-create-home \
    --shell /usr/sbin/nologin --comment "kvgo-server" kvgo
fi
for d in "$prefix/var" "$prefix/var/data" "$prefix/var/log"; do
  mkdir -p "$d"
  chown kvgo:kvgo "$d"
  chmod 0750 "$d"
done

conf="$prefix/etc/kvgo-server.conf"
placeholder='the-secret-key-of-server'
if [ -f "$conf" ] && grep -q "^auth_secret_key *= *\"$placeholder\"" "$conf"; then
  secret=$(head -c 4096 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 40)
  sed -i "s|^auth_secret_key *= *\"$placeholder\"|auth_secret_key = \"$secret\"|" "$conf"
  echo "kvgo-server: generated a random auth_secret_key in $conf"
fi
if [ -f "$conf" ]; then
  chown root:kvgo "$conf"
  chmod 0640 "$conf"
fi
