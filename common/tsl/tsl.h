#pragma once
/* TSL, the Tree Search Language of `kubectl mtv get inventory -q` (see
 * yaacov/tree-search-language): a lexer, a parser into a tree, and an
 * evaluator over values that an identifier callback supplies. The query
 * clauses around it (SELECT, WHERE, ORDER BY, ...) are in mtv-query.h. */
#include <glib.h>
#include <json-glib/json-glib.h>

/* ---- tokens ------------------------------------------------------------------- */

typedef enum {
  TSL_TOK_EOF,
  TSL_TOK_IDENTIFIER,
  TSL_TOK_STRING,
  TSL_TOK_NUMBER,
  TSL_TOK_DATE,
  TSL_TOK_RFC3339,
  TSL_TOK_EQ, TSL_TOK_NE, TSL_TOK_LT, TSL_TOK_LE, TSL_TOK_GT, TSL_TOK_GE,
  TSL_TOK_REQ, TSL_TOK_RNE,
  TSL_TOK_PLUS, TSL_TOK_MINUS, TSL_TOK_STAR, TSL_TOK_SLASH, TSL_TOK_PERCENT,
  TSL_TOK_LPAREN, TSL_TOK_RPAREN, TSL_TOK_LBRACKET, TSL_TOK_RBRACKET, TSL_TOK_COMMA,
  /* keywords, case-insensitive */
  TSL_TOK_AND, TSL_TOK_OR, TSL_TOK_NOT, TSL_TOK_LIKE, TSL_TOK_ILIKE, TSL_TOK_BETWEEN,
  TSL_TOK_IN, TSL_TOK_IS, TSL_TOK_NULL, TSL_TOK_TRUE, TSL_TOK_FALSE,
  TSL_TOK_LEN, TSL_TOK_ANY, TSL_TOK_ALL, TSL_TOK_SUM,
} TslTokenType;

typedef struct {
  TslTokenType type;
  char *value;     /* identifier text, unescaped string, number/date text */
  guint position;  /* in characters (not bytes) from the start */
} TslToken;

/* The tokens of @text, EOF last, or NULL with an error naming the position. */
GArray *tsl_lex (const char *text, GError **error);
void tsl_tokens_free (GArray *tokens);
const char *tsl_token_name (TslTokenType type);

/* ---- the tree ----------------------------------------------------------------- */

typedef enum {
  TSL_NODE_IDENTIFIER,
  TSL_NODE_STRING,
  TSL_NODE_NUMBER,
  TSL_NODE_BOOLEAN,
  TSL_NODE_NULL,
  TSL_NODE_DATE,
  TSL_NODE_TIMESTAMP,
  TSL_NODE_ARRAY,
  TSL_NODE_BINARY,
  TSL_NODE_UNARY,
} TslNodeKind;

typedef enum {
  TSL_OP_NONE,
  TSL_OP_EQ, TSL_OP_NE, TSL_OP_LT, TSL_OP_LE, TSL_OP_GT, TSL_OP_GE,
  TSL_OP_REQ, TSL_OP_RNE, TSL_OP_LIKE, TSL_OP_ILIKE, TSL_OP_IN, TSL_OP_BETWEEN, TSL_OP_IS,
  TSL_OP_AND, TSL_OP_OR, TSL_OP_NOT,
  TSL_OP_ADD, TSL_OP_SUB, TSL_OP_MUL, TSL_OP_DIV, TSL_OP_MOD, TSL_OP_NEG,
  TSL_OP_LEN, TSL_OP_ANY, TSL_OP_ALL, TSL_OP_SUM,
} TslOp;

typedef struct _TslPath TslPath;

typedef struct _TslNode TslNode;
struct _TslNode {
  TslNodeKind kind;
  TslOp op;
  TslNode *left, *right;  /* binary: both; unary: right */
  GPtrArray *items;       /* array elements */
  char *text;             /* identifier, string, date or timestamp as written */
  double number;
  gboolean boolean;
  gint64 time;            /* dates and timestamps: microseconds since the epoch, UTC */
  int utc_offset;         /* timestamps: seconds east of UTC, as written */
  guint position;
  TslPath *path;          /* identifiers: the compiled field path */
  GRegex *regex;          /* ~= and ~! with a literal pattern: compiled once */
};

TslNode *tsl_parse (const char *text, GError **error);
void tsl_node_free (TslNode *node);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TslNode, tsl_node_free)

const char *tsl_op_name (TslOp op);
/* The tree as the `tsl` tool prints it: "[EQ]" then children indented. */
char *tsl_node_to_tree (const TslNode *node);
/* The tree as JSON: {type, operator, left, right} / {type, value(s)}. */
JsonNode *tsl_node_to_json (const TslNode *node);

/* ---- values and evaluation ---------------------------------------------------- */

typedef enum {
  TSL_VALUE_NULL,
  TSL_VALUE_BOOL,
  TSL_VALUE_NUMBER,
  TSL_VALUE_STRING,
  TSL_VALUE_TIME,
  TSL_VALUE_ARRAY,
  TSL_VALUE_OBJECT,       /* a JSON object from the document: no operator takes it */
} TslValueType;

typedef struct _TslValue TslValue;
struct _TslValue {
  TslValueType type;
  gboolean boolean;
  double number;
  const char *string;     /* borrowed: from the tree or the document */
  gint64 time;            /* microseconds since the epoch, UTC */
  TslValue *items;        /* arrays: owned by the evaluation's arena */
  guint n_items;
  JsonNode *object;       /* borrowed from the document */
};

/* Everything an evaluation allocates, freed together. */
typedef struct _TslArena TslArena;
TslArena *tsl_arena_new (void);
void tsl_arena_reset (TslArena *arena);
void tsl_arena_free (TslArena *arena);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TslArena, tsl_arena_free)
TslValue *tsl_arena_values (TslArena *arena, guint n);

/* Supplies an identifier's value; returns FALSE when there is no such key
 * (the evaluation then fails with "key not found"). */
typedef gboolean (*TslLookup) (const TslNode *identifier, TslValue *value, TslArena *arena, gpointer user_data);

gboolean tsl_evaluate (const TslNode *node, TslLookup lookup, gpointer user_data, TslArena *arena, TslValue *result,
                       GError **error);
/* len, sum, any or all (@op) of a value, as the prefix operators compute them. */
gboolean tsl_reduce (TslOp op, const TslValue *x, TslArena *arena, TslValue *out, GError **error);
/* Whether a result selects a row: TRUE, or an array with a TRUE in it. */
gboolean tsl_value_truthy (const TslValue *value);

/* A string that reads as YYYY-MM-DD or RFC 3339: its time. */
gboolean tsl_parse_time (const char *s, gint64 *time, int *utc_offset);

/* Values from and to JSON: strings that read as dates become times. */
void tsl_value_from_json (JsonNode *node, TslValue *value, TslArena *arena);
JsonNode *tsl_value_to_json (const TslValue *value);

/* ---- field paths in JSON documents ------------------------------------------------ */

/* a.b, a[0], a[*].b, a[key]; dots step into every element of an array. */
TslPath *tsl_path_new (const char *text);
void tsl_path_free (TslPath *path);
/* The value at @path in @doc (NULL when absent). */
void tsl_path_lookup (const TslPath *path, JsonNode *doc, TslValue *value, TslArena *arena);
/* The same from step @first on (skipping a scope prefix such as "vm."). */
void tsl_path_lookup_from (const TslPath *path, guint first, JsonNode *doc, TslValue *value, TslArena *arena);
/* The path's first step when it is a plain key ("vm" of vm.name), else NULL. */
const char *tsl_path_first_key (const TslPath *path);
/* A TslLookup over a JSON document (@doc is its JsonNode): absent fields are null. */
gboolean tsl_document_lookup (const TslNode *identifier, TslValue *value, TslArena *arena, gpointer doc);
/* Orders two values for sorting: nulls first, numbers, strings and times by value. */
int tsl_value_compare (const TslValue *a, const TslValue *b);
