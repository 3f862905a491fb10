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

#endif							/* PGB_RESCAN_H */
