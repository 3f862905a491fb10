/*-------------------------------------------------------------------------
 *
 * stored.h
 *	  Backups as storage knows them, from anywhere in the cluster (stored.c).
 *
 * src/catalog/stored.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_STORED_H
#define PGB_STORED_H

#include "nodes/pg_list.h"

/* a backup's manifest as read from storage (text fields as in the JSON) */
typedef struct PgbStoredBackup
{
	char	   *catalog_database;	/* whose catalog recorded it */
	char	   *id;
	char	   *kind;
	char	   *database;		/* the source database: the read rule's */
	char	   *created_at;
	char	   *finished_at;
	char	   *archive_size;
	char	   *sha256;
	char	   *table_rows;		/* jsonb text */
	bool		pinned;
	char	   *label;
	char	   *archive_url;	/* where the archive is, beside its manifest */
} PgbStoredBackup;

/* the backups in storage of one catalog database (NULL: of every database of this cluster) */
extern List *pgb_stored_list(const char *catalog_db);

#endif							/* PGB_STORED_H */
