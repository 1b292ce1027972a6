#pragma once
/* Inventory queries as `kubectl mtv get inventory -q` takes them:
 *   [SELECT item [AS alias], ...] [WHERE tsl] [GROUP BY field, ...]
 *   [ORDER BY|SORT BY item [ASC|DESC], ...] [LIMIT n]
 * An item is a field path or TSL expression, optionally through a reducer
 * over an array (sum, len, any, all), or with GROUP BY an aggregate over the
 * group (count(*), count, sum, avg, min, max). A query that starts with none
 * of the clause keywords is a WHERE. Keywords are case-insensitive. */
#include "tsl.h"

typedef struct _MtvQuery MtvQuery;

MtvQuery *mtv_query_parse (const char *text, GError **error);
void mtv_query_free (MtvQuery *query);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MtvQuery, mtv_query_free)

/* Runs @query over @docs (JSON objects): the rows, in order, as a new array.
 * Without SELECT and GROUP BY the rows are the documents themselves. */
JsonArray *mtv_query_run (const MtvQuery *query, JsonArray *docs, GError **error);

/* Only WHERE: the documents it keeps, unchanged (WHERE may still name SELECT aliases). */
JsonArray *mtv_query_filter (const MtvQuery *query, JsonArray *docs, GError **error);

/* Whether @text starts with a clause keyword (else it is a bare WHERE). */
gboolean mtv_query_has_clause_keyword (const char *text);

/* The column names SELECT (or GROUP BY) gives, or NULL when rows are whole documents. */
GStrv mtv_query_columns (const MtvQuery *query);

/* "select[.a as a] | where[x > 1] | orderby[.a as a DESC] | limit 5": the
 * parsed query, for tests and `mtvctl get inventory --explain`. */
char *mtv_query_describe (const MtvQuery *query);
