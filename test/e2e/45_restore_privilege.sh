#!/bin/bash
# 45_restore_privilege: archive SQL runs with no more privilege than the
# target database's owner.  A target owned by the ordinary LOGIN role app gets
# crafted archives (test/tools/craft-archive) that try to become superuser or
# to act as one: RESET ROLE + ALTER ROLE app SUPERUSER, SET ROLE postgres,
# SET SESSION AUTHORIZATION postgres, set_config('role', ...), ALTER SYSTEM,
# COPY ... TO PROGRAM (top level and in a DO block), and plpgsql functions
# that do COPY ... TO PROGRAM / ALTER ROLE when the restore runs them (a
# generated column and a CHECK constraint during the data load, an index
# expression, a materialized view refresh); keep_owner with an object owned
# by a superuser in the archive (a SECURITY DEFINER function).  Every one is
# first run through pg_restore as a superuser (the control: the attack is
# live), then restored by the engine into app's database: the restore fails,
# app is no superuser, postgresql.auto.conf is unchanged, no file was
# written, the target is as it was, no staging database is left.  Also: a
# target owned by a NOLOGIN role is refused before anything changes, and
# roles without pgbackups_admin (or without superuser for file:// URLs) get
# 42501; an operator (pgbackups_admin without superuser) cannot restore or copy
# into a database a superuser owns nor read a database it has no access to.
# Every attack's restore must fail with its exact SQLSTATE (42501 from the
# server's own checks, 25001 for ALTER SYSTEM, which cannot run in a
# restore's transaction).  CREATE EXTENSION entries carrying more SQL are
# refused (0A000), and an operator's backup or copy of its own database with
# an untrusted extension (dblink) is refused with 42501, nothing changed.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-120} # seconds for one restore call

CRAFT=$LIB_DIR/tools/craft-archive
CAT="cat"
TGT=apptgt

start_cluster
W=$TESTDIR/priv
mkdir -p "$W"
psql_db postgres >/dev/null <<SQL
CREATE ROLE app LOGIN;
CREATE ROLE stranger LOGIN;
CREATE ROLE opadmin LOGIN;
CREATE ROLE nologin_owner NOLOGIN;
CREATE DATABASE $CAT;
CREATE DATABASE appsrc OWNER app;
CREATE DATABASE $TGT OWNER app;
CREATE DATABASE appctl OWNER app;
CREATE DATABASE nologin_tgt OWNER nologin_owner;
SQL
q $CAT "CREATE EXTENSION pgbackups" >/dev/null
q postgres "GRANT pgbackups_admin TO opadmin" >/dev/null

# --- the source: functions that restores run ---------------------------------------------
psql -X -q -v ON_ERROR_STOP=1 -U app -d appsrc >/dev/null <<'SQL'
CREATE FUNCTION public.f_gen(x integer) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN x * 2; END $$;
CREATE FUNCTION public.f_chk(x integer) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN x > 0; END $$;
CREATE FUNCTION public.f_idx(x integer) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN x % 7; END $$;
CREATE FUNCTION public.f_mv(x integer) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN x + 1; END $$;
CREATE TABLE public.items (
	id integer PRIMARY KEY,
	v integer NOT NULL CONSTRAINT v_ok CHECK (public.f_chk(v)),
	g integer GENERATED ALWAYS AS (public.f_gen(v)) STORED
);
INSERT INTO public.items (id, v) SELECT g, g FROM generate_series(1, 20) g;
CREATE INDEX items_expr ON public.items ((public.f_idx(v)));
CREATE MATERIALIZED VIEW public.mv AS SELECT public.f_mv(v) AS m FROM public.items;
CREATE TABLE public.plain (id integer);
INSERT INTO public.plain VALUES (1), (2), (3);
SQL
# owned by a superuser in the archive: a SECURITY DEFINER function
q appsrc "CREATE FUNCTION public.sd() RETURNS name LANGUAGE sql SECURITY DEFINER AS 'SELECT current_user'" >/dev/null
pg_dump -Fc -d appsrc -f "$W/base.dump"
"$CRAFT" "$W/base.dump" --list >"$W/base.list"

# --- the target ------------------------------------------------------------------------------
psql -X -q -v ON_ERROR_STOP=1 -U app -d $TGT >/dev/null <<'SQL'
CREATE TABLE public.precious (id integer PRIMARY KEY, v text);
INSERT INTO public.precious SELECT g, 'app data ' || g FROM generate_series(1, 300) g;
CREATE SCHEMA app_schema;
CREATE VIEW app_schema.pv AS SELECT count(*) FROM public.precious;
SQL
db_fingerprint $TGT >"$W/before.txt"
AUTOCONF=$PGDATA/postgresql.auto.conf
autoconf_sum() { md5sum <"$AUTOCONF" | cut -d' ' -f1; }

# the base archive restores into a database owned by app: failures below are
# the attacks' doing
try_sql $CAT "SELECT pgbackups.restore_from_url('file://$W/base.dump', target => 'appctl', confirm => 'appctl', wait => true)"
check_eq "control: the unmodified archive restores into a database owned by app" "$TRY_STATE" OK
[ "$TRY_STATE" = OK ] || log "control: $TRY_MSG"
check_eq "control: no server process crashed" "$(crash_count)" 0
server_up 60 || die "the server did not come back"
if [ "$TRY_STATE" = OK ]; then
	check_eq "control: objects end up owned by app (sd() too, no keep_owner)" \
		"$(q appctl "SELECT string_agg(DISTINCT pg_get_userbyid(proowner), ',') FROM pg_proc WHERE pronamespace = 'public'::regnamespace")" app
	check_eq "control: the functions ran (generated column, matview)" "$(q appctl "SELECT sum(g) || ' ' || (SELECT sum(m) FROM public.mv) FROM public.items")" "420 230"
fi

# --- the attacks -------------------------------------------------------------------------------
PW=/tmp/pgbackups_pwned_$$
CASES=()
# case NAME HOW ARG [STATE]: HOW = prefix (ARG is SQL put before the defn of
# TABLE items), entry (ARG is a TOC entry of its own, desc SQL, before TABLE
# items), ext (ARG is the defn of an EXTENSION entry hstore of its own, before
# TABLE items), plain (ARG replaces the defn of TABLE plain), or fn:NAME (ARG
# is the plpgsql body of function NAME); STATE: the restore's SQLSTATE
# (default 42501: the server refuses the owner)
case_() { CASES+=("$1|$2|$3|${4:-42501}"); }
copy_prog() { printf "COPY (SELECT 1) TO PROGRAM 'touch %s_%s';" "$PW" "$1"; }
case_ reset_role prefix "RESET ROLE; ALTER ROLE app SUPERUSER;"
case_ set_role prefix "SET ROLE postgres; ALTER ROLE app SUPERUSER; $(copy_prog set_role)"
case_ session_auth prefix "SET SESSION AUTHORIZATION postgres; ALTER ROLE app SUPERUSER; $(copy_prog session_auth)"
case_ set_config_role prefix "SELECT set_config('role', 'postgres', false); ALTER ROLE app SUPERUSER; $(copy_prog set_config_role)"
# ALTER SYSTEM cannot run in a multi-statement query: an entry of its own
# (a restore runs entries through SPI, where ALTER SYSTEM is refused: 25001)
case_ alter_system_entry entry "ALTER SYSTEM SET work_mem = '77MB';" 25001
case_ alter_system_table plain "ALTER SYSTEM SET work_mem = '77MB';" 25001
case_ copy_program prefix "$(copy_prog copy_program)"
case_ do_copy_program prefix "DO \$x\$ BEGIN EXECUTE \$\$$(copy_prog do_copy_program)\$\$; END \$x\$;"
case_ do_alter_role prefix "DO \$x\$ BEGIN EXECUTE 'ALTER ROLE app SUPERUSER'; END \$x\$;"
# (an IMMUTABLE function may not COPY or ALTER ROLE itself, so it calls a
# VOLATILE one)
for fn in f_gen f_chk f_idx f_mv; do
	case_ "fn_$fn" "fn:$fn" "BEGIN $(copy_prog "fn_$fn") ALTER ROLE app SUPERUSER; END"
done
# a CREATE EXTENSION entry carrying more SQL (extensions were created by a
# superuser session): only the statement rebuilt from the parsed name and
# schema may ever run, so the entry is refused as it stands
case_ ext_trailing_sql ext "CREATE EXTENSION IF NOT EXISTS hstore WITH SCHEMA public; ALTER ROLE app SUPERUSER; $(copy_prog ext_trailing_sql)" 0A000
case_ ext_do_block ext "CREATE EXTENSION IF NOT EXISTS hstore WITH SCHEMA public; DO \$x\$ BEGIN EXECUTE 'ALTER ROLE app SUPERUSER'; END \$x\$;" 0A000

items_defn=$("$CRAFT" "$W/base.dump" --show tag:TABLE:items | python3 -c 'import json,sys; print(json.load(sys.stdin)["defn"], end="")')
for c in "${CASES[@]}"; do
	IFS='|' read -r name how arg _ <<<"$c"
	if [ "$how" = prefix ]; then
		"$CRAFT" "$W/base.dump" --defn tag:TABLE:items "$arg
$items_defn" -o "$W/$name.dump"
	elif [ "$how" = entry ]; then
		"$CRAFT" "$W/base.dump" --insert-before tag:TABLE:items SQL pre "$arg" -o "$W/$name.dump"
	elif [ "$how" = ext ]; then
		"$CRAFT" "$W/base.dump" --insert-before tag:TABLE:items EXTENSION pre "$arg" \
			--field desc:EXTENSION:1 tag hstore -o "$W/$name.dump"
	elif [ "$how" = plain ]; then
		"$CRAFT" "$W/base.dump" --defn tag:TABLE:plain "$arg" -o "$W/$name.dump"
	else
		f=${how#fn:}
		ret=integer result=x
		[ "$f" = f_chk ] && ret=boolean result='x > 0'
		"$CRAFT" "$W/base.dump" --defn "tag:FUNCTION:$f(integer)" "CREATE FUNCTION public.evil_$f() RETURNS void
    LANGUAGE plpgsql VOLATILE
    AS \$\$ $arg \$\$;
CREATE FUNCTION public.$f(x integer) RETURNS $ret
    LANGUAGE plpgsql IMMUTABLE
    AS \$\$ BEGIN PERFORM public.evil_$f(); RETURN $result; END \$\$;
" -o "$W/$name.dump"
	fi
done
chmod 755 "$W"
chmod 644 "$W"/*.dump
[ "$(id -u)" -ne 0 ] || chown -R postgres:postgres "$W"

# effect NAME: what the attack of case NAME achieved so far ("" = nothing)
effect() {
	local out=""
	[ "$(q postgres "SELECT rolsuper FROM pg_roles WHERE rolname = 'app'")" = t ] && out+="app is superuser; "
	[ "$(q postgres "SELECT rolsuper FROM pg_roles WHERE rolname = 'opadmin'")" = t ] && out+="opadmin is superuser; "
	[ "$(autoconf_sum)" != "$AUTOCONF_SUM" ] && out+="postgresql.auto.conf changed; "
	[ -e "${PW}_$1" ] && out+="${PW}_$1 written; "
	printf '%s' "$out"
}
undo() {
	q postgres "ALTER ROLE app NOSUPERUSER; ALTER ROLE opadmin NOSUPERUSER" >/dev/null
	q postgres "ALTER SYSTEM RESET work_mem" >/dev/null
	rm -f "${PW}_$1"
	AUTOCONF_SUM=$(autoconf_sum)
}

AUTOCONF_SUM=$(autoconf_sum)
CRASHES=$(crash_count)
for c in "${CASES[@]}"; do
	IFS='|' read -r name _ _ want <<<"$c"
	server_up 60 || die "the server is not up"
	# control: pg_restore --no-owner as a superuser carries the attack out
	q postgres "CREATE DATABASE \"ctl_$name\"" >/dev/null
	# (--no-owner: index builds and matview refreshes run as the table owner)
	pg_restore --no-owner -d "ctl_$name" "$W/$name.dump" >"$W/$name.ctl" 2>&1 || true
	eff=$(effect "$name")
	if [ -n "$eff" ]; then
		pass "$name: control: pg_restore as superuser: $eff"
	else
		fail "$name: control: pg_restore as superuser achieved nothing: $(head -c 300 "$W/$name.ctl")"
	fi
	undo "$name"
	check_eq "$name: control undone" "$(effect "$name")" ""

	# the engine, into app's database
	try_sql $CAT "SELECT pgbackups.restore_from_url('file://$W/$name.dump', target => '$TGT', confirm => '$TGT', wait => true)"
	if [ "$TRY_STATE" = "$want" ]; then
		pass "$name: the restore failed with $want: $TRY_MSG"
	else
		fail "$name: want SQLSTATE $want, got $TRY_STATE: $TRY_MSG"
	fi
	check_eq "$name: no server process crashed" "$(crash_count)" "$CRASHES"
	CRASHES=$(crash_count)
	server_up 60 || die "the server did not come back"
	check_eq "$name: app is still no superuser, auto.conf unchanged, no file written" "$(effect "$name")" ""
	undo "$name"
	rid=$(q $CAT "SELECT id FROM pgbackups.restores ORDER BY num DESC LIMIT 1" 2>/dev/null || true)
	[ -z "$rid" ] || check_eq "$name: $rid recorded failed" "$(job_field $CAT "$rid" "status || ' ' || (error_code IS NOT NULL)::text")" "failed true"
	wait_for postgres "SELECT count(*) = 0 FROM pg_database WHERE datname LIKE 'pgbackups\_%'" 15 ||
		fail "$name: staging database left: $(staging_dbs | tr '\n' ' ')"
	if db_fingerprint $TGT | diff -q "$W/before.txt" - >/dev/null; then
		pass "$name: $TGT is as it was, no staging database"
	else
		fail "$name: $TGT changed: $(db_fingerprint $TGT | diff "$W/before.txt" - | head -n 10)"
	fi
done
check_eq "work_mem was never changed" "$(q postgres "SHOW work_mem")" 4MB

# --- keep_owner with an object owned by a superuser in the archive ------------------------
name=keep_owner_sd
try_sql $CAT "SELECT pgbackups.restore_from_url('file://$W/base.dump', target => '$TGT', confirm => '$TGT', keep_owner => true, wait => true)"
log "$name: $TRY_STATE $TRY_MSG"
sd_owner=$(q $TGT "SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'sd'" 2>/dev/null || true)
check "$name: no SECURITY DEFINER function of the target is owned by a superuser (sd() owner: [$sd_owner])" \
	test "$(q $TGT "SELECT count(*) FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner WHERE p.prosecdef AND r.rolsuper AND p.pronamespace <> 'pg_catalog'::regnamespace" 2>&1)" = 0
if [ "$TRY_STATE" = OK ]; then
	log "$name: the restore with keep_owner succeeded (ownership kept only where app may give it)"
	db_fingerprint $TGT >"$W/before.txt"
else
	check "$name: refused keep_owner leaves $TGT as it was" diff -q "$W/before.txt" <(db_fingerprint $TGT)
fi
check_eq "$name: no staging database left" "$(staging_dbs)" ""

# --- a target owned by a NOLOGIN role ----------------------------------------------------------
q nologin_tgt "CREATE TABLE public.keep AS SELECT 1 AS x" >/dev/null
db_fingerprint nologin_tgt >"$W/nologin.before"
n0=$(q $CAT "SELECT count(*) FROM pgbackups.restores" 2>/dev/null || echo 0)
try_sql $CAT "SELECT pgbackups.restore_from_url('file://$W/base.dump', target => 'nologin_tgt', confirm => 'nologin_tgt', wait => true)"
check_eq "NOLOGIN owner: refused (feature_not_supported)" "$TRY_STATE" 0A000
check "NOLOGIN owner: the error names the role" grep -q nologin_owner <<<"$TRY_MSG"
check "NOLOGIN owner: target as it was" diff -q "$W/nologin.before" <(db_fingerprint nologin_tgt)
check_eq "NOLOGIN owner: no staging database" "$(staging_dbs)" ""
check_eq "NOLOGIN owner: the role was not changed (still NOLOGIN)" "$(q postgres "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'nologin_owner'")" f
log "NOLOGIN owner: restores rows before $n0, after $(q $CAT "SELECT count(*) FROM pgbackups.restores" 2>/dev/null || echo '?')"

# --- who may call restore -----------------------------------------------------------------------------
B=$(q $CAT "SELECT pgbackups.capture(database => 'appsrc', wait => true)" 2>/dev/null || true)
log "backup of appsrc: $B"
expect_as() {
	local label=$1 role=$2 want=$3 sql=$4 out
	if out=$(psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -U "$role" -d $CAT -c "$sql" 2>&1); then
		fail "$label: $role succeeded ($out), want SQLSTATE $want"
	elif grep -q "ERROR:  $want:" <<<"$out"; then
		pass "$label: $role gets $want"
	else
		fail "$label: $role: want $want, got $(grep -m1 ERROR <<<"$out")"
	fi
}
db_fingerprint $TGT >"$W/before.txt"
expect_as "restore() without pgbackups_admin" stranger 42501 "SELECT pgbackups.restore('$B', target => '$TGT', confirm => '$TGT', wait => true)"
expect_as "restore_from_url() without pgbackups_admin" stranger 42501 "SELECT pgbackups.restore_from_url('file://$W/base.dump', target => '$TGT', confirm => '$TGT', wait => true)"
expect_as "copy() without pgbackups_admin" stranger 42501 "SELECT pgbackups.copy('appsrc', '$TGT', '$TGT', wait => true)"
expect_as "reading pgbackups.restores without pgbackups_admin" stranger 42501 "SELECT count(*) FROM pgbackups.restores"
expect_as "reading pgbackups.copies without pgbackups_admin" stranger 42501 "SELECT count(*) FROM pgbackups.copies"
expect_as "cancel() of a restore without pgbackups_admin" stranger 42501 "SELECT pgbackups.cancel('r001')"
expect_as "restore_from_url(file://) by a non-superuser operator" opadmin 42501 "SELECT pgbackups.restore_from_url('file://$W/base.dump', target => '$TGT', confirm => '$TGT', wait => true)"
check "refused calls leave $TGT as it was" diff -q "$W/before.txt" <(db_fingerprint $TGT)

# an operator (pgbackups_admin, no superuser) works only on databases it may
# read and replace: otherwise a backup of its own database, restored into a
# database a superuser owns, would run its functions as that superuser
psql_db postgres >/dev/null <<'SQL'
CREATE DATABASE opsrc OWNER opadmin;
CREATE DATABASE optgt OWNER opadmin;
CREATE DATABASE su_owned;
CREATE DATABASE secretdb;
SQL
q secretdb "CREATE TABLE secrets AS SELECT 'top secret'::text AS s; REVOKE CONNECT ON DATABASE secretdb FROM PUBLIC" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -U opadmin -d opsrc >/dev/null <<SQL
CREATE FUNCTION public.evil() RETURNS void LANGUAGE plpgsql VOLATILE AS \$\$
BEGIN IF current_user <> 'opadmin' THEN $(copy_prog operator) END IF; END \$\$;
CREATE FUNCTION public.f(x integer) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS \$\$ BEGIN PERFORM public.evil(); RETURN x; END \$\$;
CREATE TABLE public.t (v integer);
INSERT INTO public.t VALUES (1), (2);
CREATE INDEX t_f ON public.t ((public.f(v)));
SQL
B_OP=$(psql -X -q -At -U opadmin -d $CAT -c "SELECT pgbackups.capture(database => 'opsrc', wait => true)" 2>/dev/null || true)
check "an operator captures its own database ($B_OP)" grep -qE '^b[0-9]+$' <<<"$B_OP"
q postgres "CREATE DATABASE ctl_operator" >/dev/null
pg_restore --no-owner -d ctl_operator "$(archive_path $CAT "$B_OP")" >"$W/operator.ctl" 2>&1 || true
check "control: restored by a superuser, the operator's backup runs its function as the superuser ($(effect operator))" test -n "$(effect operator)"
undo operator
db_fingerprint su_owned >"$W/su_owned.before"
expect_as "restore() of an operator's backup into a database a superuser owns" opadmin 42501 "SELECT pgbackups.restore('$B_OP', target => 'su_owned', confirm => 'su_owned', wait => true)"
expect_as "restore() by an operator into the postgres database" opadmin 42501 "SELECT pgbackups.restore('$B_OP', target => 'postgres', confirm => 'postgres', wait => true)"
expect_as "copy() by an operator into a database a superuser owns" opadmin 42501 "SELECT pgbackups.copy('opsrc', 'su_owned', 'su_owned', wait => true)"
expect_as "copy() by an operator from a database it cannot read" opadmin 42501 "SELECT pgbackups.copy('secretdb', 'optgt', 'optgt', wait => true)"
expect_as "capture() by an operator of a database it cannot read" opadmin 42501 "SELECT pgbackups.capture(database => 'secretdb', wait => true)"
check_eq "the operator is no superuser and nothing ran as one" "$(effect operator)" ""
check "su_owned is as it was" diff -q "$W/su_owned.before" <(db_fingerprint su_owned)
check_eq "optgt holds no secret" "$(q optgt "SELECT to_regclass('public.secrets') IS NULL")" t
if out=$(psql -X -q -At -v ON_ERROR_STOP=1 -U opadmin -d $CAT -c "SELECT pgbackups.restore('$B_OP', target => 'optgt', confirm => 'optgt', wait => true)" 2>&1); then
	pass "control: an operator restores its backup into a database it owns ($(tail -n 1 <<<"$out"))"
	check_eq "control: ... as itself, so its functions ran as the operator" "$(effect operator)" ""
else
	fail "control: an operator restoring into its own database: $(grep -m1 ERROR <<<"$out")"
fi
undo operator

# an untrusted extension in the operator's own database (put there by a
# superuser): the operator's restore or copy of it is refused before anything
# changes, since only a superuser may create it (it used to be created by the
# restore's superuser session)
q postgres "CREATE DATABASE opsrc_ext OWNER opadmin" >/dev/null
q opsrc_ext "CREATE EXTENSION dblink" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -U opadmin -d opsrc_ext -c "CREATE TABLE public.t AS SELECT 1 AS x" >/dev/null
B_EXT=$(psql -X -q -At -U opadmin -d $CAT -c "SELECT pgbackups.capture(database => 'opsrc_ext', wait => true)" 2>/dev/null || true)
check "an operator captures its database with dblink ($B_EXT)" grep -qE '^b[0-9]+$' <<<"$B_EXT"
db_fingerprint optgt >"$W/optgt.before"
expect_as "restore() by an operator of an archive creating the untrusted dblink" opadmin 42501 "SELECT pgbackups.restore('$B_EXT', target => 'optgt', confirm => 'optgt', wait => true)"
expect_as "copy() by an operator of a database with the untrusted dblink" opadmin 42501 "SELECT pgbackups.copy('opsrc_ext', 'optgt', 'optgt', wait => true)"
check "optgt is as it was, no dblink" diff -q "$W/optgt.before" <(db_fingerprint optgt)
check_eq "no staging database" "$(staging_dbs)" ""
if out=$(psql -X -q -At -v ON_ERROR_STOP=1 -U opadmin -d $CAT -c "SELECT count(*) >= 0 FROM pgbackups.restores" 2>&1); then
	check_eq "an operator (pgbackups_admin) reads pgbackups.restores" "$out" t
else
	fail "an operator cannot read pgbackups.restores: $out"
fi

rm -f "${PW}"_*
finish
