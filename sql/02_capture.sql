--
-- pgbackups: one real capture with wait => true, checked field by field
--

CREATE SCHEMA regress_data;
CREATE TABLE regress_data.t100 (id integer PRIMARY KEY, t text);
INSERT INTO regress_data.t100 SELECT g, 'row ' || g FROM generate_series(1, 100) g;
CREATE TABLE regress_data.empty (id integer);
CREATE TABLE regress_data.five (id integer, note text);
INSERT INTO regress_data.five VALUES (1, E'tab\there'), (2, NULL), (3, '\.'), (4, 'é日🎉'), (5, '');

-- what this server's own pg_dump writes: archive 1.14 up to 15, 1.15 on 16,
-- 1.16 on 17 and later; and the default compression, the best its
-- pg_restore reads (gzip on 15, zstd on 16 and later)
SELECT CASE WHEN current_setting('server_version_num')::int >= 170000 THEN '1.16'
            WHEN current_setting('server_version_num')::int >= 160000 THEN '1.15'
            ELSE '1.14' END AS native_version,
       CASE WHEN current_setting('server_version_num')::int >= 160000 THEN 'zstd'
            ELSE 'gzip' END AS native_compression \gset

-- progress NOTICEs carry sizes and times: keep them out of the output
SET client_min_messages = warning;
SELECT pgbackups.capture(wait => true, label => 'regress') AS id \gset
RESET client_min_messages;

-- the first backup of a database is b001
SELECT :'id' AS id;

SELECT id, num, kind, database = current_database() AS this_db, status, label,
       requested_by = current_user AS requested_by_me,
       compression = :'native_compression' AS native_compression,
       compression_level, parallel,
       tables, rows,
       table_rows,
       sha256 ~ '^[0-9a-f]{64}$' AS sha256_hex,
       archive_size > 0 AS has_size,
       raw_size > 0 AS has_raw_size,
       source_size > 0 AS has_source_size,
       archive_version = :'native_version' AS native_archive_version,
       pg_dump_version = split_part(current_setting('server_version'), ' ', 1)
           OR pg_dump_version = current_setting('server_version') AS pg_dump_version_ok,
       server_version = current_setting('server_version') AS server_version_ok,
       created_at <= started_at AND started_at <= finished_at AS times_ordered,
       worker_pid IS NULL AS no_worker_pid,
       error IS NULL AS no_error, error_code IS NULL AS no_error_code
  FROM pgbackups.backups WHERE id = :'id';

-- the archive: file:///<storage>/<system identifier>/<database>/<id>-<UTC time>.dump
SELECT location LIKE 'file://' || regexp_replace(current_setting('data_directory'), '/[^/]+/?$', '')
                      || '/pgbackups/' || (SELECT system_identifier FROM pg_control_system())
                      || '/' || current_database() || '/' || id || '-%.dump' AS location_ok
  FROM pgbackups.backups WHERE id = :'id';
SELECT substr(location, length('file://') + 1) AS path FROM pgbackups.backups WHERE id = :'id' \gset

SELECT (pg_stat_file(:'path')).size = archive_size AS file_size_matches,
       encode(sha256(pg_read_binary_file(:'path')), 'hex') = sha256 AS sha256_matches
  FROM pgbackups.backups WHERE id = :'id';

-- header: PGDMP, the native version, intSize 4, offSize 8, custom format,
-- then the compression: before 1.15 the gzip level as an Int (sign byte + 4
-- bytes, -1 = default), from 1.15 on one algorithm byte (1 gzip, 3 zstd)
SELECT convert_from(substr(h, 1, 5), 'SQL_ASCII') AS magic,
       get_byte(h, 5) || '.' || get_byte(h, 6) = :'native_version'
           AND get_byte(h, 7) = 0 AS native_version,
       get_byte(h, 8) AS int_size, get_byte(h, 9) AS off_size, get_byte(h, 10) AS format,
       CASE WHEN get_byte(h, 6) >= 15
            THEN (ARRAY['none', 'gzip', 'lz4', 'zstd'])[get_byte(h, 11) + 1]
            ELSE CASE get_byte(h, 11) WHEN 1 THEN -1 ELSE 1 END *
                     (get_byte(h, 12) + 256 * get_byte(h, 13)) || ''
       END IN (:'native_compression', '-1') AS native_compression
  FROM pg_read_binary_file(:'path', 0, 16) AS h;

-- no temporary file of the job is left: only the archive and its manifest
SELECT count(*) AS tmp_files
  FROM pg_ls_dir(regexp_replace(:'path', '/[^/]+$', '')) AS f
 WHERE f LIKE :'id' || '-%' AND f NOT LIKE '%.dump' AND f NOT LIKE '%.dump.manifest.json';

-- info, logs, list, wait
SELECT field, CASE WHEN field = 'Compression' AND value = :'native_compression'
                        OR field = 'Archive version' AND value = :'native_version'
                   THEN '<native>'
                   WHEN field IN ('ID', 'Database', 'Label', 'Status', 'Type', 'Compression',
                                  'Parallel streams', 'Tables', 'Rows', 'Archive version', 'Error')
                   THEN replace(value, current_database(), '<db>')
                   ELSE CASE WHEN value = '' THEN '(empty)' ELSE '(set)' END END AS value
  FROM pgbackups.info(:'id');
SELECT field, value FROM pgbackups.info() WHERE field = 'ID';
SELECT count(*) > 0 AS has_log_lines, bool_and(message <> '') AS no_empty_line
  FROM pgbackups.logs(:'id');
SELECT regexp_replace(regexp_replace(l, '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d', '<time>', 'g'),
                      '\d+(\.\d+)?[kMG]?B ', '<size> ') AS line
  FROM pgbackups.list() AS l;
SELECT pgbackups.wait(:'id') AS wait_status;

-- more compressions
SET client_min_messages = warning;
SELECT pgbackups.capture(wait => true, compression => 'none', parallel => 1) AS id_none \gset
SELECT pgbackups.capture(wait => true, compression => 'gzip:9', parallel => 3) AS id_gzip9 \gset
RESET client_min_messages;
SELECT id, status, compression, parallel, tables, rows,
       (pg_stat_file(substr(location, 8))).size = archive_size AS file_size_matches,
       get_byte(h, 5) || '.' || get_byte(h, 6) = :'native_version' AS native_version,
       -- the level is in the header only before 1.15
       get_byte(h, 6) >= 15 OR get_byte(h, 12) = coalesce(compression_level, 0) AS level_ok
  FROM pgbackups.backups, pg_read_binary_file(substr(location, 8), 0, 16) AS h
 WHERE id IN (:'id_none', :'id_gzip9') ORDER BY id;
SELECT compression_level FROM pgbackups.backups WHERE id = :'id_gzip9';
SELECT value AS gzip9_compression FROM pgbackups.info(:'id_gzip9') WHERE field = 'Compression';

-- the session's pgbackups.compression and pgbackups.default_parallel apply
SET pgbackups.compression = 'none';
SET pgbackups.default_parallel = 3;
SET client_min_messages = warning;
SELECT pgbackups.capture(wait => true) AS id_defaults \gset
RESET client_min_messages;
RESET pgbackups.compression;
RESET pgbackups.default_parallel;
SELECT id, status, compression, parallel FROM pgbackups.backups WHERE id = :'id_defaults';

-- delete removes the row and the archive
SELECT pgbackups.delete(:'id') AS deleted;
SELECT count(*) AS rows_left FROM pgbackups.backups WHERE id = :'id';
SELECT pg_stat_file(:'path', true) IS NULL AS file_gone;
CREATE FUNCTION pg_temp.try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT pg_temp.try(format('SELECT pgbackups.delete(%L)', :'id'));
SELECT pg_temp.try(format('SELECT pgbackups.info(%L)', :'id'));
SELECT id FROM pgbackups.backups ORDER BY id;
