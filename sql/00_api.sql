--
-- pgbackups: the SQL surface of a freshly created extension
-- (pg_regress runs with --load-extension=pgbackups)
--

-- the objects that belong to the extension
SELECT pg_describe_object(classid, objid, objsubid) AS member
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgbackups')
   AND deptype = 'e'
   -- 18 also records the row types of the extension's tables and views
   -- (and their array types) as members; 15 does not
   AND NOT (classid = 'pg_type'::regclass AND objid IN (
        SELECT t.oid FROM pg_type t JOIN pg_class c ON c.oid = t.typrelid
         WHERE c.relkind IN ('r', 'v', 'p', 'm')
        UNION ALL
        SELECT a.oid FROM pg_type a JOIN pg_type t ON t.oid = a.typelem
          JOIN pg_class c ON c.oid = t.typrelid
         WHERE c.relkind IN ('r', 'v', 'p', 'm')))
 ORDER BY 1;

SELECT extname, extversion, extrelocatable, n.nspname AS schema
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE extname = 'pgbackups';

-- the catalog tables are dumped as extension configuration
SELECT unnest(extconfig)::regclass AS config_table
  FROM pg_extension WHERE extname = 'pgbackups' ORDER BY 1;

-- the columns of the catalog
SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull
  FROM pg_attribute
 WHERE attrelid = 'pgbackups.backups'::regclass AND attnum > 0 AND NOT attisdropped
 ORDER BY attnum;

SELECT conname, contype, pg_get_constraintdef(oid) AS definition
  FROM pg_constraint WHERE conrelid = 'pgbackups.backups'::regclass
   AND contype <> 'n'   -- 18 lists NOT NULL here too (attnotnull above has it)
 ORDER BY conname;

-- every function: nobody but the operator role may execute it, and the
-- operator role may execute everything except the launcher hook
SELECT p.oid::regprocedure AS function,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute,
       has_function_privilege('pgbackups_admin', p.oid, 'EXECUTE') AS admin_execute,
       p.prosecdef AS security_definer,
       p.provolatile AS volatility
  FROM pg_proc p
 WHERE p.pronamespace = 'pgbackups'::regnamespace
 ORDER BY p.proname, 1::text;

-- functions that run SQL pin their search_path
SELECT p.proname, p.proconfig
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.pronamespace = 'pgbackups'::regnamespace AND l.lanname <> 'c'
 ORDER BY 1;

-- tables: no privilege at all for PUBLIC, read-only for the operator role
SELECT c.relname,
       has_table_privilege('public', c.oid, 'SELECT') AS public_select,
       has_table_privilege('public', c.oid, 'INSERT') AS public_insert,
       has_table_privilege('pgbackups_admin', c.oid, 'SELECT') AS admin_select,
       has_table_privilege('pgbackups_admin', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') AS admin_write
  FROM pg_class c
 WHERE c.relnamespace = 'pgbackups'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')
 ORDER BY 1;

-- sequences: nothing for PUBLIC or the operator role (only the workers draw ids)
SELECT c.relname,
       has_sequence_privilege('public', c.oid, 'USAGE, SELECT, UPDATE') AS public_any,
       has_sequence_privilege('pgbackups_admin', c.oid, 'USAGE, UPDATE') AS admin_use
  FROM pg_class c
 WHERE c.relnamespace = 'pgbackups'::regnamespace AND c.relkind = 'S'
 ORDER BY 1;

SELECT has_schema_privilege('public', 'pgbackups', 'USAGE') AS public_usage,
       has_schema_privilege('pgbackups_admin', 'pgbackups', 'USAGE') AS admin_usage;

SELECT rolname, rolcanlogin, rolsuper, rolinherit FROM pg_roles WHERE rolname = 'pgbackups_admin';

-- settings and their defaults
-- (pgbackups.compression: the best the server's own pg_restore reads, gzip
-- on 15, zstd on 16 and later)
SELECT name,
       CASE WHEN name = 'pgbackups.compression'
                 AND setting = CASE WHEN current_setting('server_version_num')::int >= 160000
                                    THEN 'zstd' ELSE 'gzip' END
            THEN '<native>' ELSE setting END AS setting,
       unit, context, vartype
  FROM pg_settings
 WHERE name IN ('pgbackups.max_workers', 'pgbackups.default_parallel',
                'pgbackups.compression', 'pgbackups.manual_retention',
                'pgbackups.statistics')
 ORDER BY name;

-- storage_url: the default location is file://<parent of data_directory>/pgbackups
-- (02_capture checks where the archive really goes)
SELECT replace(current_setting('pgbackups.storage_url'),
               regexp_replace(current_setting('data_directory'), '/[^/]+/?$', ''),
               '<parent of data_directory>') AS storage_url;
SELECT name, context FROM pg_settings
 WHERE name IN ('pgbackups.storage_url', 'pgbackups.pg_dump_path', 'pgbackups.connect_user')
 ORDER BY name;

-- pretty_size
SELECT b AS bytes, pgbackups.pretty_size(b)
  FROM unnest(ARRAY[NULL, 0, 1, 1023, 1024, 1536, 10239, 1048575, 1048576, 1572864,
                    1073741823, 1073741824, 5368709120, 1099511627776]::bigint[]) AS b;

-- an empty catalog
SELECT count(*) AS backups FROM pgbackups.backups;
SELECT count(*) AS log_lines FROM pgbackups.logs;
SELECT * FROM pgbackups.list();

-- the read rule on listings: row security on every catalog table that names a
-- database (one SELECT policy each), views that read with the caller's rights
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, p.polname, p.polcmd,
       pg_get_expr(p.polqual, p.polrelid) AS using_expr
  FROM pg_class c LEFT JOIN pg_policy p ON p.polrelid = c.oid
 WHERE c.relnamespace = 'pgbackups'::regnamespace AND c.relkind = 'r'
 ORDER BY c.relname, p.polname;
SELECT c.relname, c.reloptions
  FROM pg_class c
 WHERE c.relnamespace = 'pgbackups'::regnamespace AND c.relkind = 'v'
 ORDER BY c.relname;

-- counters() (1.7.0): exact counters in shared memory, superusers only; the
-- values depend on what ran, so only the surface is compared here
SELECT pg_get_function_arguments('pgbackups.counters(boolean)'::regprocedure) AS arguments,
       pg_get_function_result('pgbackups.counters(boolean)'::regprocedure) AS result,
       has_function_privilege('pgbackups_admin', 'pgbackups.counters(boolean)', 'EXECUTE') AS admin_may,
       has_function_privilege('public', 'pgbackups.counters(boolean)', 'EXECUTE') AS public_may;
SELECT name, value >= 0 AS non_negative FROM pgbackups.counters() ORDER BY name;
SELECT count(*) AS rows_after_reset FROM pgbackups.counters(reset => true);
SET ROLE pgbackups_admin;
SELECT * FROM pgbackups.counters();
RESET ROLE;
