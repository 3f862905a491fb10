#!/bin/bash
# scripts/setup.sh: install what pgbackups needs to build and test, then build
# and install the extension.  Run as root; idempotent (apt runs only when a
# package is missing).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_MAJOR=15
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}

PACKAGES=(
	build-essential
	"postgresql-$PG_MAJOR"
	"postgresql-client-$PG_MAJOR"
	postgresql-contrib
	"postgresql-server-dev-$PG_MAJOR"
	"postgresql-$PG_MAJOR-pgtap"
	libtap-parser-sourcehandler-pgtap-perl
	libcurl4-openssl-dev
	libzstd-dev
	liblz4-dev
	libssl-dev
	zlib1g-dev
	libisal-dev
	libpq-dev
	libxml2-dev
	pkg-config
	zstd
	lz4
	python3
	clang
	libclang-rt-14-dev
	valgrind
	# S3 and URL tests (test/servers, e2e 72-78): our own nginx, the
	# independent S3 clients (boto3, awscli), certificates, network namespaces
	nginx-light
	python3-boto3
	python3-botocore
	awscli
	curl
	# JSON in the alert tests (e2e 86: NOTIFY payloads and webhook bodies)
	jq
	openssl
	iproute2
	util-linux
)
# node runs s3rver (test/servers); any node >= 20 with npm will do (this
# machine may have one from elsewhere), else Debian's
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	PACKAGES+=(nodejs npm)
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "setup.sh: must run as root (it installs packages and the extension)" >&2
	exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -gt 0 ]; then
	echo "setup.sh: installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# Debian's postgresql-common would create and start a 'main' cluster on
	# port 5432; the tests never use it, so skip creating one.
	mkdir -p /etc/postgresql-common/createcluster.d
	if [ ! -e /etc/postgresql-common/createcluster.d/pgbackups-tests.conf ] &&
		[ ! -d "/etc/postgresql/$PG_MAJOR/main" ]; then
		echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/pgbackups-tests.conf
	fi
	apt-get install -y -q --no-install-recommends "${missing[@]}"
else
	echo "setup.sh: all packages present"
fi

for tool in pg_prove pgbench pg_restore pg_dump; do
	if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/lib/postgresql/$PG_MAJOR/bin/$tool" ]; then
		echo "setup.sh: $tool not found after install" >&2
		exit 1
	fi
done

# s3rver (@20minutes/s3rver) for the S3 tests, from package-lock.json
if [ ! -d "$REPO/test/servers/node_modules/@20minutes/s3rver" ]; then
	echo "setup.sh: npm ci in test/servers"
	(cd "$REPO/test/servers" && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "setup.sh: building and installing pgbackups from $REPO"
make -C "$REPO" PG_CONFIG="$PG_CONFIG" -j"$(nproc)"
make -C "$REPO" PG_CONFIG="$PG_CONFIG" install
