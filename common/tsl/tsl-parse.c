/* TSL parser: recursive descent over the tokens, one function per level of
 * the grammar (or, and, comparison, additive, multiplicative, prefix, unary,
 * primary). Prefix NOT/LEN/ANY/ALL/SUM bind tighter than comparisons, as in
 * the reference grammar: `not a = 1` is `(not a) = 1`. */
#include "tsl.h"
#include "tsl-private.h"

#include "mtv-error.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

/* Deeper nesting than any real query; keeps hostile input off the stack. */
#define MAX_DEPTH 256

JsonNode *
tsl_number_to_json (double number)
{
  JsonNode *node = json_node_new (JSON_NODE_VALUE);
  /* Whole numbers as JSON integers (4, not 4.0), as Go and kubectl print them. */
  if (number == floor (number) && fabs (number) < 9e15)
    json_node_set_int (node, (gint64) number);
  else
    json_node_set_double (node, number);
  return node;
}

gboolean
tsl_set_error (GError **error, const char *text, guint position, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_autoptr (GString) caret = g_string_new (NULL);
  for (guint i = 0; i < position; i++)
    g_string_append_c (caret, ' ');
  g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "%s at position %u\n  %s\n  %s^", message, position, text,
               caret->str);
  return FALSE;
}

static gboolean
digits (const char *s, int n)
{
  for (int i = 0; i < n; i++)
    if (!g_ascii_isdigit (s[i]))
      return FALSE;
  return TRUE;
}

static gboolean
date_at (const char *s)
{
  return digits (s, 4) && s[4] == '-' && digits (s + 5, 2) && s[7] == '-' && digits (s + 8, 2);
}

gboolean
tsl_is_date (const char *s)
{
  return strlen (s) == 10 && date_at (s);
}

gboolean
tsl_is_rfc3339 (const char *s)
{
  if (strlen (s) < 20 || !date_at (s) || s[10] != 'T' || !digits (s + 11, 2) || s[13] != ':'
      || !digits (s + 14, 2) || s[16] != ':' || !digits (s + 17, 2))
    return FALSE;
  const char *p = s + 19;
  if (*p == '.')
    {
      p++;
      if (!g_ascii_isdigit (*p))
        return FALSE;
      while (g_ascii_isdigit (*p))
        p++;
    }
  if (strcmp (p, "Z") == 0)
    return TRUE;
  return (p[0] == '+' || p[0] == '-') && digits (p + 1, 2) && p[3] == ':' && digits (p + 4, 2) && p[6] == '\0';
}

gboolean
tsl_parse_time (const char *s, gint64 *time, int *utc_offset)
{
  g_autoptr (GDateTime) dt = NULL;
  if (tsl_is_date (s))
    {
      g_autoptr (GTimeZone) utc = g_time_zone_new_utc ();
      dt = g_date_time_new (utc, atoi (s), atoi (s + 5), atoi (s + 8), 0, 0, 0);
    }
  else if (tsl_is_rfc3339 (s))
    dt = g_date_time_new_from_iso8601 (s, NULL);
  if (dt == NULL)
    return FALSE;
  *time = g_date_time_to_unix (dt) * G_USEC_PER_SEC + g_date_time_get_microsecond (dt);
  if (utc_offset)
    *utc_offset = (int) (g_date_time_get_utc_offset (dt) / G_TIME_SPAN_SECOND);
  return TRUE;
}

/* ---- nodes -------------------------------------------------------------------- */

static TslNode *
node_new (TslNodeKind kind, guint position)
{
  TslNode *n = g_new0 (TslNode, 1);
  n->kind = kind;
  n->position = position;
  return n;
}

static TslNode *
binary (TslOp op, TslNode *left, TslNode *right)
{
  TslNode *n = node_new (TSL_NODE_BINARY, left->position);
  n->op = op;
  n->left = left;
  n->right = right;
  if ((op == TSL_OP_REQ || op == TSL_OP_RNE) && right->kind == TSL_NODE_STRING)
    n->regex = g_regex_new (right->text, G_REGEX_OPTIMIZE, 0, NULL); /* NULL: reported when evaluated */
  return n;
}

static TslNode *
unary (TslOp op, TslNode *operand, guint position)
{
  TslNode *n = node_new (TSL_NODE_UNARY, position);
  n->op = op;
  n->right = operand;
  return n;
}

void
tsl_node_free (TslNode *node)
{
  if (node == NULL)
    return;
  tsl_node_free (node->left);
  tsl_node_free (node->right);
  if (node->items)
    g_ptr_array_free (node->items, TRUE);
  g_free (node->text);
  if (node->path)
    tsl_path_free (node->path);
  if (node->regex)
    g_regex_unref (node->regex);
  g_free (node);
}

/* ---- the parser --------------------------------------------------------------- */

typedef struct {
  const char *text;
  GArray *tokens;
  guint next;
  guint depth;
  GError **error;
} Parser;

static TslToken *
peek (Parser *p)
{
  return &g_array_index (p->tokens, TslToken, p->next);
}

static TslToken *
peek2 (Parser *p)
{
  guint i = MIN (p->next + 1, p->tokens->len - 1);
  return &g_array_index (p->tokens, TslToken, i);
}

static TslToken *
take (Parser *p)
{
  TslToken *t = peek (p);
  if (t->type != TSL_TOK_EOF)
    p->next++;
  return t;
}

static const char *
describe (const TslToken *t)
{
  switch (t->type)
    {
    case TSL_TOK_EOF: return "end of query";
    case TSL_TOK_IDENTIFIER: return "a field name";
    case TSL_TOK_STRING: return "a string";
    case TSL_TOK_NUMBER: return "a number";
    case TSL_TOK_DATE: case TSL_TOK_RFC3339: return "a date";
    default: return tsl_token_name (t->type);
    }
}

static TslNode *
syntax_error (Parser *p, const TslToken *t, const char *expected)
{
  if (p->error && *p->error == NULL)
    tsl_set_error (p->error, p->text, t->position, "syntax error: unexpected %s, expected %s", describe (t), expected);
  return NULL;
}

static TslNode *parse_or (Parser *p);
static TslNode *parse_add (Parser *p);
static TslNode *parse_prefix (Parser *p);

static double
number_value (const char *text)
{
  char *end;
  double v = g_ascii_strtod (text, &end);
  if (*end == '\0')
    return v;
  static const char units[] = "kmgtp";
  const char *u = strchr (units, g_ascii_tolower (*end));
  int power = u ? (int) (u - units) + 1 : 0;
  gboolean binary_unit = end[1] == 'i' || end[1] == 'I';
  return v * pow (binary_unit ? 1024.0 : 1000.0, power);
}

static TslNode *
parse_array (Parser *p, guint position)
{
  TslNode *array = node_new (TSL_NODE_ARRAY, position);
  array->items = g_ptr_array_new_with_free_func ((GDestroyNotify) tsl_node_free);
  while (peek (p)->type != TSL_TOK_RBRACKET)
    {
      TslNode *item = parse_or (p);
      if (item == NULL)
        goto fail;
      g_ptr_array_add (array->items, item);
      if (peek (p)->type == TSL_TOK_COMMA)
        take (p);   /* a trailing comma is fine */
      else if (peek (p)->type != TSL_TOK_RBRACKET)
        {
          syntax_error (p, peek (p), "',' or ']'");
          goto fail;
        }
    }
  take (p);
  return array;
fail:
  tsl_node_free (array);
  return NULL;
}

static TslNode *
parse_primary (Parser *p)
{
  TslToken *t = take (p);
  TslNode *n;
  switch (t->type)
    {
    case TSL_TOK_NUMBER:
      n = node_new (TSL_NODE_NUMBER, t->position);
      n->number = number_value (t->value);
      return n;
    case TSL_TOK_STRING:
      n = node_new (TSL_NODE_STRING, t->position);
      n->text = g_strdup (t->value);
      return n;
    case TSL_TOK_IDENTIFIER:
      n = node_new (TSL_NODE_IDENTIFIER, t->position);
      n->text = g_strdup (t->value);
      n->path = tsl_path_new (t->value);
      return n;
    case TSL_TOK_DATE:
    case TSL_TOK_RFC3339:
      n = node_new (t->type == TSL_TOK_DATE ? TSL_NODE_DATE : TSL_NODE_TIMESTAMP, t->position);
      n->text = g_strdup (t->value);
      if (!tsl_parse_time (t->value, &n->time, &n->utc_offset))
        {
          tsl_node_free (n);
          tsl_set_error (p->error, p->text, t->position, "not a valid date: %s", t->value);
          return NULL;
        }
      return n;
    case TSL_TOK_TRUE:
    case TSL_TOK_FALSE:
      n = node_new (TSL_NODE_BOOLEAN, t->position);
      n->boolean = t->type == TSL_TOK_TRUE;
      return n;
    default:
      return syntax_error (p, t, "a value, a field name, '(' or '['");
    }
}

static TslNode *
parse_unary (Parser *p)
{
  TslToken *t = peek (p);
  if (t->type == TSL_TOK_MINUS || t->type == TSL_TOK_PLUS)
    {
      take (p);
      TslNode *operand = parse_unary (p);
      if (operand == NULL || t->type == TSL_TOK_PLUS)
        return operand;
      return unary (TSL_OP_NEG, operand, t->position);
    }
  if (t->type == TSL_TOK_LPAREN)
    {
      take (p);
      TslNode *inner = parse_or (p);
      if (inner == NULL)
        return NULL;
      if (peek (p)->type != TSL_TOK_RPAREN)
        {
          tsl_node_free (inner);
          return syntax_error (p, peek (p), "')'");
        }
      take (p);
      return inner;
    }
  if (t->type == TSL_TOK_LBRACKET)
    {
      take (p);
      return parse_array (p, t->position);
    }
  return parse_primary (p);
}

static TslNode *
parse_prefix (Parser *p)
{
  if (++p->depth > MAX_DEPTH)
    {
      tsl_set_error (p->error, p->text, peek (p)->position, "query nested too deeply");
      return NULL;
    }
  TslToken *t = peek (p);
  TslOp op = t->type == TSL_TOK_NOT ? TSL_OP_NOT : t->type == TSL_TOK_LEN ? TSL_OP_LEN
             : t->type == TSL_TOK_ANY ? TSL_OP_ANY : t->type == TSL_TOK_ALL ? TSL_OP_ALL
             : t->type == TSL_TOK_SUM ? TSL_OP_SUM : TSL_OP_NONE;
  TslNode *n;
  if (op != TSL_OP_NONE)
    {
      take (p);
      TslNode *operand = parse_prefix (p);
      n = operand ? unary (op, operand, t->position) : NULL;
    }
  else
    n = parse_unary (p);
  p->depth--;
  return n;
}

/* operand (op operand)*, left-associative: the binary levels of the grammar. */
static TslNode *
binary_chain (Parser *p, TslNode *(*operand) (Parser *), TslOp (*op_of) (TslTokenType))
{
  TslNode *left = operand (p);
  while (left)
    {
      TslOp op = op_of (peek (p)->type);
      if (op == TSL_OP_NONE)
        break;
      take (p);
      TslNode *right = operand (p);
      if (right == NULL)
        {
          tsl_node_free (left);
          return NULL;
        }
      left = binary (op, left, right);
    }
  return left;
}

static TslOp
mul_op (TslTokenType t)
{
  return t == TSL_TOK_STAR ? TSL_OP_MUL : t == TSL_TOK_SLASH ? TSL_OP_DIV : t == TSL_TOK_PERCENT ? TSL_OP_MOD : TSL_OP_NONE;
}

static TslOp
add_op (TslTokenType t)
{
  return t == TSL_TOK_PLUS ? TSL_OP_ADD : t == TSL_TOK_MINUS ? TSL_OP_SUB : TSL_OP_NONE;
}

static TslOp
and_op (TslTokenType t)
{
  return t == TSL_TOK_AND ? TSL_OP_AND : TSL_OP_NONE;
}

static TslOp
or_op (TslTokenType t)
{
  return t == TSL_TOK_OR ? TSL_OP_OR : TSL_OP_NONE;
}

static TslNode *
parse_mul (Parser *p)
{
  return binary_chain (p, parse_prefix, mul_op);
}

static TslNode *
parse_add (Parser *p)
{
  return binary_chain (p, parse_mul, add_op);
}

static TslOp
comparison_op (TslTokenType t)
{
  switch (t)
    {
    case TSL_TOK_EQ: return TSL_OP_EQ;
    case TSL_TOK_NE: return TSL_OP_NE;
    case TSL_TOK_LT: return TSL_OP_LT;
    case TSL_TOK_LE: return TSL_OP_LE;
    case TSL_TOK_GT: return TSL_OP_GT;
    case TSL_TOK_GE: return TSL_OP_GE;
    case TSL_TOK_REQ: return TSL_OP_REQ;
    case TSL_TOK_RNE: return TSL_OP_RNE;
    case TSL_TOK_LIKE: return TSL_OP_LIKE;
    case TSL_TOK_ILIKE: return TSL_OP_ILIKE;
    case TSL_TOK_IN: return TSL_OP_IN;
    case TSL_TOK_BETWEEN: return TSL_OP_BETWEEN;
    case TSL_TOK_IS: return TSL_OP_IS;
    default: return TSL_OP_NONE;
    }
}

/* One comparison after @left: `op add`, `[not] between a and b`,
 * `is [not] null`, `not like|ilike|in|between ...`. */
static TslNode *
parse_comparison_rest (Parser *p, TslNode *left, gboolean *more)
{
  gboolean negate = FALSE;
  TslToken *t = peek (p);
  TslOp op = comparison_op (t->type);
  if (t->type == TSL_TOK_NOT)
    {
      op = comparison_op (peek2 (p)->type);
      if (op != TSL_OP_LIKE && op != TSL_OP_ILIKE && op != TSL_OP_IN && op != TSL_OP_BETWEEN)
        {
          *more = FALSE;
          return left;
        }
      take (p);
      negate = TRUE;
    }
  if (op == TSL_OP_NONE)
    {
      *more = FALSE;
      return left;
    }
  take (p);
  TslNode *right = NULL;
  if (op == TSL_OP_IS)
    {
      if (peek (p)->type == TSL_TOK_NOT)
        {
          take (p);
          negate = TRUE;
        }
      TslToken *n = take (p);
      if (n->type != TSL_TOK_NULL)
        {
          tsl_node_free (left);
          return syntax_error (p, n, "null");
        }
      right = node_new (TSL_NODE_NULL, n->position);
    }
  else if (op == TSL_OP_BETWEEN)
    {
      /* `between A and B`, or `between LIST` (a list of two, checked when evaluated). */
      TslNode *low = parse_add (p);
      if (low == NULL)
        {
          tsl_node_free (left);
          return NULL;
        }
      if (peek (p)->type != TSL_TOK_AND)
        right = low;
      else
        {
          take (p);
          TslNode *high = parse_add (p);
          if (high == NULL)
            {
              tsl_node_free (low);
              tsl_node_free (left);
              return NULL;
            }
          right = node_new (TSL_NODE_ARRAY, low->position);
          right->items = g_ptr_array_new_with_free_func ((GDestroyNotify) tsl_node_free);
          g_ptr_array_add (right->items, low);
          g_ptr_array_add (right->items, high);
        }
    }
  else if ((right = parse_add (p)) == NULL)
    {
      tsl_node_free (left);
      return NULL;
    }
  TslNode *n = binary (op, left, right);
  return negate ? unary (TSL_OP_NOT, n, n->position) : n;
}

static TslNode *
parse_comparison (Parser *p)
{
  TslNode *left = parse_add (p);
  gboolean more = TRUE;
  while (left && more)
    left = parse_comparison_rest (p, left, &more);
  return left;
}

static TslNode *
parse_and (Parser *p)
{
  return binary_chain (p, parse_comparison, and_op);
}

static TslNode *
parse_or (Parser *p)
{
  if (++p->depth > MAX_DEPTH)
    {
      tsl_set_error (p->error, p->text, peek (p)->position, "query nested too deeply");
      return NULL;
    }
  TslNode *n = binary_chain (p, parse_and, or_op);
  p->depth--;
  return n;
}

TslNode *
tsl_parse (const char *text, GError **error)
{
  GError *local = NULL;
  GArray *tokens = tsl_lex (text, error);
  if (tokens == NULL)
    return NULL;
  Parser p = { text, tokens, 0, 0, &local };
  TslNode *root = parse_or (&p);
  if (root && peek (&p)->type != TSL_TOK_EOF)
    {
      syntax_error (&p, peek (&p), "an operator, 'and', 'or' or the end of the query");
      tsl_node_free (root);
      root = NULL;
    }
  tsl_tokens_free (tokens);
  if (root == NULL)
    {
      if (local == NULL)
        tsl_set_error (&local, text, 0, "syntax error");
      g_propagate_error (error, local);
    }
  return root;
}

/* ---- printing ------------------------------------------------------------------- */

const char *
tsl_op_name (TslOp op)
{
  static const char *const names[] = {
    "NONE", "EQ", "NE", "LT", "LE", "GT", "GE", "REQ", "RNE", "LIKE", "ILIKE", "IN", "BETWEEN", "IS",
    "AND", "OR", "NOT", "ADD", "SUB", "MUL", "DIV", "MOD", "NEG", "LEN", "ANY", "ALL", "SUM",
  };
  return (guint) op < G_N_ELEMENTS (names) ? names[op] : "?";
}

/* A float64 the way Go's %v prints it (the parse-tree golden files use it):
 * the shortest digits that read back exactly, in exponent form below 1e-4
 * and from 1e6 up. */
static void
append_number (GString *out, double v)
{
  if (isnan (v))
    {
      g_string_append (out, "NaN");
      return;
    }
  if (isinf (v))
    {
      g_string_append (out, v > 0 ? "+Inf" : "-Inf");
      return;
    }
  if (v == 0)
    {
      g_string_append (out, signbit (v) ? "-0" : "0");
      return;
    }
  char buf[64];
  for (int precision = 0; precision < 17; precision++)
    {
      g_snprintf (buf, sizeof buf, "%.*e", precision, v);
      if (g_ascii_strtod (buf, NULL) == v)
        break;
    }
  /* buf: [-]d[.ddd]e(+|-)XX */
  char *e = strchr (buf, 'e');
  int exponent = atoi (e + 1);
  *e = '\0';
  const char *mantissa = buf;
  if (*mantissa == '-')
    {
      g_string_append_c (out, '-');
      mantissa++;
    }
  g_autoptr (GString) d = g_string_new (NULL);
  for (const char *c = mantissa; *c; c++)
    if (g_ascii_isdigit (*c))
      g_string_append_c (d, *c);
  while (d->len > 1 && d->str[d->len - 1] == '0')
    g_string_truncate (d, d->len - 1);
  if (exponent < -4 || exponent >= 6)
    {
      g_string_append_c (out, d->str[0]);
      if (d->len > 1)
        g_string_append_printf (out, ".%s", d->str + 1);
      g_string_append_printf (out, "e%c%02d", exponent < 0 ? '-' : '+', ABS (exponent));
    }
  else if (exponent < 0)
    {
      g_string_append (out, "0.");
      for (int i = -1; i > exponent; i--)
        g_string_append_c (out, '0');
      g_string_append (out, d->str);
    }
  else
    {
      for (int i = 0; i <= exponent; i++)
        g_string_append_c (out, (gsize) i < d->len ? d->str[i] : '0');
      if (d->len > (gsize) exponent + 1)
        g_string_append_printf (out, ".%s", d->str + exponent + 1);
    }
}

/* A string as Go's strconv.Quote writes it, without the quotes. */
static void
append_quoted (GString *out, const char *s)
{
  for (const char *p = s; *p; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      switch (c)
        {
        case '"': g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\a': g_string_append (out, "\\a"); break;
        case '\b': g_string_append (out, "\\b"); break;
        case '\f': g_string_append (out, "\\f"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        case '\v': g_string_append (out, "\\v"); break;
        default:
          if (c < 0x20 || c == 0x7f)
            g_string_append_printf (out, "\\x%02x", c);
          else if (c < 0x80 || g_unichar_isprint (c))
            g_string_append_len (out, p, g_utf8_next_char (p) - p);
          else if (c < 0x10000)
            g_string_append_printf (out, "\\u%04x", c);
          else
            g_string_append_printf (out, "\\U%08x", c);
        }
    }
}

static void
append_timestamp (GString *out, const TslNode *n)
{
  g_autoptr (GTimeZone) tz = g_time_zone_new_offset (n->utc_offset);
  g_autoptr (GDateTime) utc = g_date_time_new_from_unix_utc (n->time / G_USEC_PER_SEC);
  g_autoptr (GDateTime) local = g_date_time_to_timezone (utc, tz);
  g_autofree char *s = g_date_time_format (local, "%Y-%m-%dT%H:%M:%S");
  int off = n->utc_offset;
  g_string_append_printf (out, "%s%c%02d:%02d", s, off < 0 ? '-' : '+', ABS (off) / 3600, ABS (off) / 60 % 60);
}

static void
append_tree (GString *out, const TslNode *n, int depth)
{
  for (int i = 0; i < depth; i++)
    g_string_append (out, "  ");
  switch (n->kind)
    {
    case TSL_NODE_BINARY:
      g_string_append_printf (out, "[%s]\n", tsl_op_name (n->op));
      append_tree (out, n->left, depth + 1);
      append_tree (out, n->right, depth + 1);
      return;
    case TSL_NODE_UNARY:
      g_string_append_printf (out, "[%s]\n", tsl_op_name (n->op));
      append_tree (out, n->right, depth + 1);
      return;
    case TSL_NODE_ARRAY:
      g_string_append (out, "[ARRAY]:\n");
      for (guint i = 0; i < n->items->len; i++)
        append_tree (out, n->items->pdata[i], depth + 1);
      return;
    case TSL_NODE_IDENTIFIER:
      g_string_append_printf (out, "[IDENTIFIER]: %s\n", n->text);
      return;
    case TSL_NODE_STRING:
      g_string_append (out, "[STRING]: ");
      append_quoted (out, n->text);
      break;
    case TSL_NODE_NUMBER:
      g_string_append (out, "[NUMBER]: ");
      append_number (out, n->number);
      break;
    case TSL_NODE_BOOLEAN:
      g_string_append_printf (out, "[BOOLEAN]: %s", n->boolean ? "true" : "false");
      break;
    case TSL_NODE_NULL:
      g_string_append (out, "[NULL]: NULL");
      break;
    case TSL_NODE_DATE:
      g_string_append_printf (out, "[DATE]: %s", n->text);
      break;
    case TSL_NODE_TIMESTAMP:
      g_string_append (out, "[TIMESTAMP]: ");
      append_timestamp (out, n);
      break;
    }
  g_string_append_c (out, '\n');
}

char *
tsl_node_to_tree (const TslNode *node)
{
  GString *out = g_string_new (NULL);
  append_tree (out, node, 0);
  return g_string_free (out, FALSE);
}

static const char *
kind_name (TslNodeKind kind)
{
  static const char *const names[] = {
    "IDENTIFIER", "STRING", "NUMBER", "BOOLEAN", "NULL", "DATE", "TIMESTAMP", "ARRAY", "BINARY_EXP", "UNARY_EXP",
  };
  return names[kind];
}

JsonNode *
tsl_node_to_json (const TslNode *n)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, kind_name (n->kind));
  switch (n->kind)
    {
    case TSL_NODE_BINARY:
    case TSL_NODE_UNARY:
      json_builder_set_member_name (b, "operator");
      json_builder_add_string_value (b, tsl_op_name (n->op));
      if (n->left)
        {
          json_builder_set_member_name (b, "left");
          json_builder_add_value (b, tsl_node_to_json (n->left));
        }
      json_builder_set_member_name (b, "right");
      json_builder_add_value (b, tsl_node_to_json (n->right));
      break;
    case TSL_NODE_ARRAY:
      json_builder_set_member_name (b, "values");
      json_builder_begin_array (b);
      for (guint i = 0; i < n->items->len; i++)
        json_builder_add_value (b, tsl_node_to_json (n->items->pdata[i]));
      json_builder_end_array (b);
      break;
    case TSL_NODE_NUMBER:
      json_builder_set_member_name (b, "value");
      json_builder_add_value (b, tsl_number_to_json (n->number));
      break;
    case TSL_NODE_BOOLEAN:
      json_builder_set_member_name (b, "value");
      json_builder_add_boolean_value (b, n->boolean);
      break;
    case TSL_NODE_NULL:
      json_builder_set_member_name (b, "value");
      json_builder_add_string_value (b, "NULL");
      break;
    default:
      json_builder_set_member_name (b, "value");
      json_builder_add_string_value (b, n->text);
      break;
    }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
