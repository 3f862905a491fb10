/*-------------------------------------------------------------------------
 *
 * rescan.h
 *	  Rebuilding a catalog's index of backups from storage (rescan.c).
 *
 * src/catalog/rescan.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_RESCAN_H
#define PGB_RESCAN_H

#include "nodes/pg_list.h"
#include "storage.h"

typedef struct PgbRescanItem
{
	char	   *id;
	char	   *outcome;		/* imported, found again, missing, manifest
								 * written, rejected: <why> */
} PgbRescanItem;

/*
 * Import this catalog's manifests from storage, mark completed backups whose
 * archive is gone as missing, write the manifests older backups lack, and
 * move the id sequences past every id in storage.  In a transaction, as a
 * superuser; returns what changed (a List of PgbRescanItem *).
 */
extern List *pgb_rescan(void);

/*
 * Shared with the storage check (storage_check.c): the objects directly
 * under one catalog's prefix, and the checks of a manifest.
 */
typedef struct PgbStorageListing
{
	List	   *archives;		/* PgbStorageEntry * of *.dump */
	List	   *manifests;		/* PgbStorageEntry * of *.dump.manifest.json */
	int			max_num[2];		/* highest manual (b) and scheduled (a) id seen */
} PgbStorageListing;

extern void pgb_rescan_classify(const char *prefix, List *entries, PgbStorageListing *f);
extern PgbStorageEntry *pgb_rescan_find_entry(List *entries, const char *url);

/* the answer of pgb_rescan_check_manifest when all is well but the archive is absent */
extern const char *const pgb_rescan_no_archive;

/* why a manifest is not valid for catalog_db (NULL: valid); SPI connected, may ERROR */
extern const char *pgb_rescan_check_manifest(const char *json, const char *catalog_db,
											 const PgbStorageEntry *archive,
											 char **id, char **status);

#endif							/* PGB_RESCAN_H */
