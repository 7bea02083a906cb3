#!/usr/bin/env bash
# Builds kvgo-server_<v>_amd64.deb, kvgo-server-<v>-1.x86_64.rpm and the
# tarball kvgo-server-<v>-linux-x86_64.tar.gz from the built binaries.
#
#   packaging/build-packages.sh VERSION OUT_DIR [deb|rpm|dist|all]
#
# Each package is made from a tree staged with `make install DESTDIR=...`
# (binaries stripped), so the packages hold exactly what `make install`
# installs. DEB with dpkg-deb (run under fakeroot for root ownership), RPM
# with rpmbuild (Debian's rpm package).
set -euo pipefail
version="$1"
out=$(mkdir -p "$2" && cd "$2" && pwd)
what="${3:-all}"
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=/opt/lynkdb/kvgo-server

stage() {  # stage DIR UNITDIR
  make -C "$top" --no-print-directory install-files DESTDIR="$1" UNITDIR="$2" >/dev/null
  strip --strip-unneeded "$1$prefix/bin/kvgo-server" "$1$prefix/bin/kvgo-cli" "$1$prefix/bin/kvgo-bench"
  # The config lives in /etc/kvgo-server (the RPM's %config, the DEB's
  # postinst copy); the seed's path $prefix/etc is a symlink to it.
  install -d "$1/etc/kvgo-server"
  mv "$1$prefix/etc/kvgo-server.conf" "$1/etc/kvgo-server/kvgo-server.conf"
  rmdir "$1$prefix/etc"
  ln -s /etc/kvgo-server "$1$prefix/etc"
}

# The shared post-install steps, indented, for pasting into maintainer scripts.
postinstall_body() {
  sed -e '1,/^set -e$/d' -e 's/^/  /' "$top/packaging/scripts/postinstall.sh" |
    sed "s|\${1:-/opt/lynkdb/kvgo-server}|$prefix|"
}

build_deb() {
  local root="$work/deb"
  stage "$root" /lib/systemd/system
  # The config is not a conffile: postinst writes a random secret into it,
  # and dpkg would then ask at every upgrade about a file "modified by a
  # script" (and offer to bring back the placeholder). The package ships the
  # default; postinst copies it to /etc only when there is no config yet,
  # and postrm purge deletes it.
  install -d "$root/usr/share/kvgo-server"
  mv "$root/etc/kvgo-server/kvgo-server.conf" "$root/usr/share/kvgo-server/kvgo-server.conf.default"
  chmod 0644 "$root/usr/share/kvgo-server/kvgo-server.conf.default"  # its secret is the placeholder
  rmdir "$root/etc/kvgo-server" "$root/etc"  # made by postinst, with the config
  install -d "$root/DEBIAN" "$root/usr/share/doc/kvgo-server" "$root/usr/share/lintian/overrides"
  install -m 0644 "$top/packaging/deb/copyright" "$root/usr/share/doc/kvgo-server/copyright"
  printf 'kvgo-server (%s-1) unstable; urgency=medium\n\n  * Release %s.\n\n -- kvgo-server maintainers <maintainers@kvgo-server.org>  %s\n' \
    "$version" "$version" "$(git -C "$top" log -1 --format=%cD 2>/dev/null || date -R)" | gzip -9n > "$root/usr/share/doc/kvgo-server/changelog.Debian.gz"
  install -m 0644 "$top/packaging/deb/lintian-overrides" "$root/usr/share/lintian/overrides/kvgo-server"
  # Data and log directories are made by postinst with their owner.
  rm -rf "$root$prefix/var"
  local size
  size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
  sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" "$top/packaging/deb/control.in" > "$root/DEBIAN/control"
  postinstall_body > "$work/postinstall.body"
  awk -v bodyfile="$work/postinstall.body" '{
      if ($0 == "@POSTINSTALL@") { while ((getline line < bodyfile) > 0) print line }
      else print }' "$top/packaging/deb/postinst.in" > "$root/DEBIAN/postinst"
  install -m 0755 "$top/packaging/deb/prerm" "$top/packaging/deb/postrm" "$root/DEBIAN/"
  chmod 0755 "$root/DEBIAN/postinst"
  fakeroot dpkg-deb --build -Zxz "$root" "$out/kvgo-server_${version}_amd64.deb" >/dev/null
  echo "$out/kvgo-server_${version}_amd64.deb"
}

build_rpm() {
  local root="$work/rpm-stage"
  stage "$root" /usr/lib/systemd/system
  local spec="$work/kvgo-server.spec"
  postinstall_body > "$work/postinstall.body"
  awk -v bodyfile="$work/postinstall.body" -v stage="$root" -v ver="$version" '{
      gsub("@STAGE@", stage); gsub("@VERSION@", ver);
      if ($0 == "@POSTINSTALL@") { while ((getline line < bodyfile) > 0) print line }
      else print }' "$top/packaging/rpm/kvgo-server.spec.in" > "$spec"
  rpmbuild -bb --quiet --define "_topdir $work/rpmbuild" --define "_rpmdir $out" \
    --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" "$spec" 2>&1 |
    grep -v -e "does not exist - using root" -e "absolute symlink" >&2 || true
  test -f "$out/kvgo-server-${version}-1.x86_64.rpm"
  echo "$out/kvgo-server-${version}-1.x86_64.rpm"
}

build_dist() {
  local name="kvgo-server-${version}-linux-x86_64"
  local root="$work/dist/$name"
  mkdir -p "$root/bin" "$root/etc" "$root/systemd"
  install -m 0755 "$top/bin/kvgo-server" "$top/bin/kvgo-cli" "$top/bin/kvgo-bench" "$root/bin/"
  strip --strip-unneeded "$root/bin/kvgo-server" "$root/bin/kvgo-cli" "$root/bin/kvgo-bench"
  install -m 0640 "$top/etc/kvgo-server.conf" "$root/etc/"
  install -m 0644 "$top/systemd/kvgo-server.service" "$root/systemd/"
  install -m 0755 "$top/packaging/scripts/postinstall.sh" "$root/"
  install -m 0644 "$top/README.md" "$root/"
  tar -C "$work/dist" --owner=0 --group=0 -czf "$out/$name.tar.gz" "$name"
  echo "$out/$name.tar.gz"
}

case "$what" in
  deb) build_deb ;;
  rpm) build_rpm ;;
  dist) build_dist ;;
  all) build_deb; build_rpm; build_dist ;;
  *) echo "usage: $0 VERSION OUT_DIR [deb|rpm|dist|all]" >&2; exit 2 ;;
esac
