#!/bin/bash
# 41_manifests: every completed backup has a manifest beside its archive
# (<archive URL>.manifest.json), on file:// and on S3 (s3rver through the
# fault proxy), read back with an independent client (cp / boto3):
# - after a capture it is valid JSON whose keys are exactly the documented
#   ones in their order, and every value equals the catalog row (id, kind,
#   databases, system identifier = pg_control_system(), times, archive URL
#   and key, size = the object's size, sha256 = the object's SHA-256,
#   compression and level, versions, server_version_num, figures,
#   table_rows, schedule, pinned); on S3 its PUT starts only after the
#   archive's upload was answered;
# - pin() -> "pinned": true, unpin() -> false; a pin rolled back (whole
#   transaction or savepoint) leaves the manifest as it was; a pin whose
#   manifest cannot be written fails (file://: a directory at the manifest's
#   path, 42809; S3: 403 on the manifest's PUT, 58030) and leaves catalog and
#   manifest unpinned;
# - delete() removes manifest and archive (S3: manifest DELETE first);
# - a capture that fails (missing pg_dump, 58P01) leaves no manifest and no
#   archive;
# - a capture whose manifest cannot be written fails with the storage's
#   SQLSTATE and a message naming the manifest, and leaves neither archive
#   nor manifest; earlier backups are intact;
# - manual retention removes the expired backup's manifest and archive (S3:
#   manifest first) and keeps the others'.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-120}

require_servers
start_s3rver "$S3_BUCKET"
start_fault_proxy "$S3_PORT"
# S3 settings without storage_url: the file:// phase runs first on the default
EXTRA_CONF="$(s3_conf "$FP_ENDPOINT" backups/t41 | grep -v '^pgbackups.storage_url')
pgbackups.http_timeout = 10
pgbackups.http_retry_time = 5"
start_cluster
W=$TESTDIR/w
mkdir -p "$W"
SYSID=$(q postgres "SELECT system_identifier FROM pg_control_system()")
SVN=$(q postgres "SHOW server_version_num")

q postgres "CREATE DATABASE src" >/dev/null
q src "CREATE TABLE t1 AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 1000) g" >/dev/null
q src "CREATE SCHEMA s; CREATE TABLE s.t2 AS SELECT g AS id FROM generate_series(1, 37) g" >/dev/null

reset_conf() {
	q postgres "ALTER SYSTEM RESET $1" >/dev/null
	q postgres "SELECT pg_reload_conf()" >/dev/null
	wait_for postgres "SELECT current_setting('$1') = '${2:-}'" 10 || log "reset_conf: $1 not visible"
	workers_reloaded # the background workers handle SIGHUP a moment later
}

# ---- objects, read with the test's own clients ----------------------------------------
# obj_get URL FILE: download; fails when the object does not exist
obj_get() {
	case "$1" in
	file://*) cp "${1#file://}" "$2" 2>/dev/null ;;
	s3://*) s3cli get "${1#s3://"$S3_BUCKET"/}" "$2" >/dev/null 2>&1 ;;
	*) return 1 ;;
	esac
}
# obj_exists URL
obj_exists() {
	case "$1" in
	file://*) test -e "${1#file://}" ;;
	s3://*) s3cli head "${1#s3://"$S3_BUCKET"/}" >/dev/null 2>&1 ;;
	*) return 1 ;;
	esac
}
obj_missing() { ! obj_exists "$1"; }
# objects_of CATDB ID: the stored objects of backup ID (any suffix), one per line
objects_of() {
	local db=$1 id=$2
	if [ "$MODE" = file ]; then
		job_files "$db" "$id"
	else
		s3cli ls "backups/t41/$SYSID/$db/$id-" | cut -f1
	fi
}

cat >"$W/check_manifest.py" <<'PY'
# check_manifest.py MANIFEST ROW_JSON SYSID DBOID DBNAME SVN SHA SIZE
# prints one line per mismatch, or "ok"
import datetime
import json
import re
import sys

man, rowf, sysid, dboid, dbname, svn, sha, size = sys.argv[1:9]
KEYS = ["format", "version", "id", "kind", "database", "catalog_database",
        "system_identifier", "label", "requested_by", "created_at", "started_at",
        "finished_at", "archive_url", "archive_key", "archive_size", "sha256",
        "compression", "compression_level", "archive_version", "pg_dump_version",
        "server_version", "server_version_num", "parallel", "tables", "rows",
        "raw_size", "source_size", "table_rows", "schedule", "scheduled_for", "pinned"]
bad = []
try:
    m = json.load(open(man))
except Exception as e:
    print(f"not valid JSON: {e}")
    sys.exit(0)
row = json.load(open(rowf))
if list(m.keys()) != KEYS:
    bad.append(f"keys {list(m.keys())}")


def ts(v):
    if v is None:
        return None
    v = v.replace("Z", "+00:00")
    mt = re.match(r"^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?([+-]\d\d(?::?\d\d)?)$", v)
    if not mt:
        return "unparsable " + v
    frac = (mt.group(2) or "").ljust(6, "0")
    tz = mt.group(3) if ":" in mt.group(3) or len(mt.group(3)) > 3 else mt.group(3) + ":00"
    return datetime.datetime.fromisoformat(f"{mt.group(1)}.{frac}{tz}")


def want(key, value):
    if m.get(key, "<absent>") != value:
        bad.append(f"{key}: manifest {m.get(key, '<absent>')!r}, want {value!r}")


want("format", "pgbackups-manifest")
want("version", 1)
for k in ["id", "kind", "database", "label", "requested_by", "archive_size", "sha256",
          "compression", "compression_level", "archive_version", "pg_dump_version",
          "server_version", "parallel", "tables", "rows", "raw_size", "source_size",
          "table_rows", "schedule", "pinned"]:
    want(k, row[k])
want("archive_url", row["location"])
want("catalog_database", {"name": dbname, "oid": int(dboid)})
want("system_identifier", sysid)
want("server_version_num", int(svn))
want("sha256", sha)
want("archive_size", int(size))
for k in ["created_at", "started_at", "finished_at", "scheduled_for"]:
    if ts(m.get(k)) != ts(row[k]):
        bad.append(f"{k}: manifest {m.get(k)!r}, catalog {row[k]!r}")
    if m.get(k) is not None and not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", m[k]):
        bad.append(f"{k}: {m[k]!r} is not ISO 8601 UTC")
key = m.get("archive_key") or ""
if not (key.startswith(f"{sysid}/{dbname}/{row['id']}-") and key.endswith(".dump")
        and row["location"].endswith("/" + key)):
    bad.append(f"archive_key {key!r} (location {row['location']!r})")
if row["status"] != "completed":
    bad.append(f"catalog status {row['status']}")
print("\n".join(bad) if bad else "ok")
PY

# manifest_matches CATDB ID: the manifest is valid and equals the catalog row and the archive
manifest_matches() {
	local db=$1 id=$2 loc sha size out
	loc=$(backup_field "$db" "$id" location)
	if ! obj_get "$loc.manifest.json" "$W/$id.manifest.json"; then
		fail "$MODE: $db $id: no manifest at $loc.manifest.json"
		return 0
	fi
	if ! obj_get "$loc" "$W/$id.dump"; then
		fail "$MODE: $db $id: no archive at $loc"
		return 0
	fi
	sha=$(sha256sum "$W/$id.dump" | cut -d' ' -f1)
	size=$(stat -c %s "$W/$id.dump")
	q "$db" "SELECT row_to_json(b) FROM pgbackups.backups b WHERE id = '$id'" >"$W/$id.row.json"
	out=$("$SYS_PYTHON" "$W/check_manifest.py" "$W/$id.manifest.json" "$W/$id.row.json" "$SYSID" \
		"$(q postgres "SELECT oid FROM pg_database WHERE datname = '$db'")" "$db" "$SVN" "$sha" "$size")
	if [ "$out" = ok ]; then
		pass "$MODE: $db $id: the manifest beside $loc equals the catalog row and the archive (sha256 $sha, $size bytes)"
	else
		fail "$MODE: $db $id: manifest differs: $(tr '\n' ';' <<<"$out")"
	fi
}

# manifest_field CATDB ID KEY: a value of the stored manifest (jq -c)
manifest_field() {
	local loc
	loc=$(backup_field "$1" "$2" location)
	obj_get "$loc.manifest.json" "$W/field.json" || {
		echo "<no manifest>"
		return 0
	}
	jq -c ".$3" "$W/field.json"
}

# s3_order FIRST_METHOD FIRST_KEY SECOND_METHOD SECOND_KEY SINCE: "ok" when the
# proxy saw the last FIRST request (answered 2xx) end before the first SECOND one started
s3_order() {
	"$SYS_PYTHON" - "$FP_LOG" "$@" <<'PY'
import json, sys
log, m1, k1, m2, k2, since = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
rows = [json.loads(l) for i, l in enumerate(open(log)) if i >= since and l.strip()]
first = [r for r in rows if r["method"] in m1.split(",") and r["path"].endswith(k1)
         and (r.get("status") or 0) // 100 == 2]
second = [r for r in rows if r["method"] == m2 and r["path"].endswith(k2)]
if not first or not second:
    print(f"missing: {len(first)} {m1} {k1}, {len(second)} {m2} {k2}")
elif max(r["end"] for r in first) <= min(r["time"] for r in second):
    print("ok")
else:
    print(f"order: {m1} ended {max(r['end'] for r in first)}, {m2} started {min(r['time'] for r in second)}")
PY
}

# capture VAR CATDB ARGS: capture src with ARGS, waiting; the id into VAR ("none" on failure)
capture() {
	local __var=$1 db=$2 cargs=$3 out
	if out=$(q "$db" "SELECT pgbackups.capture(database => 'src', wait => true, $cargs)" 2>"$W/capture.err"); then
		printf -v "$__var" '%s' "$out"
	else
		fail "$MODE: capture ($cargs) in $db failed: $(cat "$W/capture.err")"
		printf -v "$__var" '%s' none
	fi
}

# objects_under CATDB: how many objects the catalog database has in storage
objects_under() {
	if [ "$MODE" = file ]; then
		find "$STORAGE_DIR/$SYSID/$1" -type f | wc -l
	else
		s3cli ls "backups/t41/$SYSID/$1/" | grep -c . || true
	fi
}

next_manual_id() {
	printf 'b%03d' "$(q "$1" "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM pgbackups.manual_num_seq")"
}

run_mode() {
	MODE=$1
	local db=$2 b1 b2 b3 b4 loc1 loc2 sha1 mark nopg doomed dloc n state
	log "=== $MODE storage, catalog database $db ==="
	q postgres "CREATE DATABASE $db" >/dev/null
	q "$db" "CREATE EXTENSION pgbackups" >/dev/null

	# --- 1. captures write a manifest that equals the catalog row --------------------
	mark=$(reqlog lines)
	capture b1 "$db" "compression => 'gzip:6', label => 'first \"one\" é'"
	capture b2 "$db" "compression => 'none', parallel => 1"
	manifest_matches "$db" "$b1"
	manifest_matches "$db" "$b2"
	check_eq "$MODE: $b1 manifest compression_level" "$(manifest_field "$db" "$b1" compression_level)" 6
	check_eq "$MODE: $b1 manifest table_rows" "$(manifest_field "$db" "$b1" table_rows)" \
		"$(q "$db" "SELECT table_rows::text FROM pgbackups.backups WHERE id = '$b1'" | jq -c .)"
	check_eq "$MODE: $b2 manifest compression" "$(manifest_field "$db" "$b2" compression)" '"none"'
	check_eq "$MODE: $b1 manifest label" "$(manifest_field "$db" "$b1" label)" '"first \"one\" é"'
	loc1=$(backup_field "$db" "$b1" location)
	loc2=$(backup_field "$db" "$b2" location)
	sha1=$(backup_field "$db" "$b1" sha256)
	if [ "$MODE" = s3 ]; then
		local k1=${loc1#s3://"$S3_BUCKET"/}
		check_eq "s3: the manifest of $b1 is PUT only after its archive's upload was answered" \
			"$(s3_order PUT,POST "$k1" PUT "$k1.manifest.json" "$mark")" ok
	fi

	# --- 2. pin and unpin rewrite it; a rolled-back pin does not ---------------------
	q "$db" "SELECT pgbackups.pin('$b1')" >/dev/null
	check_eq "$MODE: pin($b1): manifest pinned" "$(manifest_field "$db" "$b1" pinned)" true
	manifest_matches "$db" "$b1"
	q "$db" "SELECT pgbackups.unpin('$b1')" >/dev/null
	check_eq "$MODE: unpin($b1): manifest unpinned" "$(manifest_field "$db" "$b1" pinned)" false
	psql_db "$db" -c "BEGIN" -c "SELECT pgbackups.pin('$b1')" -c "ROLLBACK" >/dev/null
	check_eq "$MODE: pin($b1) rolled back: catalog unpinned" "$(backup_field "$db" "$b1" pinned)" f
	check_eq "$MODE: pin($b1) rolled back: manifest unpinned" "$(manifest_field "$db" "$b1" pinned)" false
	psql_db "$db" -c "BEGIN" -c "SELECT pgbackups.pin('$b1')" -c "SAVEPOINT s" -c "SELECT pgbackups.unpin('$b1')" \
		-c "ROLLBACK TO SAVEPOINT s" -c "COMMIT" >/dev/null
	check_eq "$MODE: pin, then unpin rolled back to a savepoint: catalog pinned" "$(backup_field "$db" "$b1" pinned)" t
	check_eq "$MODE: pin, then unpin rolled back to a savepoint: manifest pinned" "$(manifest_field "$db" "$b1" pinned)" true
	q "$db" "SELECT pgbackups.unpin('$b1')" >/dev/null
	manifest_matches "$db" "$b1"

	# --- 3. a pin whose manifest cannot be written changes nothing -------------------
	if [ "$MODE" = file ]; then
		local mpath=${loc2#file://}.manifest.json
		mv "$mpath" "$W/saved.manifest.json"
		mkdir "$mpath"
		state=42809
	else
		fault_set '{"rules": [{"action": "status", "status": 403, "method": "PUT", "path_re": "\\.manifest\\.json$"}]}'
		state=58030
	fi
	expect_sqlstate "$MODE: pin($b2) with an unwritable manifest" "$db" $state "SELECT pgbackups.pin('$b2')"
	try_sql "$db" "SELECT pgbackups.pin('$b2')"
	check "$MODE: the error names the manifest of $b2: $TRY_MSG" grep -q "manifest of backup $b2" <<<"$TRY_MSG"
	check_eq "$MODE: pin($b2) failed: catalog unpinned" "$(backup_field "$db" "$b2" pinned)" f
	if [ "$MODE" = file ]; then
		rmdir "$mpath"
		mv "$W/saved.manifest.json" "$mpath"
	else
		fault_clear
	fi
	check_eq "$MODE: pin($b2) failed: manifest unpinned" "$(manifest_field "$db" "$b2" pinned)" false
	manifest_matches "$db" "$b2"

	# --- 4. delete removes manifest and archive --------------------------------------
	mark=$(reqlog lines)
	check_eq "$MODE: delete($b2)" "$(q "$db" "SELECT pgbackups.delete('$b2')")" "$b2"
	check "$MODE: manifest of deleted $b2 is gone" obj_missing "$loc2.manifest.json"
	check "$MODE: archive of deleted $b2 is gone" obj_missing "$loc2"
	check_eq "$MODE: no object of deleted $b2" "$(objects_of "$db" "$b2")" ""
	if [ "$MODE" = s3 ]; then
		local k2=${loc2#s3://"$S3_BUCKET"/}
		check_eq "s3: delete($b2) removes the manifest before the archive" \
			"$(s3_order DELETE "$k2.manifest.json" DELETE "$k2" "$mark")" ok
	fi

	# --- 5. a failed capture leaves no manifest --------------------------------------
	set_conf pgbackups.pg_dump_path /nonexistent/bin/pg_dump
	try_sql "$db" "SELECT pgbackups.capture(database => 'src', wait => true, label => 'no pg_dump')"
	check_eq "$MODE: capture with a missing pg_dump: $TRY_MSG" "$TRY_STATE" 58P01
	reset_conf pgbackups.pg_dump_path
	nopg=$(q "$db" "SELECT id FROM pgbackups.backups WHERE label = 'no pg_dump'")
	check_eq "$MODE: $nopg failed with 58P01" "$(backup_field "$db" "$nopg" "status || ' ' || error_code")" "failed 58P01"
	check_eq "$MODE: no object (archive or manifest) of failed $nopg" "$(objects_of "$db" "$nopg")" ""

	# --- 6. a capture whose manifest cannot be written fails, leaving nothing --------
	doomed=$(next_manual_id "$db")
	local dirs=() t now
	if [ "$MODE" = file ]; then
		# the archive's name carries the time the scheduler records the request:
		# a directory at every manifest path of the next two minutes
		now=$(date +%s)
		mkdir -p "$STORAGE_DIR/$SYSID/$db"
		for t in $(seq $((now - 5)) $((now + 120))); do
			dirs+=("$STORAGE_DIR/$SYSID/$db/$doomed-$(date -u -d "@$t" +%Y%m%dT%H%M%SZ).dump.manifest.json")
		done
		mkdir "${dirs[@]}"
		state=42809
	else
		fault_set '{"rules": [{"action": "status", "status": 403, "method": "PUT", "path_re": "\\.manifest\\.json$"}]}'
		state=58030
	fi
	try_sql "$db" "SELECT pgbackups.capture(database => 'src', wait => true, label => 'no manifest')"
	[ "$MODE" = file ] && rmdir "${dirs[@]}"
	[ "$MODE" = s3 ] && fault_clear
	check_eq "$MODE: a capture whose manifest cannot be written fails: $TRY_MSG" "$TRY_STATE" $state
	check "$MODE: its error names the manifest of $doomed" grep -q "could not store the manifest of backup $doomed" <<<"$TRY_MSG"
	check_eq "$MODE: $doomed is the failed capture" "$(q "$db" "SELECT id FROM pgbackups.backups WHERE label = 'no manifest'")" "$doomed"
	check_eq "$MODE: $doomed failed with $state" "$(backup_field "$db" "$doomed" "status || ' ' || error_code")" "failed $state"
	check "$MODE: its recorded error names the manifest" grep -q "manifest" <<<"$(backup_field "$db" "$doomed" error)"
	dloc=$(backup_field "$db" "$doomed" location)
	check "$MODE: no archive of $doomed ($dloc)" obj_missing "$dloc"
	check "$MODE: no manifest of $doomed" obj_missing "$dloc.manifest.json"
	check_eq "$MODE: no object of $doomed at all" "$(objects_of "$db" "$doomed")" ""
	check_eq "$MODE: earlier backup $b1 untouched (status, sha256)" "$(backup_field "$db" "$b1" "status || ' ' || sha256")" "completed $sha1"
	manifest_matches "$db" "$b1"

	# --- 7. retention removes manifest and archive of the expired backup -------------
	set_conf pgbackups.manual_retention 2
	capture b3 "$db" "label => 'third'"
	check "$MODE: with manual_retention = 2, $b1 is kept after $b3" obj_exists "$loc1.manifest.json"
	mark=$(reqlog lines)
	capture b4 "$db" "label => 'fourth'"
	wait_for "$db" "SELECT NOT EXISTS (SELECT FROM pgbackups.backups WHERE id = '$b1')" 10 || true
	reset_conf pgbackups.manual_retention 25
	check_eq "$MODE: retention expired $b1 only" \
		"$(q "$db" "SELECT string_agg(id, ' ' ORDER BY num) FROM pgbackups.backups WHERE status = 'completed'")" "$b3 $b4"
	check "$MODE: manifest of expired $b1 is gone" obj_missing "$loc1.manifest.json"
	check "$MODE: archive of expired $b1 is gone" obj_missing "$loc1"
	check_eq "$MODE: no object of expired $b1" "$(objects_of "$db" "$b1")" ""
	if [ "$MODE" = s3 ]; then
		local k1=${loc1#s3://"$S3_BUCKET"/}
		check_eq "s3: retention removes $b1's manifest before its archive" \
			"$(s3_order DELETE "$k1.manifest.json" DELETE "$k1" "$mark")" ok
	fi
	manifest_matches "$db" "$b3"
	manifest_matches "$db" "$b4"
	n=$(objects_under "$db")
	check_eq "$MODE: the catalog's objects are exactly two archives and their manifests" "$n" 4
}

run_mode file catf
check_eq "file: no .tmp file left in storage" "$(find "$STORAGE_DIR" -name '*.tmp' | wc -l)" 0

set_conf pgbackups.storage_url "s3://$S3_BUCKET/backups/t41"
run_mode s3 cats
check_eq "s3: the file:// catalog's backups are untouched by the s3 phase" \
	"$(q catf "SELECT count(*) FROM pgbackups.backups WHERE status = 'completed'")" 2
finish
