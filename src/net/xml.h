/*-------------------------------------------------------------------------
 *
 * xml.h
 *	  Reading XML answers (S3's) with libxml2 (xml.c).
 *
 * Elements are matched by local name in any namespace.  Texts come back
 * decoded (predefined entities, character references, CDATA) as palloc'd
 * copies in the current memory context.  A body that is not well-formed
 * XML gives NULL (pgb_xml_parse, pgb_xml_first_text); nothing is ever
 * fetched from the network and no DTD is loaded.
 *
 * src/net/xml.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_XML_H
#define PGB_XML_H

#include "nodes/pg_list.h"

typedef struct PgbXmlDoc PgbXmlDoc;

/*
 * Parse body (len bytes); NULL if it is not well-formed XML.  The document
 * is freed with the current memory context, or earlier by pgb_xml_free.
 */
extern PgbXmlDoc *pgb_xml_parse(const char *body, size_t len);
extern void pgb_xml_free(PgbXmlDoc *doc);

/* the text of the first element named tag (document order), or NULL */
extern char *pgb_xml_doc_first_text(PgbXmlDoc *doc, const char *tag);

/*
 * For every element named elem (document order), the texts of its child
 * elements named fields[0 .. nfields - 1]: a List of char *[nfields]
 * arrays, NULL where a child is absent.
 */
extern List *pgb_xml_doc_records(PgbXmlDoc *doc, const char *elem,
								 const char *const *fields, int nfields);

/* pgb_xml_doc_first_text of body parsed on the spot; NULL if not XML */
extern char *pgb_xml_first_text(const char *body, size_t len, const char *tag);

#endif							/* PGB_XML_H */
