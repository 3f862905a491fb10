/*-------------------------------------------------------------------------
 *
 * manifest.h
 *	  The manifest of a backup (manifest.c): a small versioned JSON document
 *	  stored beside the archive, written last, that says the backup is
 *	  completed and holds everything needed to rebuild its catalog row.
 *
 * src/catalog/manifest.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_MANIFEST_H
#define PGB_MANIFEST_H

#define PGB_MANIFEST_FORMAT "pgbackups-manifest"
#define PGB_MANIFEST_VERSION 1
#define PGB_MANIFEST_SUFFIX ".manifest.json"

typedef struct PgbCaptureResult PgbCaptureResult;

/* <archive URL>.manifest.json */
extern char *pgb_manifest_url(const char *archive_url);

/*
 * The manifest of completed backup id, built from its catalog row in the
 * current transaction; NULL when the backup is not completed (or gone).
 * *archive_url receives the archive's URL.
 */
extern char *pgb_manifest_build(const char *id, char **archive_url);

/* build and store it now, inside an open transaction; ERROR if not completed */
extern void pgb_manifest_write(const char *id);

/* build it now (SPI in the current transaction), store it when that commits */
extern void pgb_manifest_write_at_commit(const char *id);

/*
 * A job worker's completion of a capture whose archive is durable: in one
 * catalog transaction, record the result, mark the row completed and store
 * the manifest; the row commits only once the manifest is stored.
 */
extern void pgb_manifest_complete(const char *id, const PgbCaptureResult *res);

/* remove the manifest of the archive at archive_url (absent: nothing to do) */
extern void pgb_manifest_remove(const char *archive_url);

#endif							/* PGB_MANIFEST_H */
