#!/bin/bash
# scripts/build-pg.sh MAJOR: build PostgreSQL MAJOR (17, 18, 19) from Debian's
# source package into a private prefix, with pgTAP, and print its pg_config.
#
#   bash scripts/build-pg.sh 18        -> /var/cache/pgbackups-pg/18/bin/pg_config
#
# The source package comes from Debian (trixie for 17, sid for 18,
# experimental for 19) through apt-get source with a private list directory
# (Dir::State::Lists) and source list, so the system's apt state is left as it
# was.  Only the upstream tarball of the source package is used (Debian's
# patches are packaging).  The result is cached in $PGB_PG_CACHE (default
# /var/cache/pgbackups-pg, outside any checkout): a second run returns at once.
# 15 is Debian's binary package (scripts/setup.sh); this script refuses it.
#
# Exit codes: 0 built or cached; 2 the source package is not to be had from the
# package registry here (apt-get source failed); 1 any other failure.
set -euo pipefail

MAJOR=${1:?usage: build-pg.sh MAJOR}
CACHE=${PGB_PG_CACHE:-/var/cache/pgbackups-pg}
PREFIX=$CACHE/$MAJOR
STAMP=$PREFIX/.pgbackups-built
JOBS=${JOBS:-$(nproc)}

case "$MAJOR" in
17) SUITE=trixie ;;
18) SUITE=sid ;;
19) SUITE=experimental ;;
*)
	echo "build-pg.sh: PostgreSQL $MAJOR is not built from source here (15 is Debian's package)" >&2
	exit 1
	;;
esac

if [ -f "$STAMP" ] && [ -x "$PREFIX/bin/pg_config" ]; then
	echo "$PREFIX/bin/pg_config"
	exit 0
fi

log() { echo "build-pg.sh[$MAJOR]: $*" >&2; }

# what configure needs (tarballs of 17 and later carry no bison/flex output)
deps=(build-essential pkg-config libssl-dev libzstd-dev liblz4-dev libxml2-dev
	zlib1g-dev libicu-dev bison flex bzip2 perl)
missing=()
for p in "${deps[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	log "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
		{
			apt-get update -q >&2
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
		}
fi

# private apt state: its own lists, its own source list, its own cache
APT=$CACHE/apt
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$CACHE/src"
cat >"$APT/sources.list" <<EOF
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main
EOF
apt_opts=(-o "Dir::State::Lists=$APT/lists" -o "Dir::Etc::SourceList=$APT/sources.list"
	-o "Dir::Etc::SourceParts=/dev/null" -o "Dir::Cache=$APT/cache" -o "Debug::NoLocking=1")

# fetch_source PKG DIR: the upstream tarball of Debian's source package PKG
# into DIR, printed.  apt checks each file it downloads against the signed
# Sources index, so an upstream tarball that arrived is the right one even
# when the registry does not serve the package's .dsc or Debian tarball
# (which this build does not use).
fetch_source() {
	local pkg=$1 dir=$2
	mkdir -p "$dir"
	if ! ls "$dir"/*.orig.tar.* >/dev/null 2>&1; then
		apt-get "${apt_opts[@]}" -q update >&2
		if ! (cd "$dir" && apt-get "${apt_opts[@]}" -q source --download-only "$pkg" >&2); then
			if ls "$dir"/*.orig.tar.* >/dev/null 2>&1; then
				log "apt-get source $pkg ($SUITE): upstream tarball fetched, packaging files not served (not needed)"
			else
				log "apt-get source $pkg ($SUITE) failed: the source package is not served by the package registry here"
				return 2
			fi
		fi
	fi
	ls "$dir"/*.orig.tar.* | head -n 1
}

rc=0
tarball=$(fetch_source "postgresql-$MAJOR" "$CACHE/src/postgresql-$MAJOR") || rc=$?
[ "$rc" -eq 0 ] || exit "$rc"

BUILD=$CACHE/build-$MAJOR
rm -rf "$BUILD" "$PREFIX"
mkdir -p "$BUILD"
log "unpacking $(basename "$tarball")"
tar -C "$BUILD" --strip-components=1 -xf "$tarball"

log "configure (prefix $PREFIX)"
(cd "$BUILD" && ./configure --prefix="$PREFIX" --without-readline --with-openssl \
	--with-zstd --with-lz4 --with-libxml --with-icu >"$BUILD/configure.log" 2>&1) ||
	{
		tail -n 30 "$BUILD/configure.log" >&2
		exit 1
	}
log "make -j$JOBS (server, clients, contrib)"
(cd "$BUILD" && make -s -j"$JOBS" >"$BUILD/make.log" 2>&1 &&
	make -s -j"$JOBS" -C contrib >>"$BUILD/make.log" 2>&1 &&
	make -s install >>"$BUILD/make.log" 2>&1 &&
	make -s -C contrib install >>"$BUILD/make.log" 2>&1) ||
	{
		tail -n 40 "$BUILD/make.log" >&2
		exit 1
	}

# pgTAP for this server, from Debian's source package too
PGTAP_SRC=$CACHE/src/pgtap
rc=0
pgtap_tar=$(fetch_source pgtap "$PGTAP_SRC") || rc=$?
if [ "$rc" -ne 0 ]; then
	# the same upstream tarball from another suite will do
	SUITE=trixie
	cat >"$APT/sources.list" <<EOF
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main
EOF
	pgtap_tar=$(fetch_source pgtap "$PGTAP_SRC")
fi
rm -rf "$BUILD/pgtap"
mkdir -p "$BUILD/pgtap"
tar -C "$BUILD/pgtap" --strip-components=1 -xf "$pgtap_tar"
log "pgTAP from $(basename "$pgtap_tar")"
(cd "$BUILD/pgtap" && make -s PG_CONFIG="$PREFIX/bin/pg_config" >"$BUILD/pgtap.log" 2>&1 &&
	make -s PG_CONFIG="$PREFIX/bin/pg_config" install >>"$BUILD/pgtap.log" 2>&1) ||
	{
		tail -n 30 "$BUILD/pgtap.log" >&2
		exit 1
	}

# the server runs as the postgres OS user; everything it reads is world-readable
chmod -R a+rX "$PREFIX"
rm -rf "$BUILD"
date -u +%FT%TZ >"$STAMP"
log "installed into $PREFIX"
echo "$PREFIX/bin/pg_config"
