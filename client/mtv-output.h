#pragma once
#include <json-glib/json-glib.h>

/* How mtvctl prints: aligned tables for people, JSON and YAML for scripts. */

typedef enum {
  MTV_OUTPUT_TABLE,
  MTV_OUTPUT_JSON,
  MTV_OUTPUT_YAML,
} MtvOutputFormat;

/* Parses -o's value (NULL means table). */
gboolean mtv_output_format_parse (const char *text, MtvOutputFormat *format, GError **error);

/* Prints @node as JSON (pretty) or YAML. */
void mtv_output_print_node (JsonNode *node, MtvOutputFormat format);

/* A table whose columns are as wide as their widest cell. */
typedef struct _MtvTable MtvTable;
MtvTable *mtv_table_new (const char *first_header, ...) G_GNUC_NULL_TERMINATED;
/* A table whose headers are known only at run time (SELECT columns). */
MtvTable *mtv_table_new_strv (const char *const *headers);
/* Adds a row of as many cells as there are headers. */
void mtv_table_add_row_strv (MtvTable *table, const char *const *cells);
/* Adds a row of as many cells as there are headers; takes none of them. */
void mtv_table_add_row (MtvTable *table, const char *first_cell, ...);
void mtv_table_print (MtvTable *table);
void mtv_table_free (MtvTable *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MtvTable, mtv_table_free)

/* "3m", "2h", "5d": how long ago an RFC 3339 time was, as kubectl says it. */
char *mtv_output_age (const char *rfc3339);
