/* TSL evaluation. Numbers are doubles, strings compare bytewise, strings that
 * read as dates compare as times; arithmetic, comparisons and matches
 * broadcast over arrays (yielding arrays) and any/all/len/sum reduce them.
 * A null makes =, <, >, like and ~= false and != and ~! true. Values borrow
 * strings from the tree and the document; arrays live in the arena, so
 * evaluating a row allocates nothing once the arena has grown. */
#include "tsl.h"
#include "tsl-private.h"

#include "mtv-error.h"

#include <math.h>
#include <string.h>

/* ---- the arena ---------------------------------------------------------------- */

#define CHUNK (64 * 1024)

struct _TslArena {
  GPtrArray *chunks;   /* the first one stays across resets */
  gsize used;          /* in the last chunk */
  GPtrArray *large;    /* allocations bigger than a chunk */
};

TslArena *
tsl_arena_new (void)
{
  TslArena *a = g_new0 (TslArena, 1);
  a->chunks = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (a->chunks, g_malloc (CHUNK));
  a->large = g_ptr_array_new_with_free_func (g_free);
  return a;
}

void
tsl_arena_reset (TslArena *a)
{
  g_ptr_array_set_size (a->chunks, 1);
  g_ptr_array_set_size (a->large, 0);
  a->used = 0;
}

void
tsl_arena_free (TslArena *a)
{
  if (a == NULL)
    return;
  g_ptr_array_free (a->chunks, TRUE);
  g_ptr_array_free (a->large, TRUE);
  g_free (a);
}

static gpointer
arena_alloc (TslArena *a, gsize size)
{
  size = (size + 15) & ~(gsize) 15;
  if (size > CHUNK / 4)
    {
      gpointer p = g_malloc0 (size);
      g_ptr_array_add (a->large, p);
      return p;
    }
  if (a->used + size > CHUNK)
    {
      g_ptr_array_add (a->chunks, g_malloc (CHUNK));
      a->used = 0;
    }
  guint8 *p = (guint8 *) a->chunks->pdata[a->chunks->len - 1] + a->used;
  a->used += size;
  memset (p, 0, size);
  return p;
}

TslValue *
tsl_arena_values (TslArena *a, guint n)
{
  return arena_alloc (a, MAX (1u, n) * sizeof (TslValue));
}

/* ---- values --------------------------------------------------------------------- */

static void
set_bool (TslValue *v, gboolean b)
{
  *v = (TslValue) { .type = TSL_VALUE_BOOL, .boolean = b };
}

static void
set_number (TslValue *v, double n)
{
  *v = (TslValue) { .type = TSL_VALUE_NUMBER, .number = n };
}

/* A cheap first look before the full date check: most strings fail here. */
static gboolean
maybe_date (const char *s)
{
  return g_ascii_isdigit (s[0]) && g_ascii_isdigit (s[1]) && g_ascii_isdigit (s[2]) && g_ascii_isdigit (s[3]) && s[4] == '-';
}

static void
set_string (TslValue *v, const char *s)
{
  gint64 t;
  if (maybe_date (s) && tsl_parse_time (s, &t, NULL))
    *v = (TslValue) { .type = TSL_VALUE_TIME, .time = t, .string = s };
  else
    *v = (TslValue) { .type = TSL_VALUE_STRING, .string = s };
}

void
tsl_value_from_json (JsonNode *node, TslValue *v, TslArena *arena)
{
  *v = (TslValue) { .type = TSL_VALUE_NULL };
  if (node == NULL)
    return;
  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_NULL:
      return;
    case JSON_NODE_OBJECT:
      *v = (TslValue) { .type = TSL_VALUE_OBJECT, .object = node };
      return;
    case JSON_NODE_ARRAY:
      {
        JsonArray *array = json_node_get_array (node);
        guint n = json_array_get_length (array);
        v->type = TSL_VALUE_ARRAY;
        v->items = tsl_arena_values (arena, n);
        v->n_items = n;
        for (guint i = 0; i < n; i++)
          tsl_value_from_json (json_array_get_element (array, i), &v->items[i], arena);
        return;
      }
    case JSON_NODE_VALUE:
      break;
    }
  switch (json_node_get_value_type (node))
    {
    case G_TYPE_BOOLEAN:
      set_bool (v, json_node_get_boolean (node));
      return;
    case G_TYPE_STRING:
      set_string (v, json_node_get_string (node));
      return;
    case G_TYPE_INT64:
    case G_TYPE_DOUBLE:
      set_number (v, json_node_get_double (node));
      return;
    default:
      return;
    }
}

JsonNode *
tsl_value_to_json (const TslValue *v)
{
  JsonNode *n = json_node_new (JSON_NODE_VALUE);
  switch (v->type)
    {
    case TSL_VALUE_NULL:
      json_node_init_null (n);
      break;
    case TSL_VALUE_BOOL:
      json_node_set_boolean (n, v->boolean);
      break;
    case TSL_VALUE_NUMBER:
      json_node_unref (n);
      return tsl_number_to_json (v->number);
    case TSL_VALUE_STRING:
      json_node_set_string (n, v->string);
      break;
    case TSL_VALUE_TIME:
      if (v->string)
        json_node_set_string (n, v->string);
      else
        {
          g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (v->time / G_USEC_PER_SEC);
          g_autofree char *s = g_date_time_format_iso8601 (dt);
          json_node_set_string (n, s);
        }
      break;
    case TSL_VALUE_ARRAY:
      {
        JsonArray *array = json_array_sized_new (v->n_items);
        for (guint i = 0; i < v->n_items; i++)
          json_array_add_element (array, tsl_value_to_json (&v->items[i]));
        json_node_init_array (n, array);
        json_array_unref (array);
        break;
      }
    case TSL_VALUE_OBJECT:
      json_node_unref (n);
      return json_node_copy (v->object);
    }
  return n;
}

gboolean
tsl_value_truthy (const TslValue *v)
{
  if (v->type == TSL_VALUE_BOOL)
    return v->boolean;
  if (v->type == TSL_VALUE_ARRAY)
    for (guint i = 0; i < v->n_items; i++)
      if (tsl_value_truthy (&v->items[i]))
        return TRUE;
  return FALSE;
}

/* ---- the walk ------------------------------------------------------------------- */

typedef struct {
  TslLookup lookup;
  gpointer user_data;
  TslArena *arena;
  GError **error;
} Eval;

static gboolean eval (Eval *e, const TslNode *n, TslValue *out);

static gboolean
fail (Eval *e, const char *format, const char *detail)
{
  g_set_error (e->error, MTV_ERROR, MTV_ERROR_INVALID, format, detail);
  return FALSE;
}

static const char *
type_name (TslValueType t)
{
  static const char *const names[] = { "null", "boolean", "number", "string", "date", "array", "object" };
  return names[t];
}

/* SQL LIKE: % any run, _ one character, the rest literal; the whole string. */
static gboolean
like (const char *s, const char *pattern)
{
  while (*pattern)
    {
      if (*pattern == '%')
        {
          while (*pattern == '%')
            pattern++;
          if (!*pattern)
            return TRUE;
          for (const char *t = s; ; t = g_utf8_next_char (t))
            {
              if (like (t, pattern))
                return TRUE;
              if (!*t)
                return FALSE;
            }
        }
      if (!*s)
        return FALSE;
      if (*pattern == '_')
        {
          s = g_utf8_next_char (s);
          pattern++;
          continue;
        }
      if (*s != *pattern)
        return FALSE;
      s++;
      pattern++;
    }
  return *s == '\0';
}

static int
compare_numbers (double a, double b)
{
  return a < b ? -1 : a > b;
}

/* Compares two scalars: TRUE with *order set when they are comparable. */
static gboolean
compare_scalars (const TslValue *a, const TslValue *b, int *order)
{
  if (a->type == TSL_VALUE_TIME && b->type == TSL_VALUE_TIME)
    *order = a->time < b->time ? -1 : a->time > b->time;
  else if (a->type == TSL_VALUE_NUMBER && b->type == TSL_VALUE_NUMBER)
    *order = compare_numbers (a->number, b->number);
  else if ((a->type == TSL_VALUE_STRING || a->type == TSL_VALUE_TIME)
           && (b->type == TSL_VALUE_STRING || b->type == TSL_VALUE_TIME))
    *order = strcmp (a->string ? a->string : "", b->string ? b->string : "");
  else if (a->type == TSL_VALUE_BOOL && b->type == TSL_VALUE_BOOL)
    *order = (int) a->boolean - (int) b->boolean;
  else if (a->type == TSL_VALUE_NULL && b->type == TSL_VALUE_NULL)
    *order = 0;
  else
    return FALSE;
  return TRUE;
}

static gboolean
values_equal (const TslValue *a, const TslValue *b)
{
  int order;
  return compare_scalars (a, b, &order) && order == 0;
}

static gboolean
regex_for (Eval *e, const TslNode *n, const char *pattern, GRegex **owned, GRegex **regex)
{
  if (n->regex && n->right->kind == TSL_NODE_STRING)
    {
      *regex = n->regex;
      return TRUE;
    }
  GError *local = NULL;
  *owned = *regex = g_regex_new (pattern, 0, 0, &local);
  if (*regex == NULL)
    {
      g_set_error (e->error, MTV_ERROR, MTV_ERROR_INVALID, "error parsing regexp %s: %s", pattern, local->message);
      g_error_free (local);
      return FALSE;
    }
  return TRUE;
}

/* A binary operator on two scalars. */
static gboolean
apply_scalar (Eval *e, const TslNode *n, const TslValue *a, const TslValue *b, TslValue *out)
{
  int order = 0;
  switch (n->op)
    {
    case TSL_OP_EQ:
    case TSL_OP_NE:
      set_bool (out, values_equal (a, b) == (n->op == TSL_OP_EQ));
      return TRUE;
    case TSL_OP_LT: case TSL_OP_LE: case TSL_OP_GT: case TSL_OP_GE:
      if (a->type == TSL_VALUE_NULL || b->type == TSL_VALUE_NULL || !compare_scalars (a, b, &order))
        {
          set_bool (out, FALSE);
          return TRUE;
        }
      set_bool (out, n->op == TSL_OP_LT ? order < 0 : n->op == TSL_OP_LE ? order <= 0
                     : n->op == TSL_OP_GT ? order > 0 : order >= 0);
      return TRUE;
    case TSL_OP_LIKE:
    case TSL_OP_ILIKE:
      if (!a->string || !b->string)
        {
          set_bool (out, FALSE);
          return TRUE;
        }
      if (n->op == TSL_OP_LIKE)
        set_bool (out, like (a->string, b->string));
      else
        {
          g_autofree char *s = g_utf8_casefold (a->string, -1);
          g_autofree char *p = g_utf8_casefold (b->string, -1);
          set_bool (out, like (s, p));
        }
      return TRUE;
    case TSL_OP_REQ:
    case TSL_OP_RNE:
      {
        if (!a->string || !b->string)
          {
            set_bool (out, n->op == TSL_OP_RNE);
            return TRUE;
          }
        g_autoptr (GRegex) owned = NULL;
        GRegex *regex;
        if (!regex_for (e, n, b->string, &owned, &regex))
          return FALSE;
        set_bool (out, g_regex_match (regex, a->string, 0, NULL) == (n->op == TSL_OP_REQ));
        return TRUE;
      }
    case TSL_OP_ADD: case TSL_OP_SUB: case TSL_OP_MUL: case TSL_OP_DIV: case TSL_OP_MOD:
      if (a->type == TSL_VALUE_NULL || b->type == TSL_VALUE_NULL)
        {
          *out = (TslValue) { .type = TSL_VALUE_NULL };
          return TRUE;
        }
      if (a->type != TSL_VALUE_NUMBER || b->type != TSL_VALUE_NUMBER)
        return fail (e, "type mismatch: expected number, got %s",
                     type_name (a->type != TSL_VALUE_NUMBER ? a->type : b->type));
      if ((n->op == TSL_OP_DIV || n->op == TSL_OP_MOD) && b->number == 0)
        return fail (e, "%s by zero", n->op == TSL_OP_DIV ? "division" : "modulus");
      set_number (out, n->op == TSL_OP_ADD ? a->number + b->number : n->op == TSL_OP_SUB ? a->number - b->number
                       : n->op == TSL_OP_MUL ? a->number * b->number : n->op == TSL_OP_DIV ? a->number / b->number
                       : fmod (a->number, b->number));
      return TRUE;
    case TSL_OP_AND:
    case TSL_OP_OR:
      for (int i = 0; i < 2; i++)
        {
          const TslValue *x = i ? b : a;
          if (x->type != TSL_VALUE_BOOL && x->type != TSL_VALUE_NULL)
            return fail (e, "type mismatch: expected boolean, got %s", type_name (x->type));
        }
      set_bool (out, n->op == TSL_OP_AND ? a->boolean && b->boolean : a->boolean || b->boolean);
      return TRUE;
    default:
      return fail (e, "operator %s cannot be used here", tsl_op_name (n->op));
    }
}

/* A binary operator, broadcast when one side (or both, of one length) is an array. */
static gboolean
apply (Eval *e, const TslNode *n, const TslValue *a, const TslValue *b, TslValue *out)
{
  gboolean aa = a->type == TSL_VALUE_ARRAY, ba = b->type == TSL_VALUE_ARRAY;
  if (!aa && !ba)
    return apply_scalar (e, n, a, b, out);
  if (aa && ba && a->n_items != b->n_items)
    return fail (e, "%s on arrays of different lengths", tsl_op_name (n->op));
  guint len = aa ? a->n_items : b->n_items;
  out->type = TSL_VALUE_ARRAY;
  out->n_items = len;
  out->items = tsl_arena_values (e->arena, len);
  for (guint i = 0; i < len; i++)
    if (!apply (e, n, aa ? &a->items[i] : a, ba ? &b->items[i] : b, &out->items[i]))
      return FALSE;
  return TRUE;
}

static gboolean
eval_in (Eval *e, const TslValue *x, const TslValue *list, TslValue *out)
{
  if (list->type != TSL_VALUE_ARRAY)
    return fail (e, "type mismatch: expected array after in, got %s", type_name (list->type));
  if (x->type == TSL_VALUE_ARRAY)
    {
      out->type = TSL_VALUE_ARRAY;
      out->n_items = x->n_items;
      out->items = tsl_arena_values (e->arena, x->n_items);
      for (guint i = 0; i < x->n_items; i++)
        eval_in (e, &x->items[i], list, &out->items[i]);
      return TRUE;
    }
  for (guint i = 0; i < list->n_items; i++)
    if (values_equal (x, &list->items[i]))
      {
        set_bool (out, TRUE);
        return TRUE;
      }
  set_bool (out, FALSE);
  return TRUE;
}

static gboolean
eval_between (Eval *e, const TslNode *n, const TslValue *x, const TslValue *range, TslValue *out)
{
  if (range->type != TSL_VALUE_ARRAY || range->n_items != 2)
    return fail (e, "between needs two values (between A and B)%s", "");
  if (x->type == TSL_VALUE_ARRAY)
    {
      out->type = TSL_VALUE_ARRAY;
      out->n_items = x->n_items;
      out->items = tsl_arena_values (e->arena, x->n_items);
      for (guint i = 0; i < x->n_items; i++)
        if (!eval_between (e, n, &x->items[i], range, &out->items[i]))
          return FALSE;
      return TRUE;
    }
  int low, high;
  set_bool (out, x->type != TSL_VALUE_NULL && compare_scalars (x, &range->items[0], &low)
                     && compare_scalars (x, &range->items[1], &high) && low >= 0 && high <= 0);
  return TRUE;
}

static gboolean
eval_unary (Eval *e, const TslNode *n, const TslValue *x, TslValue *out)
{
  switch (n->op)
    {
    case TSL_OP_NOT:
    case TSL_OP_NEG:
      if (x->type == TSL_VALUE_ARRAY)
        {
          out->type = TSL_VALUE_ARRAY;
          out->n_items = x->n_items;
          out->items = tsl_arena_values (e->arena, x->n_items);
          for (guint i = 0; i < x->n_items; i++)
            if (!eval_unary (e, n, &x->items[i], &out->items[i]))
              return FALSE;
          return TRUE;
        }
      if (x->type == TSL_VALUE_NULL)
        {
          if (n->op == TSL_OP_NOT)
            set_bool (out, TRUE);
          else
            *out = *x;
          return TRUE;
        }
      if (n->op == TSL_OP_NOT)
        {
          if (x->type != TSL_VALUE_BOOL)
            return fail (e, "type mismatch: expected boolean after not, got %s", type_name (x->type));
          set_bool (out, !x->boolean);
        }
      else
        {
          if (x->type != TSL_VALUE_NUMBER)
            return fail (e, "type mismatch: expected number after -, got %s", type_name (x->type));
          set_number (out, -x->number);
        }
      return TRUE;
    case TSL_OP_LEN:
      if (x->type == TSL_VALUE_ARRAY)
        set_number (out, x->n_items);
      else if (x->type == TSL_VALUE_STRING)
        set_number (out, (double) g_utf8_strlen (x->string, -1));
      else if (x->type == TSL_VALUE_NULL)
        set_number (out, 0);
      else
        return fail (e, "type mismatch: len() expects an array, got %s", type_name (x->type));
      return TRUE;
    case TSL_OP_SUM:
      {
        if (x->type == TSL_VALUE_NUMBER || x->type == TSL_VALUE_NULL)
          {
            set_number (out, x->type == TSL_VALUE_NUMBER ? x->number : 0);
            return TRUE;
          }
        if (x->type != TSL_VALUE_ARRAY)
          return fail (e, "type mismatch: sum() expects an array of numbers, got %s", type_name (x->type));
        double total = 0;
        for (guint i = 0; i < x->n_items; i++)
          {
            if (x->items[i].type == TSL_VALUE_NULL)
              continue;
            if (x->items[i].type != TSL_VALUE_NUMBER)
              return fail (e, "type mismatch: sum() expects numbers, got %s", type_name (x->items[i].type));
            total += x->items[i].number;
          }
        set_number (out, total);
        return TRUE;
      }
    case TSL_OP_ANY:
    case TSL_OP_ALL:
      {
        if (x->type == TSL_VALUE_BOOL || x->type == TSL_VALUE_NULL)
          {
            set_bool (out, x->boolean);
            return TRUE;
          }
        if (x->type != TSL_VALUE_ARRAY)
          return fail (e, "type mismatch: any() and all() expect an array of booleans, got %s", type_name (x->type));
        /* all() of an empty array is false, as kubectl-mtv's reducer has it. */
        gboolean any = FALSE, all = x->n_items > 0;
        for (guint i = 0; i < x->n_items; i++)
          {
            gboolean t = x->items[i].type == TSL_VALUE_BOOL && x->items[i].boolean;
            any |= t;
            all &= t;
          }
        set_bool (out, n->op == TSL_OP_ANY ? any : all);
        return TRUE;
      }
    default:
      return fail (e, "operator %s cannot be used here", tsl_op_name (n->op));
    }
}

static gboolean
eval (Eval *e, const TslNode *n, TslValue *out)
{
  switch (n->kind)
    {
    case TSL_NODE_IDENTIFIER:
      if (!e->lookup (n, out, e->arena, e->user_data))
        return fail (e, "key not found: %s", n->text);
      return TRUE;
    case TSL_NODE_STRING:
      *out = (TslValue) { .type = TSL_VALUE_STRING, .string = n->text };
      return TRUE;
    case TSL_NODE_NUMBER:
      set_number (out, n->number);
      return TRUE;
    case TSL_NODE_BOOLEAN:
      set_bool (out, n->boolean);
      return TRUE;
    case TSL_NODE_NULL:
      *out = (TslValue) { .type = TSL_VALUE_NULL };
      return TRUE;
    case TSL_NODE_DATE:
    case TSL_NODE_TIMESTAMP:
      *out = (TslValue) { .type = TSL_VALUE_TIME, .time = n->time, .string = n->text };
      return TRUE;
    case TSL_NODE_ARRAY:
      out->type = TSL_VALUE_ARRAY;
      out->n_items = n->items->len;
      out->items = tsl_arena_values (e->arena, n->items->len);
      for (guint i = 0; i < n->items->len; i++)
        if (!eval (e, n->items->pdata[i], &out->items[i]))
          return FALSE;
      return TRUE;
    case TSL_NODE_UNARY:
      {
        TslValue x;
        return eval (e, n->right, &x) && eval_unary (e, n, &x, out);
      }
    case TSL_NODE_BINARY:
      break;
    }
  TslValue a, b;
  if (n->op == TSL_OP_BETWEEN)
    {
      /* The range is checked before the value is looked up. */
      if (!eval (e, n->right, &b))
        return FALSE;
      if (b.type != TSL_VALUE_ARRAY || b.n_items != 2)
        return fail (e, "between needs two values (between A and B)%s", "");
      return eval (e, n->left, &a) && eval_between (e, n, &a, &b, out);
    }
  if (!eval (e, n->left, &a))
    return FALSE;
  /* and/or decide on a plain boolean left side without the right. */
  if ((n->op == TSL_OP_AND || n->op == TSL_OP_OR) && (a.type == TSL_VALUE_BOOL || a.type == TSL_VALUE_NULL)
      && a.boolean == (n->op == TSL_OP_OR))
    {
      set_bool (out, a.boolean);
      return TRUE;
    }
  if (n->op == TSL_OP_IS)
    {
      set_bool (out, a.type == TSL_VALUE_NULL);
      return TRUE;
    }
  if (!eval (e, n->right, &b))
    return FALSE;
  if (n->op == TSL_OP_IN)
    return eval_in (e, &a, &b, out);
  return apply (e, n, &a, &b, out);
}

gboolean
tsl_reduce (TslOp op, const TslValue *x, TslArena *arena, TslValue *out, GError **error)
{
  TslNode reducer = { .kind = TSL_NODE_UNARY, .op = op };
  Eval e = { NULL, NULL, arena, error };
  return eval_unary (&e, &reducer, x, out);
}

gboolean
tsl_evaluate (const TslNode *node, TslLookup lookup, gpointer user_data, TslArena *arena, TslValue *result,
              GError **error)
{
  Eval e = { lookup, user_data, arena, error };
  return eval (&e, node, result);
}

/* ---- field paths ------------------------------------------------------------------ */

typedef enum { STEP_KEY, STEP_INDEX, STEP_ALL } StepKind;

typedef struct {
  StepKind kind;
  char *key;
  gint64 index;
} Step;

struct _TslPath {
  GArray *steps;
};

static void
step_clear (gpointer p)
{
  g_free (((Step *) p)->key);
}

TslPath *
tsl_path_new (const char *text)
{
  TslPath *path = g_new0 (TslPath, 1);
  path->steps = g_array_new (FALSE, TRUE, sizeof (Step));
  g_array_set_clear_func (path->steps, step_clear);
  const char *p = text;
  while (*p)
    {
      if (*p == '.')
        {
          p++;
          continue;
        }
      if (*p == '[')
        {
          const char *end = strchr (p, ']');
          g_autofree char *inner = g_strndup (p + 1, end ? (gsize) (end - p - 1) : strlen (p + 1));
          Step s = { STEP_KEY, NULL, 0 };
          char *num_end;
          gint64 index = g_ascii_strtoll (inner, &num_end, 10);
          if (strcmp (inner, "*") == 0)
            s.kind = STEP_ALL;
          else if (*inner && *num_end == '\0')
            {
              s.kind = STEP_INDEX;
              s.index = index;
            }
          else
            s.key = g_strdup (inner);
          g_array_append_val (path->steps, s);
          p = end ? end + 1 : p + strlen (p);
          continue;
        }
      gsize n = strcspn (p, ".[");
      Step s = { STEP_KEY, g_strndup (p, n), 0 };
      g_array_append_val (path->steps, s);
      p += n;
    }
  return path;
}

void
tsl_path_free (TslPath *path)
{
  if (path == NULL)
    return;
  g_array_free (path->steps, TRUE);
  g_free (path);
}

/* Walks @steps from @node. Stepping by key into an array, or by [*], fans out:
 * the values found are collected in @found and *fanned is set. */
static void
walk (const TslPath *path, guint i, JsonNode *node, GPtrArray *found, gboolean *fanned)
{
  if (node == NULL)
    return;
  if (i == path->steps->len)
    {
      g_ptr_array_add (found, node);
      return;
    }
  const Step *s = &g_array_index (path->steps, Step, i);
  JsonNodeType type = json_node_get_node_type (node);
  if (type == JSON_NODE_OBJECT && s->kind == STEP_ALL)
    {
      /* [*] of an object: every member's value. */
      *fanned = TRUE;
      JsonObjectIter iter;
      JsonNode *member;
      json_object_iter_init (&iter, json_node_get_object (node));
      while (json_object_iter_next (&iter, NULL, &member))
        walk (path, i + 1, member, found, fanned);
      return;
    }
  if (type == JSON_NODE_ARRAY && s->kind != STEP_INDEX)
    {
      JsonArray *array = json_node_get_array (node);
      *fanned = TRUE;
      for (guint k = 0; k < json_array_get_length (array); k++)
        walk (path, s->kind == STEP_ALL ? i + 1 : i, json_array_get_element (array, k), found, fanned);
      return;
    }
  if (s->kind == STEP_INDEX && type == JSON_NODE_ARRAY)
    {
      JsonArray *array = json_node_get_array (node);
      gint64 len = json_array_get_length (array), k = s->index < 0 ? len + s->index : s->index;
      if (k >= 0 && k < len)
        walk (path, i + 1, json_array_get_element (array, (guint) k), found, fanned);
      return;
    }
  if (s->kind == STEP_KEY && type == JSON_NODE_OBJECT)
    walk (path, i + 1, json_object_get_member (json_node_get_object (node), s->key), found, fanned);
}

gboolean
tsl_document_lookup (const TslNode *identifier, TslValue *value, TslArena *arena, gpointer doc)
{
  tsl_path_lookup (identifier->path, doc, value, arena);
  return TRUE;
}

int
tsl_value_compare (const TslValue *a, const TslValue *b)
{
  int order;
  if (compare_scalars (a, b, &order))
    return order;
  /* Different kinds: nulls first, then by kind, so sorting is total. */
  return a->type < b->type ? -1 : a->type > b->type;
}

const char *
tsl_path_first_key (const TslPath *path)
{
  if (path->steps->len == 0)
    return NULL;
  const Step *s = &g_array_index (path->steps, Step, 0);
  return s->kind == STEP_KEY ? s->key : NULL;
}

void
tsl_path_lookup (const TslPath *path, JsonNode *doc, TslValue *value, TslArena *arena)
{
  tsl_path_lookup_from (path, 0, doc, value, arena);
}

void
tsl_path_lookup_from (const TslPath *path, guint first, JsonNode *doc, TslValue *value, TslArena *arena)
{
  /* The common case, plain keys into objects, without collecting. */
  JsonNode *node = doc;
  guint i = first;
  for (; i < path->steps->len && node && JSON_NODE_HOLDS_OBJECT (node); i++)
    {
      const Step *s = &g_array_index (path->steps, Step, i);
      if (s->kind != STEP_KEY)
        break;
      node = json_object_get_member (json_node_get_object (node), s->key);
    }
  if (i == path->steps->len || node == NULL || JSON_NODE_HOLDS_VALUE (node) || JSON_NODE_HOLDS_NULL (node))
    {
      tsl_value_from_json (i == path->steps->len ? node : NULL, value, arena);
      return;
    }
  g_autoptr (GPtrArray) found = g_ptr_array_new ();
  gboolean fanned = FALSE;
  walk (path, i, node, found, &fanned);
  if (!fanned)
    {
      tsl_value_from_json (found->len ? found->pdata[0] : NULL, value, arena);
      return;
    }
  value->type = TSL_VALUE_ARRAY;
  value->n_items = found->len;
  value->items = tsl_arena_values (arena, found->len);
  for (guint k = 0; k < found->len; k++)
    tsl_value_from_json (found->pdata[k], &value->items[k], arena);
}
