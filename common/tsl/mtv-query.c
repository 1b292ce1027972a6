/* The query clauses around TSL: found at the top level of the text (not in
 * quotes or brackets), checked (typos, duplicates, order, empty clauses) the
 * way kubectl-mtv checks them, then run over a list of JSON documents. */
#include "mtv-query.h"
#include "tsl-private.h"

#include "mtv-error.h"

#include <string.h>

typedef enum { CLAUSE_SELECT, CLAUSE_WHERE, CLAUSE_GROUP, CLAUSE_ORDER, CLAUSE_LIMIT, N_CLAUSES } ClauseKind;

static const char *const clause_names[] = { "SELECT", "WHERE", "GROUP BY", "ORDER BY", "LIMIT" };

typedef enum {
  REDUCE_NONE, REDUCE_SUM, REDUCE_LEN, REDUCE_ANY, REDUCE_ALL,
  /* aggregates, with GROUP BY */
  AGG_COUNT, AGG_AVG, AGG_MIN, AGG_MAX,
} Reducer;

static const char *const reducer_names[] = { "", "sum", "len", "any", "all", "count", "avg", "min", "max" };

typedef struct {
  Reducer reducer;
  char *field;     /* as written, without a leading '.'; NULL for count(*) */
  TslNode *expr;   /* the field as a TSL expression */
  char *alias;
} Item;

typedef struct {
  Item *item;      /* borrowed from select when it names one, else owned */
  gboolean owned;
  gboolean descending;
} OrderItem;

struct _MtvQuery {
  GPtrArray *select;   /* Item */
  char *where_text;
  TslNode *where;
  GPtrArray *group;    /* Item (fields) */
  GArray *order;       /* OrderItem */
  gint64 limit;        /* -1: none */
};

static void
item_free (Item *item)
{
  g_free (item->field);
  tsl_node_free (item->expr);
  g_free (item->alias);
  g_free (item);
}

void
mtv_query_free (MtvQuery *q)
{
  if (q == NULL)
    return;
  g_ptr_array_free (q->select, TRUE);
  g_free (q->where_text);
  tsl_node_free (q->where);
  g_ptr_array_free (q->group, TRUE);
  for (guint i = 0; i < q->order->len; i++)
    if (g_array_index (q->order, OrderItem, i).owned)
      item_free (g_array_index (q->order, OrderItem, i).item);
  g_array_free (q->order, TRUE);
  g_free (q);
}

static gboolean
query_error (GError **error, const char *kind, const char *format, const char *detail)
{
  g_autofree char *message = g_strdup_printf (format, detail);
  g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "%s: %s", kind, message);
  return FALSE;
}

/* ---- words at the top level ------------------------------------------------------ */

typedef enum { BEFORE_START, BEFORE_VALUE, BEFORE_OTHER } Before;

typedef struct {
  gsize start, end;   /* bytes */
  char *lower;
  Before before;      /* what precedes it: a value (name, number, ')') or an operator */
} Word;

static void
word_clear (gpointer p)
{
  g_free (((Word *) p)->lower);
}

static gboolean
is_word_char (char c)
{
  return g_ascii_isalnum (c) || c == '_' || (c & 0x80);
}

/* The words of @text outside quotes and brackets, with what precedes each. */
static GArray *
top_level_words (const char *text)
{
  GArray *words = g_array_new (FALSE, TRUE, sizeof (Word));
  g_array_set_clear_func (words, word_clear);
  int depth = 0;
  Before before = BEFORE_START;
  for (gsize i = 0; text[i];)
    {
      char c = text[i];
      if (c == '\'' || c == '"' || c == '`')
        {
          gsize j = i + 1;
          while (text[j] && text[j] != c)
            j += text[j] == '\\' && text[j + 1] ? 2 : 1;
          i = text[j] ? j + 1 : j;
          before = BEFORE_VALUE;
          continue;
        }
      if (c == '(' || c == '[')
        depth++;
      else if (c == ')' || c == ']')
        depth = MAX (0, depth - 1);
      if (is_word_char (c) || c == '.')
        {
          gsize j = i;
          while (is_word_char (text[j]) || text[j] == '.' || text[j] == '/')
            j++;
          if (depth == 0)
            {
              Word w = { i, j, g_ascii_strdown (text + i, (gssize) (j - i)), before };
              g_array_append_val (words, w);
            }
          before = BEFORE_VALUE;
          i = j;
          continue;
        }
      if (c == ')' || c == ']')
        before = BEFORE_VALUE;
      else if (!g_ascii_isspace (c))
        before = BEFORE_OTHER;
      i++;
    }
  return words;
}

/* Edit distance with transpositions, for "did you mean SELECT". */
static guint
edit_distance (const char *a, const char *b)
{
  gsize la = strlen (a), lb = strlen (b);
  if (la > 16 || lb > 16)
    return 99;
  guint d[17][17];
  for (gsize i = 0; i <= la; i++)
    d[i][0] = (guint) i;
  for (gsize j = 0; j <= lb; j++)
    d[0][j] = (guint) j;
  for (gsize i = 1; i <= la; i++)
    for (gsize j = 1; j <= lb; j++)
      {
        guint cost = a[i - 1] != b[j - 1];
        d[i][j] = MIN (MIN (d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
          d[i][j] = MIN (d[i][j], d[i - 2][j - 2] + 1);
      }
  return d[la][lb];
}

typedef struct {
  gboolean present;
  gsize keyword_start, start, end;   /* bytes: the keyword, and what follows it */
  gboolean sort_by;                  /* ORDER BY written as SORT BY */
} Clause;

static gboolean
is_clause_word (const GArray *words, guint i, ClauseKind *kind, guint *length)
{
  const Word *w = &g_array_index (words, Word, i);
  const Word *next = i + 1 < words->len ? &g_array_index (words, Word, i + 1) : NULL;
  gboolean by = next && strcmp (next->lower, "by") == 0;
  *length = 1;
  if (strcmp (w->lower, "select") == 0)
    *kind = CLAUSE_SELECT;
  else if (strcmp (w->lower, "where") == 0)
    *kind = CLAUSE_WHERE;
  else if (strcmp (w->lower, "limit") == 0)
    *kind = CLAUSE_LIMIT;
  else if (by && strcmp (w->lower, "group") == 0)
    *kind = CLAUSE_GROUP, *length = 2;
  else if (by && (strcmp (w->lower, "order") == 0 || strcmp (w->lower, "sort") == 0))
    *kind = CLAUSE_ORDER, *length = 2;
  else
    return FALSE;
  return TRUE;
}

static gboolean
check_typo (const Word *w, GError **error)
{
  static const char *const keywords[] = { "select", "where", "limit", "order", "sort", "group" };
  if (w->before == BEFORE_OTHER || strlen (w->lower) < 4)
    return TRUE;
  for (gsize k = 0; k < G_N_ELEMENTS (keywords); k++)
    if (strcmp (w->lower, keywords[k]) != 0 && edit_distance (w->lower, keywords[k]) == 1)
      {
        g_autofree char *upper = g_ascii_strup (keywords[k], -1);
        g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "Keyword Typo: '%s' looks like %s", w->lower, upper);
        return FALSE;
      }
  return TRUE;
}

/* Finds the clauses and checks them; @text already starts with a keyword (or is empty). */
static gboolean
split_clauses (const char *text, Clause clauses[N_CLAUSES], GError **error)
{
  g_autoptr (GArray) words = top_level_words (text);
  ClauseKind order[16];
  guint n_order = 0;
  memset (clauses, 0, sizeof (Clause) * N_CLAUSES);
  ClauseKind current = N_CLAUSES;
  for (guint i = 0; i < words->len; i++)
    {
      const Word *w = &g_array_index (words, Word, i);
      ClauseKind kind;
      guint length;
      if (!is_clause_word (words, i, &kind, &length))
        {
          /* A misspelt clause keyword stands where a keyword would: first, or after a value. */
          if ((w->before != BEFORE_OTHER) && (current != CLAUSE_WHERE || w->before == BEFORE_VALUE)
              && !check_typo (w, error))
            return FALSE;
          continue;
        }
      gboolean sort_by = kind == CLAUSE_ORDER && strcmp (w->lower, "sort") == 0;
      if (clauses[kind].present)
        {
          if (kind == CLAUSE_ORDER && clauses[kind].sort_by != sort_by)
            return query_error (error, "Conflicting Keywords", "%s", "ORDER BY and SORT BY mean the same; use one of them");
          return query_error (error, "Duplicate Keyword", "%s appears more than once", clause_names[kind]);
        }
      if (current != N_CLAUSES)
        clauses[current].end = w->start;
      clauses[kind].present = TRUE;
      clauses[kind].sort_by = sort_by;
      clauses[kind].keyword_start = w->start;
      clauses[kind].start = g_array_index (words, Word, i + length - 1).end;
      clauses[kind].end = strlen (text);
      current = kind;
      if (n_order < G_N_ELEMENTS (order))
        order[n_order++] = kind;
      i += length - 1;
    }
  for (guint i = 1; i < n_order; i++)
    if (order[i] < order[i - 1])
      {
        g_autofree char *what = g_strdup_printf ("%s must come before %s", clause_names[order[i]], clause_names[order[i - 1]]);
        return query_error (error, "Invalid Clause Order", "%s (SELECT, WHERE, GROUP BY, ORDER BY, LIMIT)", what);
      }
  for (int k = 0; k < N_CLAUSES; k++)
    if (clauses[k].present)
      {
        const char *s = text + clauses[k].start;
        gsize n = clauses[k].end - clauses[k].start;
        gboolean empty = TRUE;
        for (gsize i = 0; i < n; i++)
          empty &= g_ascii_isspace (s[i]) != 0;
        if (empty)
          return query_error (error, "Empty Clause", "%s has nothing after it", clause_names[k]);
      }
  return TRUE;
}

/* ---- items ------------------------------------------------------------------------ */

/* Splits at top-level commas. */
static GPtrArray *
split_list (const char *text)
{
  GPtrArray *parts = g_ptr_array_new_with_free_func (g_free);
  int depth = 0;
  const char *from = text;
  for (const char *p = text;; p++)
    {
      if (*p == '\'' || *p == '"' || *p == '`')
        {
          char q = *p;
          for (p++; *p && *p != q; p++)
            if (*p == '\\' && p[1])
              p++;
          if (!*p)
            p--;
          continue;
        }
      if (*p == '(' || *p == '[')
        depth++;
      else if (*p == ')' || *p == ']')
        depth--;
      if (*p == '\0' || (*p == ',' && depth == 0))
        {
          g_ptr_array_add (parts, g_strstrip (g_strndup (from, (gsize) (p - from))));
          if (*p == '\0')
            break;
          from = p + 1;
        }
    }
  return parts;
}

static Reducer
reducer_named (const char *word, gsize len, gboolean group)
{
  for (int r = REDUCE_SUM; r <= AGG_MAX; r++)
    if (strlen (reducer_names[r]) == len && g_ascii_strncasecmp (word, reducer_names[r], len) == 0)
      {
        if (r >= AGG_COUNT && !group)
          return REDUCE_NONE;  /* count/avg/min/max only aggregate groups */
        return (Reducer) r;
      }
  return REDUCE_NONE;
}

/* "field", "sum(field)", "len field", "count(*)", each with an optional "as alias". */
static Item *
parse_item (const char *text, gboolean group, GError **error)
{
  g_autofree char *body = g_strdup (text);
  g_autofree char *alias = NULL;
  /* The last top-level " as " gives the alias. */
  g_autoptr (GArray) words = top_level_words (body);
  for (guint i = words->len; i-- > 1;)
    {
      Word *w = &g_array_index (words, Word, i);
      if (strcmp (w->lower, "as") == 0 && i + 1 < words->len)
        {
          alias = g_strstrip (g_strdup (body + g_array_index (words, Word, i + 1).start));
          body[w->start] = '\0';
          g_strstrip (body);
          break;
        }
    }
  Item *item = g_new0 (Item, 1);
  const char *field = body;
  gsize word = strspn (body, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
  Reducer r = word ? reducer_named (body, word, group) : REDUCE_NONE;
  if (r != REDUCE_NONE && (body[word] == '(' || g_ascii_isspace (body[word])))
    {
      item->reducer = r;
      field = body + word;
      while (g_ascii_isspace (*field))
        field++;
    }
  g_autofree char *inner = NULL;
  if (item->reducer != REDUCE_NONE && *field == '(' && field[strlen (field) - 1] == ')')
    field = inner = g_strstrip (g_strndup (field + 1, strlen (field) - 2));
  if (*field == '.')
    field++;
  if (*field == '{')
    {
      query_error (error, "Invalid Field", "'%s': JSONPath templates are not supported; write a field path", field);
      item_free (item);
      return NULL;
    }
  if (item->reducer == AGG_COUNT && strcmp (field, "*") == 0)
    {
      item->alias = g_strdup (alias ? alias : "count");
      return item;
    }
  if (*field == '\0')
    {
      query_error (error, "Empty Field", "'%s' names no field", text);
      item_free (item);
      return NULL;
    }
  item->expr = tsl_parse (field, error);
  if (item->expr == NULL)
    {
      g_prefix_error (error, "in '%s': ", text);
      item_free (item);
      return NULL;
    }
  item->field = g_strdup (field);
  item->alias = g_strdup (alias ? alias : field);
  return item;
}

static gboolean
parse_select (MtvQuery *q, const char *text, gboolean group, GError **error)
{
  g_autoptr (GPtrArray) parts = split_list (text);
  for (guint i = 0; i < parts->len; i++)
    {
      Item *item = parse_item (parts->pdata[i], group, error);
      if (item == NULL)
        return FALSE;
      g_ptr_array_add (q->select, item);
    }
  return TRUE;
}

static Item *
select_item_named (const MtvQuery *q, const char *name)
{
  const char *bare = name[0] == '.' ? name + 1 : name;
  for (guint i = 0; i < q->select->len; i++)
    {
      Item *item = q->select->pdata[i];
      if (g_strcmp0 (item->alias, bare) == 0 || g_strcmp0 (item->field, bare) == 0)
        return item;
    }
  return NULL;
}

static gboolean
parse_order (MtvQuery *q, const char *text, gboolean group, GError **error)
{
  g_autoptr (GPtrArray) parts = split_list (text);
  for (guint i = 0; i < parts->len; i++)
    {
      char *part = parts->pdata[i];
      OrderItem o = { NULL, FALSE, FALSE };
      char *space = strrchr (part, ' ');
      const char *last = space ? space + 1 : part;
      if (space && (g_ascii_strcasecmp (last, "desc") == 0 || g_ascii_strcasecmp (last, "asc") == 0))
        {
          o.descending = g_ascii_strcasecmp (last, "desc") == 0;
          *space = '\0';
          g_strstrip (part);
        }
      o.item = select_item_named (q, part);
      if (o.item == NULL)
        {
          if ((o.item = parse_item (part, group, error)) == NULL)
            return FALSE;
          o.owned = TRUE;
        }
      g_array_append_val (q->order, o);
    }
  return TRUE;
}

static char *
clause_text (const char *text, const Clause *c)
{
  return g_strstrip (g_strndup (text + c->start, c->end - c->start));
}

gboolean
mtv_query_has_clause_keyword (const char *text)
{
  g_autoptr (GArray) words = top_level_words (text);
  ClauseKind kind;
  guint length;
  return words->len > 0 && g_array_index (words, Word, 0).start == (gsize) (strspn (text, " \t\r\n"))
         && is_clause_word (words, 0, &kind, &length);
}

MtvQuery *
mtv_query_parse (const char *text, GError **error)
{
  if (!g_utf8_validate (text, -1, NULL))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "the query is not valid UTF-8");
      return NULL;
    }
  g_autoptr (MtvQuery) q = g_new0 (MtvQuery, 1);
  q->select = g_ptr_array_new_with_free_func ((GDestroyNotify) item_free);
  q->group = g_ptr_array_new_with_free_func ((GDestroyNotify) item_free);
  q->order = g_array_new (FALSE, FALSE, sizeof (OrderItem));
  q->limit = -1;
  g_autofree char *trimmed = g_strstrip (g_strdup (text));
  /* A bare filter is a WHERE, but a misspelt keyword up front is a typo. */
  g_autofree char *full = NULL;
  if (*trimmed && !mtv_query_has_clause_keyword (trimmed))
    {
      g_autoptr (GArray) words = top_level_words (trimmed);
      if (words->len && g_array_index (words, Word, 0).start == 0 && !check_typo (&g_array_index (words, Word, 0), error))
        return NULL;
      full = g_strconcat ("where ", trimmed, NULL);
    }
  else
    full = g_strdup (trimmed);
  Clause clauses[N_CLAUSES];
  if (!split_clauses (full, clauses, error))
    return NULL;
  gboolean group = clauses[CLAUSE_GROUP].present;
  if (clauses[CLAUSE_SELECT].present)
    {
      g_autofree char *s = clause_text (full, &clauses[CLAUSE_SELECT]);
      if (!parse_select (q, s, group, error))
        return NULL;
    }
  if (clauses[CLAUSE_WHERE].present)
    {
      q->where_text = clause_text (full, &clauses[CLAUSE_WHERE]);
      if ((q->where = tsl_parse (q->where_text, error)) == NULL)
        {
          g_prefix_error (error, "WHERE: ");
          return NULL;
        }
    }
  if (group)
    {
      g_autofree char *s = clause_text (full, &clauses[CLAUSE_GROUP]);
      g_autoptr (GPtrArray) parts = split_list (s);
      for (guint i = 0; i < parts->len; i++)
        {
          Item *item = parse_item (parts->pdata[i], FALSE, error);
          if (item == NULL)
            return NULL;
          g_ptr_array_add (q->group, item);
        }
      for (guint i = 0; i < q->select->len; i++)
        {
          Item *item = q->select->pdata[i];
          gboolean grouped = item->reducer >= AGG_COUNT || item->reducer == REDUCE_SUM;
          for (guint k = 0; !grouped && k < q->group->len; k++)
            grouped = g_strcmp0 (((Item *) q->group->pdata[k])->field, item->field) == 0;
          if (!grouped)
            {
              query_error (error, "Invalid Select", "'%s' is neither in GROUP BY nor aggregated (count, sum, avg, min, max)",
                           item->field);
              return NULL;
            }
        }
    }
  if (clauses[CLAUSE_ORDER].present)
    {
      g_autofree char *s = clause_text (full, &clauses[CLAUSE_ORDER]);
      if (!parse_order (q, s, group, error))
        return NULL;
    }
  if (clauses[CLAUSE_LIMIT].present)
    {
      g_autofree char *s = clause_text (full, &clauses[CLAUSE_LIMIT]);
      char *end;
      guint64 n = g_ascii_strtoull (s, &end, 10);
      if (!g_ascii_isdigit (*s) || *end != '\0' || n > G_MAXINT32)
        {
          query_error (error, "Invalid Limit", "LIMIT takes a whole number, not '%s'", s);
          return NULL;
        }
      q->limit = (gint64) n;
    }
  return g_steal_pointer (&q);
}

/* ---- describing --------------------------------------------------------------------- */

static void
append_item (GString *out, const Item *item)
{
  const char *dot = item->field && (g_ascii_isalpha (item->field[0]) || item->field[0] == '_') ? "." : "";
  if (item->reducer != REDUCE_NONE)
    g_string_append_printf (out, "%s(%s%s) as %s", reducer_names[item->reducer], dot, item->field ? item->field : "*",
                            item->alias);
  else
    g_string_append_printf (out, "%s%s as %s", dot, item->field, item->alias);
}

char *
mtv_query_describe (const MtvQuery *q)
{
  GString *out = g_string_new ("select[");
  for (guint i = 0; i < q->select->len; i++)
    {
      if (i)
        g_string_append (out, ", ");
      append_item (out, q->select->pdata[i]);
    }
  if (q->select->len == 0)
    g_string_append_c (out, '-');
  g_string_append_printf (out, "] | where[%s] | ", q->where_text ? q->where_text : "");
  if (q->group->len)
    {
      g_string_append (out, "groupby[");
      for (guint i = 0; i < q->group->len; i++)
        g_string_append_printf (out, "%s.%s", i ? ", " : "", ((Item *) q->group->pdata[i])->field);
      g_string_append (out, "] | ");
    }
  g_string_append (out, "orderby[");
  for (guint i = 0; i < q->order->len; i++)
    {
      const OrderItem *o = &g_array_index (q->order, OrderItem, i);
      if (i)
        g_string_append (out, ", ");
      append_item (out, o->item);
      g_string_append (out, o->descending ? " DESC" : " ASC");
    }
  if (q->order->len == 0)
    g_string_append_c (out, '-');
  g_string_append_printf (out, "] | limit %" G_GINT64_FORMAT, q->limit);
  return g_string_free (out, FALSE);
}

GStrv
mtv_query_columns (const MtvQuery *q)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  if (q->group->len && q->select->len == 0)
    {
      for (guint i = 0; i < q->group->len; i++)
        g_strv_builder_add (b, ((Item *) q->group->pdata[i])->field);
      g_strv_builder_add (b, "count");
    }
  else if (q->select->len == 0)
    return NULL;
  for (guint i = 0; i < q->select->len; i++)
    g_strv_builder_add (b, ((Item *) q->select->pdata[i])->alias);
  return g_strv_builder_end (b);
}

/* ---- running ------------------------------------------------------------------------ */

typedef struct {
  const MtvQuery *q;
  JsonNode *doc;
} RowLookup;

static gboolean
item_value (const Item *item, JsonNode *doc, TslArena *arena, TslValue *out, GError **error)
{
  if (!tsl_evaluate (item->expr, tsl_document_lookup, doc, arena, out, error))
    return FALSE;
  static const TslOp ops[] = { TSL_OP_NONE, TSL_OP_SUM, TSL_OP_LEN, TSL_OP_ANY, TSL_OP_ALL };
  if (item->reducer == REDUCE_NONE || item->reducer >= AGG_COUNT)
    return TRUE;
  TslValue x = *out;
  return tsl_reduce (ops[item->reducer], &x, arena, out, error);
}

/* WHERE may name a SELECT alias ("select .foo as f where f > 2"). */
static gboolean
row_lookup (const TslNode *identifier, TslValue *value, TslArena *arena, gpointer user_data)
{
  RowLookup *r = user_data;
  for (guint i = 0; i < r->q->select->len; i++)
    {
      Item *item = r->q->select->pdata[i];
      if (item->expr && strcmp (item->alias, identifier->text) == 0 && g_strcmp0 (item->field, identifier->text) != 0)
        {
          if (item_value (item, r->doc, arena, value, NULL))
            return TRUE;
          *value = (TslValue) { .type = TSL_VALUE_NULL };
          return TRUE;
        }
    }
  return tsl_document_lookup (identifier, value, arena, r->doc);
}

static const char *
row_name (JsonNode *doc)
{
  if (JSON_NODE_HOLDS_OBJECT (doc))
    {
      JsonObject *o = json_node_get_object (doc);
      if (json_object_has_member (o, "name") && JSON_NODE_HOLDS_VALUE (json_object_get_member (o, "name")))
        return json_object_get_string_member (o, "name");
    }
  return NULL;
}

typedef struct {
  JsonNode *row;        /* output */
  JsonNode *source;     /* the document it came from (NULL for groups) */
  guint index;
  TslValue *keys;       /* ORDER BY values */
} Row;

static gboolean
set_member (JsonObject *o, const char *name, const TslValue *v)
{
  json_object_set_member (o, name, tsl_value_to_json (v));
  return TRUE;
}

typedef struct {
  GPtrArray *docs;      /* the group's documents */
} Group;

static void
group_free (Group *g)
{
  g_ptr_array_free (g->docs, TRUE);
  g_free (g);
}

static gboolean
aggregate (const Item *item, GPtrArray *docs, TslArena *arena, TslValue *out, GError **error)
{
  if (item->reducer == AGG_COUNT && item->expr == NULL)
    {
      *out = (TslValue) { .type = TSL_VALUE_NUMBER, .number = docs->len };
      return TRUE;
    }
  double sum = 0;
  guint count = 0;
  TslValue best = { .type = TSL_VALUE_NULL };
  for (guint i = 0; i < docs->len; i++)
    {
      TslValue v;
      if (!tsl_evaluate (item->expr, tsl_document_lookup, docs->pdata[i], arena, &v, error))
        return FALSE;
      if (v.type == TSL_VALUE_NULL)
        continue;
      count++;
      if (item->reducer == REDUCE_SUM || item->reducer == AGG_AVG)
        {
          if (v.type != TSL_VALUE_NUMBER)
            {
              g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "%s(%s): not a number in every row",
                           reducer_names[item->reducer], item->field);
              return FALSE;
            }
          sum += v.number;
        }
      else if (item->reducer == AGG_MIN || item->reducer == AGG_MAX)
        {
          int order = tsl_value_compare (&v, &best);
          if (best.type == TSL_VALUE_NULL || (item->reducer == AGG_MIN ? order < 0 : order > 0))
            best = v;
        }
    }
  switch (item->reducer)
    {
    case AGG_COUNT: *out = (TslValue) { .type = TSL_VALUE_NUMBER, .number = count }; break;
    case REDUCE_SUM: *out = (TslValue) { .type = TSL_VALUE_NUMBER, .number = sum }; break;
    case AGG_AVG:
      *out = count ? (TslValue) { .type = TSL_VALUE_NUMBER, .number = sum / count } : (TslValue) { .type = TSL_VALUE_NULL };
      break;
    default: *out = best; break;
    }
  return TRUE;
}

static gboolean
run_groups (const MtvQuery *q, GPtrArray *kept, TslArena *arena, GPtrArray *rows, GError **error)
{
  g_autoptr (GHashTable) index = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GPtrArray) groups = g_ptr_array_new_with_free_func ((GDestroyNotify) group_free);
  for (guint i = 0; i < kept->len; i++)
    {
      g_autoptr (GString) key = g_string_new (NULL);
      for (guint k = 0; k < q->group->len; k++)
        {
          TslValue v;
          if (!item_value (q->group->pdata[k], kept->pdata[i], arena, &v, error))
            return FALSE;
          g_autoptr (JsonNode) j = tsl_value_to_json (&v);
          g_autofree char *s = json_to_string (j, FALSE);
          g_string_append (key, s);
          g_string_append_c (key, '\x1f');
        }
      gpointer at;
      if (!g_hash_table_lookup_extended (index, key->str, NULL, &at))
        {
          Group *g = g_new0 (Group, 1);
          g->docs = g_ptr_array_new ();
          at = GUINT_TO_POINTER (groups->len);
          g_ptr_array_add (groups, g);
          g_hash_table_insert (index, g_strdup (key->str), at);
        }
      g_ptr_array_add (((Group *) groups->pdata[GPOINTER_TO_UINT (at)])->docs, kept->pdata[i]);
    }
  for (guint i = 0; i < groups->len; i++)
    {
      Group *g = groups->pdata[i];
      JsonObject *o = json_object_new ();
      TslValue v;
      if (q->select->len == 0)
        {
          for (guint k = 0; k < q->group->len; k++)
            {
              Item *item = q->group->pdata[k];
              if (item_value (item, g->docs->pdata[0], arena, &v, error))
                set_member (o, item->field, &v);
            }
          set_member (o, "count", &(TslValue) { .type = TSL_VALUE_NUMBER, .number = g->docs->len });
        }
      for (guint k = 0; k < q->select->len; k++)
        {
          Item *item = q->select->pdata[k];
          gboolean ok = item->reducer >= AGG_COUNT || item->reducer == REDUCE_SUM
                            ? aggregate (item, g->docs, arena, &v, error)
                            : item_value (item, g->docs->pdata[0], arena, &v, error);
          if (!ok)
            {
              json_object_unref (o);
              return FALSE;
            }
          set_member (o, item->alias, &v);
        }
      Row *row = g_new0 (Row, 1);
      row->row = json_node_init_object (json_node_alloc (), o);
      json_object_unref (o);
      row->index = i;
      g_ptr_array_add (rows, row);
    }
  return TRUE;
}

static void
row_free (Row *row)
{
  json_node_unref (row->row);
  g_free (row->keys);
  g_free (row);
}

static int
compare_rows (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const MtvQuery *q = user_data;
  const Row *x = *(Row *const *) a, *y = *(Row *const *) b;
  for (guint i = 0; i < q->order->len; i++)
    {
      int order = tsl_value_compare (&x->keys[i], &y->keys[i]);
      if (order)
        return g_array_index (q->order, OrderItem, i).descending ? -order : order;
    }
  return x->index < y->index ? -1 : x->index > y->index;
}

/* ORDER BY values of a row: from its document, or for groups from the row. */
static gboolean
order_keys (const MtvQuery *q, Row *row, TslArena *arena, GError **error)
{
  row->keys = g_new0 (TslValue, MAX (1u, q->order->len));
  for (guint i = 0; i < q->order->len; i++)
    {
      const Item *item = g_array_index (q->order, OrderItem, i).item;
      TslValue v;
      gboolean ok;
      if (row->source)
        ok = item->expr ? item_value (item, row->source, arena, &v, error)
                        : (v = (TslValue) { .type = TSL_VALUE_NULL }, TRUE);
      else
        {
          JsonObject *o = json_node_get_object (row->row);
          JsonNode *member = json_object_get_member (o, item->alias);
          if (member == NULL && item->field)
            member = json_object_get_member (o, item->field);
          tsl_value_from_json (member, &v, arena);
          ok = TRUE;
        }
      if (!ok)
        return FALSE;
      /* An array orders by its length. */
      if (v.type == TSL_VALUE_ARRAY)
        v = (TslValue) { .type = TSL_VALUE_NUMBER, .number = v.n_items };
      row->keys[i] = v;
    }
  return TRUE;
}

/* The documents WHERE keeps, borrowed from @docs. */
static GPtrArray *
filter (const MtvQuery *q, JsonArray *docs, TslArena *arena, GError **error)
{
  g_autoptr (GPtrArray) kept = g_ptr_array_new ();
  guint n = json_array_get_length (docs);
  for (guint i = 0; i < n; i++)
    {
      JsonNode *doc = json_array_get_element (docs, i);
      if (!JSON_NODE_HOLDS_OBJECT (doc))
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "item at index %u is not an object", i);
          return NULL;
        }
      if (q->where)
        {
          TslValue v;
          RowLookup r = { q, doc };
          GError *local = NULL;
          tsl_arena_reset (arena);
          if (!tsl_evaluate (q->where, row_lookup, &r, arena, &v, &local))
            {
              const char *name = row_name (doc);
              g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "WHERE, on %s%s%s (index %u): %s", name ? "'" : "",
                           name ? name : "the item", name ? "'" : "", i, local->message);
              g_error_free (local);
              return NULL;
            }
          if (!tsl_value_truthy (&v))
            continue;
        }
      g_ptr_array_add (kept, doc);
    }
  return g_steal_pointer (&kept);
}

JsonArray *
mtv_query_filter (const MtvQuery *q, JsonArray *docs, GError **error)
{
  g_autoptr (TslArena) arena = tsl_arena_new ();
  g_autoptr (GPtrArray) kept = filter (q, docs, arena, error);
  if (kept == NULL)
    return NULL;
  JsonArray *out = json_array_sized_new (kept->len);
  for (guint i = 0; i < kept->len; i++)
    json_array_add_element (out, json_node_ref (kept->pdata[i]));
  return out;
}

JsonArray *
mtv_query_run (const MtvQuery *q, JsonArray *docs, GError **error)
{
  g_autoptr (TslArena) arena = tsl_arena_new ();
  g_autoptr (GPtrArray) kept = filter (q, docs, arena, error);
  if (kept == NULL)
    return NULL;
  tsl_arena_reset (arena);
  g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) row_free);
  if (q->group->len)
    {
      if (!run_groups (q, kept, arena, rows, error))
        return NULL;
    }
  else
    for (guint i = 0; i < kept->len; i++)
      {
        Row *row = g_new0 (Row, 1);
        row->source = kept->pdata[i];
        row->index = i;
        if (q->select->len == 0)
          row->row = json_node_ref (row->source);
        else
          {
            JsonObject *o = json_object_new ();
            for (guint k = 0; k < q->select->len; k++)
              {
                Item *item = q->select->pdata[k];
                TslValue v;
                if (!item_value (item, row->source, arena, &v, error))
                  {
                    json_object_unref (o);
                    g_free (row);
                    return NULL;
                  }
                set_member (o, item->alias, &v);
              }
            row->row = json_node_init_object (json_node_alloc (), o);
            json_object_unref (o);
          }
        g_ptr_array_add (rows, row);
      }
  if (q->order->len)
    {
      /* The keys borrow from the documents and the arena (not reset until the end). */
      for (guint i = 0; i < rows->len; i++)
        if (!order_keys (q, rows->pdata[i], arena, error))
          return NULL;
      g_ptr_array_sort_with_data (rows, compare_rows, (gpointer) q);
    }
  guint limit = q->limit < 0 ? rows->len : (guint) MIN ((gint64) rows->len, q->limit);
  JsonArray *out = json_array_sized_new (limit);
  for (guint i = 0; i < limit; i++)
    json_array_add_element (out, json_node_ref (((Row *) rows->pdata[i])->row));
  return out;
}
