/* pgbackups 1.1.0 -> 1.2.0: expiring download URLs (issue 4) */

\echo Use "ALTER EXTENSION pgbackups UPDATE TO '1.2.0'" to load this file. \quit

CREATE FUNCTION @extschema@.url(id text DEFAULT NULL,
								valid_for interval DEFAULT '1 hour')
RETURNS text
AS 'MODULE_PATHNAME', 'pgbackups_url'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.url(text, interval)
	IS 'heroku pg:backups:url: a download URL of a completed backup (S3: presigned, expiring)';

REVOKE ALL ON FUNCTION @extschema@.url(text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.url(text, interval) TO pgbackups_admin;
