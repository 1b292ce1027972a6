/* TSL and the query clauses against the reference cases in
 * ../shared/reference/tsl/cases.txt (parse trees, evaluation, errors, lexer
 * tables, the kubectl-mtv query layer), plus our own table for what the
 * reference does not cover (GROUP BY, [*] paths, JSON documents).
 * Usage: test-tsl CASES.TXT */
#include "mtv-query.h"
#include "tsl.h"

#include <math.h>
#include <string.h>

static char *cases_path;
static char **lines;

/* ---- reading the cases file ------------------------------------------------------ */

/* The query of a "Q: " line: verbatim, or a JSON string after JSON. */
static char *
decode_text (const char *s)
{
  if (g_str_has_prefix (s, "JSON\""))
    {
      g_autoptr (JsonNode) node = json_from_string (s + 4, NULL);
      g_assert_nonnull (node);
      return g_strdup (json_node_get_string (node));
    }
  return g_strdup (s);
}

/* Text after "    # " at the end is a label. */
static char *
strip_label (const char *s)
{
  const char *label = g_strrstr (s, "    # ");
  return label ? g_strndup (s, (gsize) (label - s)) : g_strdup (s);
}

typedef struct {
  char *query;
  GPtrArray *expect;   /* the "=>" lines, without "=> " and labels */
  GPtrArray *extra;    /* other indented lines (items, data) */
  char *name;          /* [name] of section A */
} Case;

static void
case_free (Case *c)
{
  g_free (c->query);
  g_ptr_array_free (c->expect, TRUE);
  g_ptr_array_free (c->extra, TRUE);
  g_free (c->name);
  g_free (c);
}

/* The lines of the section whose header starts with @header, up to the next header. */
static guint
section_start (const char *header)
{
  for (guint i = 0; lines[i]; i++)
    if (g_str_has_prefix (lines[i], header))
      return i + 1;
  g_error ("no section %s in %s", header, cases_path);
}

static gboolean
is_header (const char *line)
{
  /* "A. ", "B1. ", "H9. " */
  gsize n = strspn (line, "ABCDEFGH");
  if (n != 1)
    return FALSE;
  const char *p = line + 1;
  while (g_ascii_isdigit (*p))
    p++;
  return p[0] == '.' && p[1] == ' ';
}

static GPtrArray *
section_cases (const char *header)
{
  GPtrArray *cases = g_ptr_array_new_with_free_func ((GDestroyNotify) case_free);
  Case *c = NULL;
  g_autofree char *name = NULL;
  for (guint i = section_start (header); lines[i] && !is_header (lines[i]); i++)
    {
      const char *l = lines[i];
      if (l[0] == '[' && strchr (l, ']'))
        {
          g_free (name);
          name = g_strndup (l + 1, (gsize) (strchr (l, ']') - l - 1));
        }
      else if (g_str_has_prefix (l, "Q: "))
        {
          c = g_new0 (Case, 1);
          c->query = decode_text (l + 3);
          c->expect = g_ptr_array_new_with_free_func (g_free);
          c->extra = g_ptr_array_new_with_free_func (g_free);
          c->name = g_strdup (name);
          g_ptr_array_add (cases, c);
        }
      else if (c && g_str_has_prefix (l, "=>"))
        g_ptr_array_add (c->expect, strip_label (l[2] == ' ' ? l + 3 : l + 2));
      else if (c && g_str_has_prefix (l, "   "))
        g_ptr_array_add (c->extra, g_strstrip (g_strdup (l)));
    }
  return cases;
}

/* "   input  =>  expected    # label" lines of the F and H2 tables. */
static GPtrArray *
section_pairs (const char *header)
{
  GPtrArray *pairs = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  for (guint i = section_start (header); lines[i] && !is_header (lines[i]); i++)
    {
      const char *arrow = strstr (lines[i], "  =>  ");
      gsize width = 6;
      if (arrow == NULL && (arrow = strstr (lines[i], " => ")))
        width = 4;
      if (!g_str_has_prefix (lines[i], "   ") || arrow == NULL)
        continue;
      g_autofree char *input = g_strstrip (g_strndup (lines[i], (gsize) (arrow - lines[i])));
      g_autofree char *expect = strip_label (arrow + width);
      char **pair = g_new0 (char *, 3);
      pair[0] = decode_text (input);
      pair[1] = g_strdup (g_strstrip (expect));
      g_ptr_array_add (pairs, pair);
    }
  return pairs;
}

static char *
join_expect (const Case *c)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < c->expect->len; i++)
    g_string_append_printf (s, "%s\n", (char *) c->expect->pdata[i]);
  return g_string_free (s, FALSE);
}

static guint
error_position (const GError *error)
{
  const char *at = strstr (error->message, "at position ");
  g_assert_nonnull (at);
  return (guint) atoi (at + strlen ("at position "));
}

/* ---- A: parse trees ---------------------------------------------------------------- */

static void
test_parse_trees (void)
{
  g_autoptr (GPtrArray) cases = section_cases ("A. ");
  g_assert_cmpuint (cases->len, >=, 76);
  for (guint i = 0; i < cases->len; i++)
    {
      Case *c = cases->pdata[i];
      g_autoptr (GError) error = NULL;
      g_autoptr (TslNode) tree = tsl_parse (c->query, &error);
      if (tree == NULL)
        g_error ("%s: %s: %s", c->name, c->query, error->message);
      g_autofree char *got = tsl_node_to_tree (tree);
      g_autofree char *want = join_expect (c);
      if (strcmp (got, want) != 0)
        g_error ("%s: %s\nwant:\n%sgot:\n%s", c->name, c->query, want, got);
    }
}

/* ---- B: evaluation ----------------------------------------------------------------- */

typedef struct {
  JsonObject *record;
  gboolean nil_only;   /* B4: only nullable_field exists */
  gboolean none;       /* B2: every lookup fails */
} Record;

static gboolean
record_lookup (const TslNode *identifier, TslValue *value, TslArena *arena, gpointer user_data)
{
  Record *r = user_data;
  if (r->none)
    return FALSE;
  if (!json_object_has_member (r->record, identifier->text))
    return FALSE;
  tsl_value_from_json (json_object_get_member (r->record, identifier->text), value, arena);
  return TRUE;
}

static JsonObject *
b1_record (void)
{
  g_autoptr (JsonNode) node = json_from_string (
      "{\"title\": \"A good book\", \"author\": \"Joe\", \"spec.pages\": 14.0, \"spec.rating\": 5.0,"
      " \"loaned\": true, \"date\": \"2020-01-01T00:00:00Z\", \"tags\": [\"fiction\", \"bestseller\"],"
      " \"price\": 29.99, \"numbers\": [1.0, 2.0, 3.0], \"booleans\": [true, false, true],"
      " \"dateStr\": \"2020-01-01T00:00:00Z\", \"shortDateStr\": \"2020-01-01\"}", NULL);
  return json_object_ref (json_node_get_object (node));
}

static gboolean
value_matches (const TslValue *v, const char *expect)
{
  if (g_str_has_suffix (expect, "(time value)"))
    {
      g_autofree char *when = g_strstrip (g_strndup (expect, strlen (expect) - strlen ("(time value)")));
      gint64 t;
      g_assert_true (tsl_parse_time (when, &t, NULL));
      return v->type == TSL_VALUE_TIME && v->time == t;
    }
  g_autoptr (JsonNode) want = json_from_string (expect, NULL);
  g_assert_nonnull (want);
  g_autoptr (JsonNode) got = tsl_value_to_json (v);
  /* Numbers compare as numbers (14 = 14.0). */
  if (JSON_NODE_HOLDS_ARRAY (want) && JSON_NODE_HOLDS_ARRAY (got))
    {
      JsonArray *a = json_node_get_array (want), *b = json_node_get_array (got);
      if (json_array_get_length (a) != json_array_get_length (b))
        return FALSE;
      for (guint i = 0; i < json_array_get_length (a); i++)
        {
          g_autofree char *item = json_to_string (json_array_get_element (a, i), FALSE);
          if (!value_matches (&v->items[i], item))
            return FALSE;
        }
      return TRUE;
    }
  if (json_node_get_value_type (want) == G_TYPE_DOUBLE || json_node_get_value_type (want) == G_TYPE_INT64)
    return v->type == TSL_VALUE_NUMBER && fabs (v->number - json_node_get_double (want)) < 1e-9;
  if (json_node_get_value_type (want) == G_TYPE_STRING && v->type == TSL_VALUE_STRING)
    return strcmp (json_node_get_string (want), v->string) == 0;
  if (json_node_get_value_type (want) == G_TYPE_BOOLEAN)
    return v->type == TSL_VALUE_BOOL && v->boolean == json_node_get_boolean (want);
  return FALSE;
}

static void
test_evaluation (void)
{
  g_autoptr (GPtrArray) cases = section_cases ("B1. Expected value");
  g_assert_cmpuint (cases->len, >=, 122);
  g_autoptr (JsonObject) record = b1_record ();
  Record r = { record, FALSE, FALSE };
  g_autoptr (TslArena) arena = tsl_arena_new ();
  for (guint i = 0; i < cases->len; i++)
    {
      Case *c = cases->pdata[i];
      g_autoptr (GError) error = NULL;
      g_autoptr (TslNode) tree = tsl_parse (c->query, &error);
      if (tree == NULL)
        g_error ("%s: %s", c->query, error->message);
      TslValue v;
      tsl_arena_reset (arena);
      if (!tsl_evaluate (tree, record_lookup, &r, arena, &v, &error))
        g_error ("%s: %s", c->query, error->message);
      if (!value_matches (&v, c->expect->pdata[0]))
        {
          g_autoptr (JsonNode) got = tsl_value_to_json (&v);
          g_autofree char *s = json_to_string (got, FALSE);
          g_error ("%s: want %s, got %s", c->query, (char *) c->expect->pdata[0], s);
        }
    }
}

static void
test_evaluation_errors (void)
{
  g_autoptr (TslArena) arena = tsl_arena_new ();
  /* B2: every lookup fails. */
  g_autoptr (GPtrArray) cases = section_cases ("B2. ");
  g_autoptr (JsonObject) empty = json_object_new ();
  Record none = { empty, FALSE, TRUE };
  for (guint i = 0; i < cases->len; i++)
    {
      Case *c = cases->pdata[i];
      g_autoptr (GError) error = NULL;
      g_autoptr (TslNode) tree = tsl_parse (c->query, &error);
      if (tree == NULL)
        {
          g_assert_true (strstr (error->message, "syntax error") != NULL); /* skipped by the reference too */
          continue;
        }
      TslValue v;
      g_assert_false (tsl_evaluate (tree, record_lookup, &none, arena, &v, &error));
      const char *kind = c->expect->pdata[0];
      const char *want = g_str_has_prefix (kind, "KeyNotFound") ? "key not found"
                         : g_str_has_prefix (kind, "Between") ? "between needs two values" : "";
      if (strstr (error->message, want) == NULL)
        g_error ("%s: want %s, got %s", c->query, kind, error->message);
    }
  /* B3: messages. */
  g_autoptr (GPtrArray) b3 = section_cases ("B3. ");
  g_autoptr (JsonNode) node = json_from_string ("{\"name\": \"alice\", \"count\": 10.0}", NULL);
  Record alice = { json_node_get_object (node), FALSE, FALSE };
  for (guint i = 0; i < b3->len; i++)
    {
      Case *c = b3->pdata[i];
      g_autoptr (GError) error = NULL;
      g_autoptr (TslNode) tree = tsl_parse (c->query, &error);
      g_assert_nonnull (tree);
      TslValue v;
      g_assert_false (tsl_evaluate (tree, record_lookup, &alice, arena, &v, &error));
      g_autoptr (JsonNode) want = json_from_string (c->expect->pdata[0], NULL);
      if (strstr (error->message, json_node_get_string (want)) == NULL)
        g_error ("%s: want %s, got %s", c->query, (char *) c->expect->pdata[0], error->message);
    }
  /* B4: a field that holds null. */
  g_autoptr (GPtrArray) b4 = section_cases ("B4. ");
  g_autoptr (JsonNode) nil = json_from_string ("{\"nullable_field\": null}", NULL);
  Record nullable = { json_node_get_object (nil), FALSE, FALSE };
  for (guint i = 0; i < b4->len; i++)
    {
      Case *c = b4->pdata[i];
      g_autoptr (GError) error = NULL;
      g_autoptr (TslNode) tree = tsl_parse (c->query, &error);
      g_assert_nonnull (tree);
      TslValue v;
      g_assert_true (tsl_evaluate (tree, record_lookup, &nullable, arena, &v, &error));
      if (!value_matches (&v, c->expect->pdata[0]))
        g_error ("%s: want %s", c->query, (char *) c->expect->pdata[0]);
    }
}

/* ---- D and E: JSON trees, parse errors ------------------------------------------------ */

static void
test_json_trees (void)
{
  g_autoptr (GPtrArray) cases = section_cases ("D. ");
  g_assert_cmpuint (cases->len, ==, 8);
  for (guint i = 0; i < cases->len; i++)
    {
      Case *c = cases->pdata[i];
      g_autoptr (TslNode) tree = tsl_parse (c->query, NULL);
      g_assert_nonnull (tree);
      g_autoptr (JsonNode) got = tsl_node_to_json (tree);
      g_autoptr (JsonNode) want = json_from_string (c->expect->pdata[0], NULL);
      if (!json_node_equal (got, want))
        {
          g_autofree char *s = json_to_string (got, FALSE);
          g_error ("%s: want %s, got %s", c->query, (char *) c->expect->pdata[0], s);
        }
    }
}

static void
check_error (const char *query, const char *containing, guint position)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TslNode) tree = tsl_parse (query, &error);
  if (tree)
    g_error ("'%s' parsed", query);
  if (containing && strstr (error->message, containing) == NULL)
    g_error ("'%s': want '%s' in: %s", query, containing, error->message);
  if (error_position (error) != position)
    g_error ("'%s': want position %u in: %s", query, position, error->message);
  /* The message shows the query and a caret under the position. */
  g_assert_nonnull (strstr (error->message, query));
  g_assert_nonnull (strchr (error->message, '^'));
}

static void
test_parse_errors (void)
{
  g_autoptr (GPtrArray) cases = section_cases ("E. ");
  g_assert_cmpuint (cases->len, ==, 7);
  for (guint i = 0; i < cases->len; i++)
    {
      Case *c = cases->pdata[i];
      /* => error containing "X", position N */
      const char *e = c->expect->pdata[0];
      const char *q1 = strchr (e, '"'), *q2 = strchr (q1 + 1, '"');
      g_autofree char *containing = g_strndup (q1 + 1, (gsize) (q2 - q1 - 1));
      check_error (c->query, containing, (guint) atoi (strstr (e, "position ") + 9));
    }
  g_autoptr (GPtrArray) f8 = section_pairs ("F8. ");
  for (guint i = 0; i < f8->len; i++)
    {
      char **pair = f8->pdata[i];
      check_error (pair[0], NULL, (guint) atoi (pair[1] + strlen ("position ")));
    }
}

/* ---- F: the lexer ------------------------------------------------------------------- */

static void
test_lexer (void)
{
  g_autoptr (GPtrArray) f1 = section_pairs ("F1. ");
  g_assert_cmpuint (f1->len, ==, 20);
  for (guint i = 0; i < f1->len; i++)
    {
      char **pair = f1->pdata[i];
      g_autoptr (GError) error = NULL;
      GArray *tokens = tsl_lex (pair[0], &error);
      g_assert_no_error (error);
      g_autoptr (GString) got = g_string_new (NULL);
      for (guint k = 0; k < tokens->len; k++)
        g_string_append_printf (got, "%s%s", k ? ", " : "", tsl_token_name (g_array_index (tokens, TslToken, k).type));
      tsl_tokens_free (tokens);
      if (strcmp (got->str, pair[1]) != 0)
        g_error ("lex '%s': want %s, got %s", pair[0], pair[1], got->str);
    }
  /* F2: keywords, in any case. */
  const char *line = lines[section_start ("F2. ") - 1];
  g_auto (GStrv) words = g_strsplit (strchr (line, ':') + 1, ",", -1);
  for (guint i = 0; words[i]; i++)
    {
      g_autofree char *w = g_strstrip (g_strdup (words[i]));
      g_autofree char *upper = g_ascii_strup (w, -1);
      for (int v = 0; v < 2; v++)
        {
          GArray *tokens = tsl_lex (v ? upper : w, NULL);
          TslTokenType type = g_array_index (tokens, TslToken, 0).type;
          g_assert_cmpstr (tsl_token_name (type), ==, upper);
          tsl_tokens_free (tokens);
        }
    }
  /* F3 and F4: what lexes, what does not. */
  const char *unicode[] = { "名前 = 'test'", "name = '日本語'", "name = '🎉hello'", "café = 'test'" };
  for (gsize i = 0; i < G_N_ELEMENTS (unicode); i++)
    tsl_tokens_free (tsl_lex (unicode[i], &(GError *) { NULL }));
  const char *bad[] = { "!", "~", "'hello", "@" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_null (tsl_lex (bad[i], &error));
      g_assert_nonnull (error);
    }
  /* F5: escapes. */
  g_autoptr (GPtrArray) f5 = section_pairs ("F5. ");
  g_assert_cmpuint (f5->len, ==, 4);
  for (guint i = 0; i < f5->len; i++)
    {
      char **pair = f5->pdata[i];
      g_autofree char *want = decode_text (pair[1]);
      GArray *tokens = tsl_lex (pair[0], NULL);
      g_assert_nonnull (tokens);
      g_assert_cmpstr (g_array_index (tokens, TslToken, 0).value, ==, want);
      tsl_tokens_free (tokens);
    }
  /* F6: numbers and units. */
  g_autoptr (GPtrArray) f6 = section_pairs ("F6. ");
  g_assert_cmpuint (f6->len, ==, 11);
  for (guint i = 0; i < f6->len; i++)
    {
      char **pair = f6->pdata[i];
      g_autoptr (TslNode) n = tsl_parse (pair[0], NULL);
      g_assert_nonnull (n);
      g_assert_cmpint (n->kind, ==, TSL_NODE_NUMBER);
      g_assert_cmpfloat_with_epsilon (n->number, g_ascii_strtod (pair[1], NULL), 1e-6);
    }
  /* F7: edge cases. */
  g_autoptr (GPtrArray) f7 = section_pairs ("F7. ");
  g_assert_cmpuint (f7->len, ==, 6);
  for (guint i = 0; i < f7->len; i++)
    {
      char **pair = f7->pdata[i];
      g_autoptr (TslNode) n = tsl_parse (pair[0], NULL);
      g_assert_true ((n == NULL) == (strcmp (pair[1], "error=true") == 0));
    }
}

/* ---- H: the query layer ---------------------------------------------------------------- */

static void
test_query_parse (void)
{
  g_autoptr (GPtrArray) h1 = section_cases ("H1. ");
  g_assert_cmpuint (h1->len, ==, 14);
  for (guint i = 0; i < h1->len; i++)
    {
      Case *c = h1->pdata[i];
      g_autoptr (GError) error = NULL;
      g_autoptr (MtvQuery) q = mtv_query_parse (c->query, &error);
      /* The reference only splits clauses here; "name ~ 'web'" is not TSL
       * (a lone ~), which mtv reports when the query is parsed. */
      if (q == NULL && strstr (c->query, " ~ ") && strstr (error->message, "Unexpected character '~'"))
        continue;
      if (q == NULL)
        g_error ("%s: %s", c->query, error->message);
      g_autofree char *got = mtv_query_describe (q);
      g_assert_cmpstr (got, ==, c->expect->pdata[0]);
    }
  g_autoptr (GPtrArray) h2 = section_pairs ("H2. ");
  g_assert_cmpuint (h2->len, ==, 15);
  for (guint i = 0; i < h2->len; i++)
    {
      char **pair = h2->pdata[i];
      g_autofree char *trimmed = g_strstrip (g_strdup (pair[0]));
      g_assert_cmpint (mtv_query_has_clause_keyword (trimmed), ==, strcmp (pair[1], "true") == 0);
    }
  /* H3: "len hello  =>  field .hello, reducer len, alias hello" */
  g_autoptr (GPtrArray) h3 = section_pairs ("H3. ");
  g_assert_cmpuint (h3->len, ==, 4);
  for (guint i = 0; i < h3->len; i++)
    {
      char **pair = h3->pdata[i];
      g_autofree char *query = g_strconcat ("SELECT ", pair[0], NULL);
      g_autoptr (MtvQuery) q = mtv_query_parse (query, NULL);
      g_assert_nonnull (q);
      g_auto (GStrv) parts = g_strsplit (pair[1], ", ", -1);
      g_autofree char *want = g_strdup_printf ("select[%s(%s) as %s] | where[] | orderby[-] | limit -1",
                                               parts[1] + strlen ("reducer "), parts[0] + strlen ("field "),
                                               parts[2] + strlen ("alias "));
      g_autofree char *got = mtv_query_describe (q);
      g_assert_cmpstr (got, ==, want);
    }
}

static void
test_query_validation (void)
{
  const char *sections[] = { "H4. ", "H5. ", "H6. " };
  for (gsize s = 0; s < G_N_ELEMENTS (sections); s++)
    {
      g_autoptr (GPtrArray) cases = section_cases (sections[s]);
      g_assert_cmpuint (cases->len, >=, 4);
      for (guint i = 0; i < cases->len; i++)
        {
          Case *c = cases->pdata[i];
          const char *e = c->expect->pdata[0];
          g_autoptr (GError) error = NULL;
          g_autoptr (MtvQuery) q = mtv_query_parse (c->query, &error);
          if (strcmp (e, "ok") == 0)
            {
              if (q == NULL)
                g_error ("%s: %s", c->query, error->message);
              continue;
            }
          if (q != NULL)
            g_error ("%s: accepted, want %s", c->query, e);
          /* error [Type] containing "x" | error, suggests KEYWORD */
          const char *open = strchr (e, '['), *close = open ? strchr (open, ']') : NULL;
          if (open)
            {
              g_autofree char *type = g_strndup (open + 1, (gsize) (close - open - 1));
              if (strstr (error->message, type) == NULL)
                g_error ("%s: want %s, got %s", c->query, type, error->message);
            }
          const char *q1 = strchr (e, '"');
          if (q1)
            {
              g_autofree char *containing = g_strndup (q1 + 1, (gsize) (strchr (q1 + 1, '"') - q1 - 1));
              if (strstr (error->message, containing) == NULL)
                g_error ("%s: want '%s' in %s", c->query, containing, error->message);
            }
          const char *suggests = strstr (e, "suggests ");
          if (suggests && strstr (error->message, suggests + strlen ("suggests ")) == NULL)
            g_error ("%s: want %s in %s", c->query, suggests, error->message);
        }
    }
}

/* "TIME(2020-01-02T15:04:05Z)" in the reference items is a time: here a date string. */
static JsonNode *
items_from (const char *text)
{
  g_autofree char *plain = g_strdup (text);
  for (char *t; (t = strstr (plain, "\"TIME("));)
    {
      memmove (t + 1, t + 6, strlen (t + 6) + 1);
      char *close = strstr (t, ")\"");
      memmove (close, close + 1, strlen (close + 1) + 1);
    }
  JsonNode *node = json_from_string (plain, NULL);
  g_assert_nonnull (node);
  return node;
}

static void
assert_same_json (JsonArray *got, JsonNode *want, const char *what)
{
  g_autoptr (JsonNode) g = json_node_init_array (json_node_alloc (), got);
  if (!json_node_equal (g, want))
    {
      g_autofree char *a = json_to_string (g, FALSE), *b = json_to_string (want, FALSE);
      g_error ("%s: want %s, got %s", what, b, a);
    }
}

static void
test_query_filter_and_sort (void)
{
  /* H7: Q: where / items [...] [select ...] / => kept */
  g_autoptr (GPtrArray) h7 = section_cases ("H7. ");
  g_assert_cmpuint (h7->len, ==, 11);
  for (guint i = 0; i < h7->len; i++)
    {
      Case *c = h7->pdata[i];
      const char *extra = c->extra->pdata[0];
      const char *sel = strstr (extra, "  select ");
      g_autofree char *items_text = g_strndup (extra + strlen ("items "), sel ? (gsize) (sel - extra - 6) : strlen (extra + 6));
      g_autofree char *query = sel ? g_strdup_printf ("SELECT %s WHERE %s", sel + 9, c->query) : g_strdup (c->query);
      g_autoptr (JsonNode) items = items_from (items_text);
      g_autoptr (JsonNode) want = items_from (c->expect->pdata[0]);
      g_autoptr (GError) error = NULL;
      g_autoptr (MtvQuery) q = mtv_query_parse (query, &error);
      g_assert_no_error (error);
      g_autoptr (JsonArray) got = mtv_query_filter (q, json_node_get_array (items), &error);
      g_assert_no_error (error);
      assert_same_json (got, want, query);
    }
  /* H8: "order by .a as a ASC; items [...]" / => order */
  guint start = section_start ("H8. ");
  guint n = 0;
  for (guint i = start; lines[i] && !is_header (lines[i]); i++)
    {
      if (!g_str_has_prefix (lines[i], "   order by "))
        continue;
      const char *semi = strstr (lines[i], "; items ");
      g_autofree char *order = g_strndup (lines[i] + 12, (gsize) (semi - lines[i] - 12));
      /* ".x as y DESC" -> "x DESC": the alias only names the column */
      g_auto (GStrv) keys = g_strsplit (order, ", ", -1);
      g_autoptr (GString) query = g_string_new ("ORDER BY ");
      for (guint k = 0; keys[k]; k++)
        {
          char *as = strstr (keys[k], " as ");
          const char *dir = strrchr (keys[k], ' ') + 1;
          *as = '\0';
          g_string_append_printf (query, "%s%s %s", k ? ", " : "", keys[k], dir);
        }
      g_autoptr (JsonNode) items = items_from (semi + strlen ("; items "));
      g_autofree char *expect = strip_label (lines[i + 1] + 3);
      g_autoptr (JsonNode) want = items_from (expect);
      g_autoptr (GError) error = NULL;
      g_autoptr (MtvQuery) q = mtv_query_parse (query->str, &error);
      g_assert_no_error (error);
      g_autoptr (JsonArray) got = mtv_query_run (q, json_node_get_array (items), &error);
      g_assert_no_error (error);
      assert_same_json (got, want, query->str);
      n++;
    }
  g_assert_cmpuint (n, ==, 7);
  /* H9: lists with something other than objects name the index. */
  g_autoptr (GPtrArray) h9 = section_cases ("H9. ");
  for (guint i = 0; i < h9->len; i++)
    {
      Case *c = h9->pdata[i];
      const char *data = (const char *) c->extra->pdata[0] + strlen ("data ");
      g_autoptr (JsonNode) node = json_from_string (data, NULL);
      if (node == NULL || JSON_NODE_HOLDS_VALUE (node))
        continue;   /* "a string": not a list or a document, mtvd never queries one */
      g_autoptr (JsonArray) docs = NULL;
      if (JSON_NODE_HOLDS_OBJECT (node))
        {
          docs = json_array_new ();
          json_array_add_element (docs, json_node_ref (node));
        }
      else
        docs = json_array_ref (json_node_get_array (node));
      g_autoptr (MtvQuery) q = mtv_query_parse (c->query, NULL);
      g_autoptr (GError) error = NULL;
      g_autoptr (JsonArray) got = mtv_query_run (q, docs, &error);
      const char *e = c->expect->pdata[0];
      if (g_str_has_prefix (e, "error"))
        {
          g_assert_null (got);
          g_autofree char *containing = g_strndup (strchr (e, '"') + 1, strlen (strchr (e, '"') + 1) - 1);
          g_assert_nonnull (strstr (error->message, containing));
        }
      else
        g_assert_cmpint (json_array_get_length (got), ==, atoi (e));
    }
}

/* ---- our own table: documents, paths, GROUP BY ------------------------------------ */

static const char inventory[] =
  "[{\"name\": \"web-1\", \"powerState\": \"poweredOn\", \"cpuCount\": 4, \"memoryMB\": 8192,"
  "  \"disks\": [{\"capacity\": 10737418240, \"datastore\": {\"id\": \"ds1\"}}, {\"capacity\": 1073741824}],"
  "  \"nics\": [{\"mac\": \"00:50:56:aa:00:01\"}], \"created\": \"2024-03-01T10:00:00Z\", \"guest\": null},"
  " {\"name\": \"db-1\", \"powerState\": \"poweredOff\", \"cpuCount\": 16, \"memoryMB\": 65536,"
  "  \"disks\": [{\"capacity\": 2199023255552}], \"nics\": [], \"created\": \"2023-01-15T00:00:00Z\"},"
  " {\"name\": \"web-2\", \"powerState\": \"poweredOn\", \"cpuCount\": 2, \"memoryMB\": 4096,"
  "  \"disks\": [], \"nics\": [{\"mac\": \"00:50:56:aa:00:02\"}, {\"mac\": \"00:50:56:aa:00:03\"}],"
  "  \"created\": \"2025-06-30\"}]";

static void
expect_query (const char *query, const char *want)
{
  g_autoptr (JsonNode) docs = json_from_string (inventory, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (MtvQuery) q = mtv_query_parse (query, &error);
  if (q == NULL)
    g_error ("%s: %s", query, error->message);
  g_autoptr (JsonArray) got = mtv_query_run (q, json_node_get_array (docs), &error);
  if (got == NULL)
    g_error ("%s: %s", query, error->message);
  g_autoptr (JsonNode) w = json_from_string (want, NULL);
  g_assert_nonnull (w);
  assert_same_json (got, w, query);
}

static void
expect_names (const char *where, const char *names)
{
  g_autofree char *query = g_strdup_printf ("SELECT name WHERE %s", where);
  g_auto (GStrv) list = g_strsplit (names, ",", -1);
  g_autoptr (GString) want = g_string_new ("[");
  for (guint i = 0; list[i] && *list[i]; i++)
    g_string_append_printf (want, "%s{\"name\": \"%s\"}", i ? ", " : "", list[i]);
  g_string_append_c (want, ']');
  expect_query (query, want->str);
}

static void
test_documents (void)
{
  /* operators over real-shaped documents */
  expect_names ("cpuCount > 2", "web-1,db-1");
  expect_names ("memoryMB >= 8Ki", "web-1,db-1");
  expect_names ("name like 'web-%'", "web-1,web-2");
  expect_names ("name ilike 'WEB_1'", "web-1");
  expect_names ("name ~= '^db'", "db-1");
  expect_names ("name ~! '^db'", "web-1,web-2");
  expect_names ("powerState in ['poweredOff', 'suspended']", "db-1");
  expect_names ("powerState not in ['poweredOff']", "web-1,web-2");
  expect_names ("cpuCount between 2 and 4", "web-1,web-2");
  expect_names ("cpuCount not between 2 and 4", "db-1");
  expect_names ("guest is null", "web-1,db-1,web-2");
  expect_names ("created > '2024-01-01'", "web-1,web-2");
  expect_names ("created between 2023-01-01 and 2024-12-31", "web-1,db-1");
  expect_names ("memoryMB / 1024 = cpuCount * 2", "web-1,web-2");
  expect_names ("not (powerState = 'poweredOn') or cpuCount = 2", "db-1,web-2");
  /* paths: [n], [*], implicit steps into arrays, len/sum/any/all */
  expect_names ("disks[0].capacity > 1Ti", "db-1");
  expect_names ("any(disks[*].capacity > 5Gi)", "web-1,db-1");
  expect_names ("all(disks.capacity < 2Ti)", "web-1");
  expect_names ("len(nics) = 0", "db-1");
  expect_names ("sum(disks[*].capacity) > 10Gi", "web-1,db-1");
  expect_names ("disks[0].datastore.id = 'ds1'", "web-1");
  expect_names ("nics[*].mac = '00:50:56:aa:00:03'", "web-2");
  expect_names ("missing.field is null", "web-1,db-1,web-2");
  /* SELECT, reducers, ORDER BY, LIMIT */
  expect_query ("SELECT name, len(disks) AS disks ORDER BY disks DESC, name LIMIT 2",
                "[{\"name\": \"web-1\", \"disks\": 2}, {\"name\": \"db-1\", \"disks\": 1}]");
  expect_query ("SELECT name, memoryMB / 1024 AS gib WHERE powerState = 'poweredOn' SORT BY gib",
                "[{\"name\": \"web-2\", \"gib\": 4}, {\"name\": \"web-1\", \"gib\": 8}]");
  expect_query ("select .name where cpuCount > 100", "[]");
  /* GROUP BY with aggregates */
  expect_query ("SELECT powerState, count(*) AS vms, sum(memoryMB) AS mem, avg(cpuCount) AS cpus, min(name) AS first,"
                " max(cpuCount) AS biggest GROUP BY powerState ORDER BY vms DESC",
                "[{\"powerState\": \"poweredOn\", \"vms\": 2, \"mem\": 12288, \"cpus\": 3, \"first\": \"web-1\", \"biggest\": 4},"
                " {\"powerState\": \"poweredOff\", \"vms\": 1, \"mem\": 65536, \"cpus\": 16, \"first\": \"db-1\", \"biggest\": 16}]");
  expect_query ("WHERE cpuCount < 10 GROUP BY powerState", "[{\"powerState\": \"poweredOn\", \"count\": 2}]");
  /* errors name the problem */
  const char *bad[][2] = {
    { "SELECT name, cpuCount GROUP BY powerState", "neither in GROUP BY nor aggregated" },
    { "LIMIT ten", "LIMIT takes a whole number" },
    { "SELECT {.name}", "JSONPath templates are not supported" },
    { "where name = ", "syntax error" },
    { "SELECT name GROUP BY", "Empty Clause" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (MtvQuery) q = mtv_query_parse (bad[i][0], &error);
      g_assert_null (q);
      if (strstr (error->message, bad[i][1]) == NULL)
        g_error ("%s: want '%s' in %s", bad[i][0], bad[i][1], error->message);
    }
  /* a type error names the row */
  g_autoptr (JsonNode) docs = json_from_string (inventory, NULL);
  g_autoptr (MtvQuery) q = mtv_query_parse ("name + 1 > 2", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonArray) rows = mtv_query_run (q, json_node_get_array (docs), &error);
  g_assert_null (rows);
  g_assert_nonnull (strstr (error->message, "'web-1'"));
  g_assert_nonnull (strstr (error->message, "type mismatch: expected number"));
}

/* Deep nesting and long input are refused, not a stack overflow. */
static void
test_hostile_input (void)
{
  g_autoptr (GString) deep = g_string_new (NULL);
  for (int i = 0; i < 100000; i++)
    g_string_append_c (deep, '(');
  g_autoptr (GError) error = NULL;
  g_assert_null (tsl_parse (deep->str, &error));
  g_assert_nonnull (strstr (error->message, "nested too deeply"));
  g_clear_error (&error);
  g_string_assign (deep, "");
  for (int i = 0; i < 100000; i++)
    g_string_append (deep, "not ");
  g_assert_null (tsl_parse (deep->str, &error));
  g_clear_error (&error);
  g_assert_null (tsl_parse ("name = '\xff'", &error));
  g_assert_nonnull (strstr (error->message, "UTF-8"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (argc < 2)
    g_error ("usage: test-tsl CASES.TXT");
  cases_path = argv[1];
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;
  if (!g_file_get_contents (cases_path, &text, NULL, &error))
    g_error ("%s", error->message);
  lines = g_strsplit (text, "\n", -1);
  g_test_add_func ("/tsl/parse-trees", test_parse_trees);
  g_test_add_func ("/tsl/evaluation", test_evaluation);
  g_test_add_func ("/tsl/evaluation-errors", test_evaluation_errors);
  g_test_add_func ("/tsl/json-trees", test_json_trees);
  g_test_add_func ("/tsl/parse-errors", test_parse_errors);
  g_test_add_func ("/tsl/lexer", test_lexer);
  g_test_add_func ("/query/parse", test_query_parse);
  g_test_add_func ("/query/validation", test_query_validation);
  g_test_add_func ("/query/filter-and-sort", test_query_filter_and_sort);
  g_test_add_func ("/query/documents", test_documents);
  g_test_add_func ("/tsl/hostile-input", test_hostile_input);
  int status = g_test_run ();
  g_strfreev (lines);
  return status;
}
