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
	char	   *cluster;		/* the system identifier of its cluster */
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

/*
 * The backups in storage of one catalog database (NULL: of every database),
 * of this cluster (cluster NULL), of another sharing the storage (its
 * system identifier) or of every one ("all").
 */
extern List *pgb_stored_list(const char *catalog_db, const char *cluster);

#endif							/* PGB_STORED_H */
