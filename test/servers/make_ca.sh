#!/bin/bash
# test/servers/make_ca.sh DIR [NAME SAN]: a throwaway certificate authority and
# leaf certificates for the tests' HTTPS servers (nginx, s3rver, https_server.py).
#
#   make_ca.sh DIR               DIR/ca.crt + ca.key (created once), and
#                                DIR/server.crt + server.key for
#                                IP:127.0.0.1, DNS:localhost
#   make_ca.sh DIR NAME SAN      DIR/NAME.crt + NAME.key signed by that CA for
#                                SAN (openssl syntax, e.g. "IP:169.254.169.254")
#
# Everything is world-readable (the server reads ca.crt as the postgres OS user
# through pgbackups.ca_file; nginx workers run as nobody); the directory is the
# test's own temporary directory.  EC P-256 keys, SHA-256, valid 2 days.
set -euo pipefail
dir=${1:?usage: make_ca.sh DIR [NAME SAN]}
name=${2:-server}
san=${3:-IP:127.0.0.1,DNS:localhost}
mkdir -p "$dir"
cd "$dir"
if [ ! -s ca.crt ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 2 \
		-subj "/CN=pgbackups test CA $$" -keyout ca.key -out ca.crt \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
	-subj "/CN=$name" -keyout "$name.key" -out "$name.csr" 2>/dev/null
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' "$san" >"$name.ext"
openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -sha256 \
	-extfile "$name.ext" -out "$name.crt" 2>/dev/null
rm -f "$name.csr" "$name.ext"
chmod 644 ./*.crt ./*.key
chmod 755 .
