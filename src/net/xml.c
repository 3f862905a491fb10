/*-------------------------------------------------------------------------
 *
 * xml.c
 *	  Reading XML answers with libxml2: S3's ListObjectsV2, multipart and
 *	  error bodies.
 *
 * Documents are parsed with xmlReadMemory and XML_PARSE_NONET |
 * XML_PARSE_NOERROR | XML_PARSE_NOWARNING: no network access, no DTD
 * loading and no entity substitution (XML_PARSE_NOENT and
 * XML_PARSE_DTDLOAD are never set), and libxml2's default limits on depth
 * and entity amplification apply (no XML_PARSE_HUGE).  Predefined
 * entities (&amp; &lt; ...) and character references are decoded by the
 * parser into text nodes; a text is the concatenation of an element's
 * direct text and CDATA children, so a reference to an entity declared in
 * an internal DTD contributes nothing.  Elements are matched by local name,
 * whatever their namespace (S3 answers come with and without xmlns).
 *
 * libxml2 allocates with malloc: the xmlDoc is freed by a reset callback
 * of the memory context current at pgb_xml_parse, so an ERROR anywhere
 * leaks nothing.  Texts are copied into palloc'd memory.
 *
 * src/net/xml.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "xml.h"

#define PGB_XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

struct PgbXmlDoc
{
	xmlDocPtr	doc;			/* NULL once freed */
	MemoryContextCallback cb;
};

static void
xml_doc_release(void *arg)
{
	PgbXmlDoc  *d = (PgbXmlDoc *) arg;

	if (d->doc)
		xmlFreeDoc(d->doc);
	d->doc = NULL;
}

PgbXmlDoc *
pgb_xml_parse(const char *body, size_t len)
{
	PgbXmlDoc  *d;

	/* S3 may send keep-alive whitespace before a late answer's declaration */
	while (body != NULL && len > 0 &&
		   (*body == ' ' || *body == '\t' || *body == '\r' || *body == '\n'))
		body++, len--;
	if (body == NULL || len == 0 || len > (size_t) INT_MAX)
		return NULL;
	/* allocate first: nothing between the parse and the callback can fail */
	d = palloc0(sizeof(PgbXmlDoc));
	d->doc = xmlReadMemory(body, (int) len, NULL, NULL, PGB_XML_OPTIONS);
	if (d->doc == NULL)
	{
		pfree(d);
		return NULL;
	}
	d->cb.func = xml_doc_release;
	d->cb.arg = d;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &d->cb);
	return d;
}

void
pgb_xml_free(PgbXmlDoc *doc)
{
	if (doc)
		xml_doc_release(doc);
}

static bool
is_element(xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && n->name != NULL &&
		strcmp((const char *) n->name, name) == 0;
}

/* the direct text and CDATA children of element n, decoded, palloc'd */
static char *
element_text(xmlNodePtr n)
{
	StringInfoData buf;
	xmlNodePtr	c;

	initStringInfo(&buf);
	for (c = n->children; c != NULL; c = c->next)
		if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
			appendStringInfoString(&buf, (const char *) c->content);
	return buf.data;
}

/* the next node after n in document order (pre-order), or NULL */
static xmlNodePtr
next_node(xmlNodePtr n, bool descend)
{
	if (descend && n->children != NULL && n->type == XML_ELEMENT_NODE)
		return n->children;
	while (n != NULL)
	{
		if (n->next != NULL)
			return n->next;
		n = n->parent;
		if (n == NULL || n->type != XML_ELEMENT_NODE)
			return NULL;
	}
	return NULL;
}

char *
pgb_xml_doc_first_text(PgbXmlDoc *doc, const char *tag)
{
	xmlNodePtr	n;

	if (doc == NULL || doc->doc == NULL)
		return NULL;
	for (n = xmlDocGetRootElement(doc->doc); n != NULL; n = next_node(n, true))
	{
		CHECK_FOR_INTERRUPTS();
		if (is_element(n, tag))
			return element_text(n);
	}
	return NULL;
}

List *
pgb_xml_doc_records(PgbXmlDoc *doc, const char *elem,
					const char *const *fields, int nfields)
{
	List	   *result = NIL;
	xmlNodePtr	n;

	if (doc == NULL || doc->doc == NULL)
		return NIL;
	n = xmlDocGetRootElement(doc->doc);
	while (n != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		if (is_element(n, elem))
		{
			char	  **rec = palloc0(sizeof(char *) * Max(nfields, 1));
			xmlNodePtr	c;
			int			i;

			for (c = n->children; c != NULL; c = c->next)
				for (i = 0; i < nfields; i++)
					if (rec[i] == NULL && is_element(c, fields[i]))
						rec[i] = element_text(c);
			result = lappend(result, rec);
			/* a record's own children are not searched for records */
			n = next_node(n, false);
		}
		else
			n = next_node(n, true);
	}
	return result;
}

char *
pgb_xml_first_text(const char *body, size_t len, const char *tag)
{
	PgbXmlDoc  *doc = pgb_xml_parse(body, len);
	char	   *text;

	/* on an ERROR the memory context's callback frees the document */
	text = pgb_xml_doc_first_text(doc, tag);
	pgb_xml_free(doc);
	return text;
}
