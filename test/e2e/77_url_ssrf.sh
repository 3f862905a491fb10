#!/bin/bash
# 77_url_ssrf: restore_from_url() cannot be pointed at internal addresses,
# cannot be talked into other schemes by a redirect, and always verifies TLS.
#
# Run as root it re-runs itself in a named network namespace (ip netns) whose
# /etc/hosts and resolv.conf are the test's own: the PostgreSQL server runs
# inside it, resolving through that hosts file and test/servers/dns_rebind.py
# on 127.0.0.1:53.  On the namespace's loopback:
#   93.184.216.34    files.pgb-e2e.example: our nginx (test CA in
#                    pgbackups.ca_file), a "public" address; also on :8443 a
#                    certificate for another name, on :9443 an expired one,
#                    on :7443 one of a CA only the "system" store trusts
#   10.11.12.13      inner.pgb-e2e.example (through DNS), and where
#                    rebind.pgb-e2e.example resolves the second time
#   169.254.169.254  metadata.google.internal (through /etc/hosts, as on GCE)
#   fd00:ec2::254    the AWS IMDS IPv6 address
#   127.0.0.1
# test/servers/trap_listener.py listens on ports 80 and 443 of the last four
# and logs every connection: each refusal must leave its log unchanged (the
# probes at the start show that it does log connections, and an allow-listed
# host shows that pgbackups would reach it; [::1] has traps too).
# pgbackups.url_allowed_hosts is empty unless a case says otherwise.  Every
# refusal asserts its SQLSTATE, whether the calling backend
# refused it (no restore recorded) or the restore worker did (the job failed
# with that SQLSTATE), that no trap saw a connection, that the target
# database is exactly as it was, and that no staging database is left:
#   42501: http:// and https:// to [fd00:ec2::254], metadata.google.internal,
#          2130706433, 0x7f.1, [::ffff:127.0.0.1] and a name resolving to
#          10.x (the address rule comes before the scheme rule); more
#          spellings (0.0.0.0, [::], [::1], localhost, 127.1, 0177.0.0.1,
#          [::127.0.0.1], NAT64, 6to4, fe80::, 2001:db8::, CGNAT, TEST-NET,
#          multicast, METADATA.Google.Internal.) and userinfo/query/fragment
#          tricks, also with a public host allow-listed; a name that
#          resolves to a public address when the caller checks it and to
#          10.11.12.13 when the worker connects (DNS rebinding: the socket
#          filter refuses it); redirects from nginx to https:// on each
#          internal host (the worker's socket filter) and to http:// on
#          internal hosts
#   22023: redirects to file:///etc/passwd, data:, gopher:// and http:// on
#          a public host; http:// to a public host
#   28000: a certificate for another host name, an expired certificate, a
#          certificate whose CA only the system store trusts while
#          pgbackups.ca_file is set (a test store bind-mounted over
#          /etc/ssl/certs in the namespace; with ca_file empty it restores)
# Settings: an ordinary role (an operator with pgbackups_admin) cannot
# change any pgbackups.* setting by SET, set_config(), ALTER ROLE/DATABASE
# SET, ALTER SYSTEM or connection options (each with its exact SQLSTATE),
# and no setting turns TLS verification off.
# Cases that cannot be set up (not root, no `ip netns`) are skipped, never
# passed.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
D=pgb-e2e.example
PUB=93.184.216.34 # "public": not in any blocked range
INNER=10.11.12.13
META=169.254.169.254
V6=fd00:ec2::254
in_netns_with_dns pgb77 "$PUB files.$D
$META metadata.google.internal metadata" "$@"
TRY_TIMEOUT=${TRY_TIMEOUT:-120}

require_servers
NET=$NETNS_DNS
NET_REASON=${NETNS_SKIP_REASON:-}
if [ "$NET" = 1 ]; then
	for a in "$PUB/32" "$INNER/32" "$META/32"; do
		ip addr add "$a" dev lo || {
			NET=0
			NET_REASON="ip addr add $a dev lo failed"
		}
	done
	ip -6 addr add "$V6/128" dev lo nodad || {
		NET=0
		NET_REASON="ip -6 addr add $V6/128 failed (IPv6 disabled?)"
	}
fi

EXTRA_CONF="log_line_prefix = '%m [%p] %b %d %e '
pgbackups.url_allowed_hosts = ''
pgbackups.http_timeout = 5
pgbackups.http_retry_time = 2"
make_test_ca
EXTRA_CONF+="
pgbackups.ca_file = '$CA_FILE'"
start_cluster
W=$TESTDIR/w
mkdir -p "$W"
new_tmpdir WEB

psql_db postgres >/dev/null <<'SQL'
CREATE DATABASE cat;
CREATE DATABASE simple;
CREATE DATABASE victim;
CREATE ROLE operator LOGIN;
CREATE DATABASE opdb OWNER operator;
SQL
q cat "CREATE EXTENSION pgbackups" >/dev/null
q postgres "GRANT pgbackups_admin TO operator; GRANT CONNECT ON DATABASE cat TO operator" >/dev/null
q victim "CREATE TABLE mine AS SELECT g, 'victim ' || g AS s FROM generate_series(1, 500) g" >/dev/null
PGUSER=operator q opdb "CREATE TABLE mine AS SELECT g FROM generate_series(1, 50) g" >/dev/null
q simple "CREATE TABLE t AS SELECT g, 'simple ' || g AS s FROM generate_series(1, 3000) g" >/dev/null
pg_dump -Fc -d simple -f "$WEB/simple.dump"
chmod 644 "$WEB"/*
db_fingerprint victim >"$W/victim.before"
db_fingerprint opdb >"$W/opdb.before"

# === settings: nothing an ordinary role can change weakens verification ====================
# (no network needed)
settings_checks() {
	local s st ctx want n_user=0
	# SET of a reloadable (PGC_SIGHUP) setting is 55P02 for everyone; superuser-
	# only ones are 42501 for an ordinary role
	for s in ca_file url_allowed_hosts http_timeout http_retry_time url_max_size max_decompressed_size; do
		PGUSER=operator expect_sqlstate "operator: SET pgbackups.$s" cat 55P02 "SET pgbackups.$s = '1'"
		PGUSER=operator expect_sqlstate "operator: SET LOCAL pgbackups.$s" cat 55P02 "BEGIN; SET LOCAL pgbackups.$s = '1'"
		PGUSER=operator expect_sqlstate "operator: set_config('pgbackups.$s', '', false)" cat 55P02 "SELECT set_config('pgbackups.$s', '', false)"
		PGUSER=operator expect_sqlstate "operator: ALTER ROLE operator SET pgbackups.$s" opdb 55P02 "ALTER ROLE operator SET pgbackups.$s = '1'"
		PGUSER=operator expect_sqlstate "operator: ALTER DATABASE opdb (its own) SET pgbackups.$s" opdb 55P02 "ALTER DATABASE opdb SET pgbackups.$s = '1'"
		PGUSER=operator expect_sqlstate "operator: ALTER SYSTEM SET pgbackups.$s" cat 42501 "ALTER SYSTEM SET pgbackups.$s = '1'"
		PGUSER=operator expect_sqlstate "operator: ALTER SYSTEM RESET pgbackups.$s" cat 42501 "ALTER SYSTEM RESET pgbackups.$s"
		connect_option_state operator cat "pgbackups.$s"
		check_eq "operator: connection option -c pgbackups.$s=1 (FATAL)" "$TRY_STATE" 55P02
	done
	# every pgbackups.* setting the server knows: an ordinary role's SET is
	# refused with the SQLSTATE of its context
	while IFS='|' read -r s ctx; do
		case "$ctx" in
		sighup | postmaster) want=55P02 ;;
		superuser | superuser-backend) want=42501 ;;
		*) want="" ;;
		esac
		if [ -z "$want" ]; then
			n_user=$((n_user + 1))
			if grep -q -E 'ca_|cert|ssl|tls|verif|url|http|allowed|s3_endpoint|insecure' <<<"$s"; then
				fail "$s can be changed by an ordinary role (context $ctx)"
			else
				pass "$s: context $ctx, nothing to do with URLs or TLS"
			fi
			continue
		fi
		try_sql cat "SET ROLE operator; SET $s TO DEFAULT"
		st=$TRY_STATE
		check_eq "operator: SET $s TO DEFAULT (context $ctx)" "$st" "$want"
	done < <(
		q postgres "SELECT name, context FROM pg_settings WHERE name LIKE 'pgbackups.%' ORDER BY name"
		# hidden from pg_settings (GUC_NO_SHOW_ALL): the secrets, all reloadable
		printf 'pgbackups.%s|sighup\n' s3_access_key_id s3_secret_access_key s3_session_token conninfo webhook_url
	)
	check_eq "no pgbackups setting turns TLS verification off (names with verify/insecure/ssl/tls/cert/skip)" \
		"$(q postgres "SELECT count(*) FROM pg_settings WHERE name LIKE 'pgbackups.%' AND name ~* '(verif|insecure|ssl|tls|cert|skip)'")" 0
	check "src/ never sets CURLOPT_SSL_VERIFYPEER/VERIFYHOST to anything but 1L/2L" \
		bash -c "! grep -h -E 'CURLOPT_SSL_VERIFY(PEER|HOST|STATUS)' '$REPO_DIR'/src/*/*.c | grep -v -E 'CURLOPT_SSL_VERIFYPEER, 1L|CURLOPT_SSL_VERIFYHOST, 2L' | grep -q ."
	check_eq "the settings are what postgresql.conf says (nothing above changed them)" \
		"$(q cat "SELECT current_setting('pgbackups.ca_file') = '$CA_FILE', current_setting('pgbackups.url_allowed_hosts'), (SELECT count(*) FROM pg_db_role_setting)")" "t||0"
}

# connect_option_state ROLE DB NAME: connect with PGOPTIONS="-c NAME=1"; TRY_STATE
# is OK, or the SQLSTATE of the FATAL error (psql does not print it for a
# failed connection: taken from the server log, whose line prefix has %e)
connect_option_state() {
	local out rc=0 deadline=$((SECONDS + 10)) line
	out=$(PGUSER=$1 PGOPTIONS="-c $3=1" psql -X -q -At -d "$2" -c "SELECT 1" 2>&1) || rc=$?
	TRY_STATE=OK
	[ "$rc" != 0 ] || return 0
	TRY_STATE="? $out"
	while [ "$SECONDS" -lt "$deadline" ]; do
		line=$(grep -F "FATAL:  parameter \"$3\" cannot be changed now" "$SERVER_LOG" | tail -n 1 || true)
		if [ -n "$line" ]; then
			TRY_STATE=$(sed -E 's/^.* ([0-9A-Z]{5}) FATAL: .*$/\1/' <<<"$line")
			return 0
		fi
		sleep 0.1
	done
}

settings_checks

# === URLs ====================================================================================
if [ "$NET" != 1 ]; then
	for c in "http(s):// to [fd00:ec2::254]" "http(s)://metadata.google.internal" "http(s)://2130706433" \
		"http(s)://0x7f.1" "http(s)://[::ffff:127.0.0.1]" "http(s):// to a name resolving to 10.x" \
		"DNS rebinding" "redirects to internal hosts, file:, data:, gopher:, http:" \
		"TLS: wrong host name" "TLS: expired certificate"; do
		skip "$c" "$NET_REASON"
	done
	finish
fi

# certificates: files.pgb-e2e.example, another name, and an expired one (openssl ca
# with -startdate/-enddate: openssl 3.0's x509 -req has no -not_before)
"$SERVERS_DIR/make_ca.sh" "$CA_DIR" files "DNS:files.$D" >/dev/null
"$SERVERS_DIR/make_ca.sh" "$CA_DIR" other "DNS:other.$D" >/dev/null
make_expired_cert() {
	local d=$CA_DIR/expired-ca
	mkdir -p "$d/new"
	: >"$d/index.txt"
	echo 1001 >"$d/serial"
	cat >"$d/ca.cnf" <<EOF
[ ca ]
default_ca = test
[ test ]
database = $d/index.txt
new_certs_dir = $d/new
serial = $d/serial
default_md = sha256
policy = anything
copy_extensions = none
unique_subject = no
[ anything ]
commonName = supplied
[ ext ]
subjectAltName = DNS:files.$D
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
EOF
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -subj "/CN=files.$D" \
		-keyout "$CA_DIR/expired.key" -out "$d/expired.csr" 2>/dev/null
	openssl ca -batch -config "$d/ca.cnf" -cert "$CA_DIR/ca.crt" -keyfile "$CA_DIR/ca.key" -in "$d/expired.csr" \
		-out "$CA_DIR/expired.crt" -extensions ext -notext \
		-startdate "$(date -u -d '3 days ago' +%Y%m%d%H%M%SZ)" -enddate "$(date -u -d '1 day ago' +%Y%m%d%H%M%SZ)" >"$d/out" 2>&1 ||
		die "openssl ca: $(cat "$d/out")"
	chmod 644 "$CA_DIR"/expired.*
}
make_expired_cert
# a second CA that only the "system" store trusts (bind-mounted over
# /etc/ssl/certs in this namespace's private mount namespace, below)
CA2_DIR=""
new_tmpdir CA2_DIR
"$SERVERS_DIR/make_ca.sh" "$CA2_DIR" sys "DNS:files.$D" >/dev/null
check "the expired certificate is expired (openssl verify, error 10)" \
	bash -c "openssl verify -CAfile '$CA_FILE' '$CA_DIR/expired.crt' 2>&1 | grep -q 'certificate has expired'"
check "the other certificate is valid, but for other.$D" \
	bash -c "openssl verify -CAfile '$CA_FILE' '$CA_DIR/other.crt' >/dev/null && openssl x509 -in '$CA_DIR/other.crt' -noout -ext subjectAltName | grep -q -x '    DNS:other.$D'"

# redirects served by nginx at https://files.pgb-e2e.example/to/NAME
declare -A TO=(
	[file]="file:///etc/passwd"
	[data]="data:application/octet-stream;base64,UEdETVAB"
	[gopher]="gopher://$INNER:80/_GET%20/"
	[http-public]="http://files.$D/files/simple.dump"
	[http-metadata]="http://$META/computeMetadata/v1/"
	[http-inner]="http://inner.$D/files/simple.dump"
	[http-mapped]="http://[::ffff:127.0.0.1]/files/simple.dump"
	[https-v6]="https://[$V6]/files/simple.dump"
	[https-metadata-name]="https://metadata.google.internal/computeMetadata/v1/"
	[https-decimal]="https://2130706433/files/simple.dump"
	[https-hex]="https://0x7f.1/files/simple.dump"
	[https-mapped]="https://[::ffff:127.0.0.1]/files/simple.dump"
	[https-inner]="https://inner.$D/files/simple.dump"
	[https-public]="https://files.$D/files/simple.dump"
)
redirects=""
for k in "${!TO[@]}"; do
	redirects+="
		location = /to/$k { return 302 \"${TO[$k]}\"; }"
done
start_nginx_https "$WEB" "
	server {
		listen $PUB:443 ssl;
		server_name files.$D;
		ssl_certificate $CA_DIR/files.crt;
		ssl_certificate_key $CA_DIR/files.key;
		absolute_redirect off;
		location /files/ { alias $WEB/; }$redirects
	}
	server {
		listen $PUB:8443 ssl;
		ssl_certificate $CA_DIR/other.crt;
		ssl_certificate_key $CA_DIR/other.key;
		location /files/ { alias $WEB/; }
	}
	server {
		listen $PUB:7443 ssl;
		ssl_certificate $CA2_DIR/sys.crt;
		ssl_certificate_key $CA2_DIR/sys.key;
		location /files/ { alias $WEB/; }
	}
	server {
		listen $PUB:9443 ssl;
		ssl_certificate $CA_DIR/expired.crt;
		ssl_certificate_key $CA_DIR/expired.key;
		location /files/ { alias $WEB/; }
	}"
DNS_LOG=$W/dns.jsonl
start_dns_server "$DNS_LOG" --static "inner.$D=$INNER" --static "probe.$D=$PUB" --rebind "rebind.$D=$PUB,$INNER"
TRAP_LOG=$W/trap.jsonl
TRAPS=("$INNER:80" "$INNER:443" "$META:80" "$META:443" "[$V6]:80" "[$V6]:443" "127.0.0.1:80" "127.0.0.1:443" "[::1]:80" "[::1]:443")
start_trap_listener "$TRAP_LOG" "${TRAPS[@]}"

# --- the set-up works: names resolve as intended, the traps log connections ---
check_eq "/etc/hosts of the namespace: files.$D" "$(getent ahostsv4 "files.$D" | awk 'NR == 1 {print $1}')" "$PUB"
check_eq "/etc/hosts of the namespace: metadata.google.internal" "$(getent ahostsv4 metadata.google.internal | awk 'NR == 1 {print $1}')" "$META"
check_eq "our DNS server: inner.$D" "$(getent ahostsv4 "inner.$D" | awk 'NR == 1 {print $1}')" "$INNER"
check_eq "our DNS server: probe.$D" "$(getent ahostsv4 "probe.$D" | awk 'NR == 1 {print $1}')" "$PUB"
check "nginx serves https://files.$D/files/simple.dump (certificate verified by curl)" \
	curl -sf --cacert "$CA_FILE" -o /dev/null "https://files.$D/files/simple.dump"
for t in "${TRAPS[@]}"; do
	curl -s -o /dev/null --max-time 5 "http://$t/probe" || true
done
check_eq "each trap listener logs a connection (probe with curl)" "$(trap_accepts "$TRAP_LOG")" "${#TRAPS[@]}"
check_eq "... at each address" "$(jq -r 'select(.event == "accept") | .local' "$TRAP_LOG" | sort | tr '\n' ' ')" \
	"$(printf '%s\n' "${TRAPS[@]}" | sort | tr '\n' ' ')"
: >"$TRAP_LOG"
: >"$DNS_LOG"

# restore_ok NAME URL: restore_from_url into a fresh database works
restore_ok() {
	local name=$1 url=$2 tgt=t_$((++N_OK))
	q postgres "CREATE DATABASE $tgt" >/dev/null
	try_sql cat "SELECT pgbackups.restore_from_url('$url', target => '$tgt', confirm => '$tgt', wait => true)"
	check_eq "$name: restored ($TRY_MSG)" "$TRY_STATE" OK
	[ "$TRY_STATE" != OK ] || check_eq "$name: the data is there" "$(q "$tgt" "SELECT count(*) || ' ' || sum(g) FROM t")" "3000 4501500"
}
N_OK=0

# refused NAME URL WANT WHERE [ADDR] [ROLE TARGET]: restore_from_url(URL) into
# TARGET (default victim) as ROLE (default postgres) fails with SQLSTATE WANT.
# WHERE caller: refused by the calling backend's check (no restore recorded);
# worker: the restore job was recorded and failed with WANT.  The error names
# ADDR (when given), no trap saw a connection, TARGET is as it was, no
# staging database is left.
refused() {
	local name=$1 url=$2 want=$3 where=$4 addr=${5:-} role=${6:-postgres} tgt=${7:-victim} n0 r0
	n0=$(trap_accepts "$TRAP_LOG")
	r0=$(q cat "SELECT count(*) FROM pgbackups.restores")
	PGUSER=$role try_sql cat "SELECT pgbackups.restore_from_url('$url', target => '$tgt', confirm => '$tgt', wait => true)"
	printf '== %s\n%s\n' "$name" "$TRY_ERR" >>"$W/errors.txt"
	check_eq "$name: SQLSTATE [$TRY_MSG]" "$TRY_STATE" "$want"
	if [ "$where" = caller ]; then
		check_eq "$name: refused by the calling backend (no restore recorded)" "$(q cat "SELECT count(*) - $r0 FROM pgbackups.restores")" 0
	else
		check_eq "$name: refused by the restore worker (the job failed with $want)" \
			"$(q cat "SELECT (SELECT count(*) - $r0 FROM pgbackups.restores) || ' ' || status || ' ' || coalesce(error_code, '-') FROM pgbackups.restores ORDER BY num DESC LIMIT 1")" \
			"1 failed $want"
	fi
	[ -z "$addr" ] || check "$name: the error names $addr" grep -q -F -- "$addr" <<<"$TRY_MSG"
	check "$name: the error is pgbackups' refusal, not a failed connection" \
		bash -c "! grep -q -i -E 'could not connect|timed out|resolve host|Connection refused' <<<\"\$1\"" _ "$TRY_MSG"
	check_eq "$name: no connection reached a trap listener" "$(trap_accepts "$TRAP_LOG")" "$n0"
	if db_fingerprint "$tgt" | diff -q "$W/$tgt.before" - >/dev/null; then
		pass "$name: $tgt is as it was"
	else
		fail "$name: $tgt changed"
		db_fingerprint "$tgt" >"$W/$tgt.before"
	fi
	check_eq "$name: no staging database left" "$(staging_dbs)" ""
}

# --- controls: a public host works; an allow-listed internal one is reached ---
restore_ok "https://files.$D (a public address, no allow-list)" "https://files.$D/files/simple.dump"
set_conf pgbackups.url_allowed_hosts "inner.$D"
n0=$(trap_accepts "$TRAP_LOG")
try_sql cat "SELECT pgbackups.restore_from_url('https://inner.$D/files/simple.dump', target => 'victim', confirm => 'victim', wait => true)"
check_eq "control: https://inner.$D allow-listed: the trap (no TLS) makes the download fail [$TRY_MSG]" "$TRY_STATE" 08006
check "control: ... but pgbackups did connect to $INNER:443 (so the traps would see a leak)" \
	test "$(jq -r 'select(.event == "accept") | .local' "$TRAP_LOG" | grep -c -x "$INNER:443")" -ge 1
if db_fingerprint victim | diff -q "$W/victim.before" - >/dev/null; then pass "... victim is as it was"; else fail "... victim changed"; fi
set_conf pgbackups.url_allowed_hosts ''
: >"$TRAP_LOG"

# --- internal hosts, http:// and https://: the calling backend refuses (42501) ---
while IFS='|' read -r host addr; do
	for scheme in http https; do
		refused "$scheme://$host" "$scheme://$host/files/simple.dump" 42501 caller "$addr"
	done
done <<EOF
[$V6]|$V6
metadata.google.internal|$META
2130706433|127.0.0.1
0x7f.1|127.0.0.1
[::ffff:127.0.0.1]|::ffff:127.0.0.1
inner.$D|$INNER
EOF
# more spellings of internal addresses (https: the address rule, not the scheme rule)
while IFS='|' read -r host addr; do
	refused "https://$host" "https://$host/files/simple.dump" 42501 caller "$addr"
done <<EOF
0.0.0.0|0.0.0.0
[::]|::
[::1]|::1
localhost|
127.1|127.0.0.1
0177.0.0.1|127.0.0.1
[::127.0.0.1]|::127.0.0.1
[64:ff9b::a0b:c0d]|64:ff9b::a0b:c0d
[2002:a0b:c0d::1]|2002:a0b:c0d::1
[fe80::1]|fe80::1
[2001:db8::1]|2001:db8::1
100.64.0.1|100.64.0.1
192.0.2.1|192.0.2.1
224.0.0.1|224.0.0.1
METADATA.Google.Internal.|$META
files.$D@$INNER|$INNER
$INNER#@files.$D|$INNER
EOF
refused "http://0.0.0.0" "http://0.0.0.0/files/simple.dump" 42501 caller 0.0.0.0
# the allow-list names a public host: URLs dressed up to look like it still reach nothing internal
set_conf pgbackups.url_allowed_hosts "files.$D"
refused "files.$D allow-listed: https://files.$D@$INNER/" "https://files.$D@$INNER/files/simple.dump" 42501 caller "$INNER"
refused "files.$D allow-listed: https://$INNER?@files.$D/" "https://$INNER?@files.$D/files/simple.dump" 42501 caller "$INNER"
refused "files.$D allow-listed: http://$INNER#@files.$D/" "http://$INNER#@files.$D/files/simple.dump" 42501 caller "$INNER"
set_conf pgbackups.url_allowed_hosts ''
refused "an operator: https://inner.$D into its own database" "https://inner.$D/files/simple.dump" 42501 caller "$INNER" operator opdb
refused "http:// to a public host (the scheme rule)" "http://files.$D/files/simple.dump" 22023 caller

# --- DNS rebinding: public for the caller's check, 10.11.12.13 when the worker connects ---
: >"$DNS_LOG"
refused "DNS rebinding: https://rebind.$D" "https://rebind.$D/files/simple.dump" 42501 worker "$INNER"
check_eq "... the caller's check got $PUB, the worker's resolution $INNER (A answers in order)" \
	"$(jq -r 'select(.type == "A") | "\(.count)=\(.answer)"' "$DNS_LOG" | head -n 2 | tr '\n' ' ')" "1=$PUB 2=$INNER "
check_eq "... and every later answer was $INNER too" \
	"$(jq -r 'select(.type == "A" and .count > 1) | .answer' "$DNS_LOG" | sort -u)" "$INNER"

# --- redirects from https://files.pgb-e2e.example: the worker refuses ---
while IFS='|' read -r k want addr; do
	refused "a redirect to ${TO[$k]}" "https://files.$D/to/$k" "$want" worker "$addr"
done <<EOF
file|22023|"file:
data|22023|"data:
gopher|22023|"gopher:
http-public|22023|"http://files.$D/files/simple.dump"
http-metadata|42501|$META
http-inner|42501|$INNER
http-mapped|42501|::ffff:127.0.0.1
https-v6|42501|$V6
https-metadata-name|42501|$META
https-decimal|42501|127.0.0.1
https-hex|42501|127.0.0.1
https-mapped|42501|::ffff:127.0.0.1
https-inner|42501|$INNER
EOF
restore_ok "control: a redirect to https://files.$D works" "https://files.$D/to/https-public"

# --- TLS ---
check "control: the :8443 and :9443 servers serve the file when verification is off (curl -k)" \
	bash -c "curl -sfk -o /dev/null 'https://files.$D:8443/files/simple.dump' && curl -sfk -o /dev/null 'https://files.$D:9443/files/simple.dump'"
refused "TLS: a certificate for other.$D at files.$D:8443" "https://files.$D:8443/files/simple.dump" 28000 worker
check "... the error says why (host name)" grep -q -i -E 'certificate|subject name' <<<"$TRY_ERR"
refused "TLS: an expired certificate at files.$D:9443" "https://files.$D:9443/files/simple.dump" 28000 worker
check "... the error says why (expired)" grep -q -i 'expired' <<<"$TRY_ERR"

# pgbackups.ca_file replaces the system's CAs, CA directory included: a
# server whose CA only the system store trusts is refused while ca_file is set
SYS_CERTS=/etc/ssl/certs
new_tmpdir SYS_STORE
cp "$CA2_DIR/ca.crt" "$SYS_STORE/pgbtest-ca2.pem"
cp "$CA2_DIR/ca.crt" "$SYS_STORE/ca-certificates.crt"
if ! openssl rehash "$SYS_STORE" >/dev/null 2>&1; then
	skip "TLS: ca_file replaces the system CA store" "openssl rehash failed"
elif ! mount --bind "$SYS_STORE" "$SYS_CERTS"; then
	skip "TLS: ca_file replaces the system CA store" "cannot bind-mount over $SYS_CERTS in the namespace"
else
	check "control: libcurl's defaults (CA file and CA directory in $SYS_CERTS) trust files.$D:7443 now" \
		curl -sf -o /dev/null "https://files.$D:7443/files/simple.dump"
	check "control: curl --cacert <test CA> still trusts it through the default CA directory (what clearing CAPATH prevents)" \
		curl -sf --cacert "$CA_FILE" -o /dev/null "https://files.$D:7443/files/simple.dump"
	refused "TLS: a CA only in the system store, pgbackups.ca_file set" "https://files.$D:7443/files/simple.dump" 28000 worker
	set_conf pgbackups.ca_file ''
	restore_ok "control: with pgbackups.ca_file empty the system store is used" "https://files.$D:7443/files/simple.dump"
	set_conf pgbackups.ca_file "$CA_FILE"
	umount "$SYS_CERTS"
fi

check_eq "no trap listener saw any connection after the controls" "$(trap_accepts "$TRAP_LOG")" 0
finish
