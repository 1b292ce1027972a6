/* TSL lexer: the whole query into tokens before parsing, positions counted
 * in characters so an error's caret lines up under non-ASCII text. */
#include "tsl.h"
#include "tsl-private.h"

#include <string.h>

typedef struct {
  const char *text;
  const char *p;     /* next character */
  guint pos;         /* its index in characters */
  guint start;       /* where the current token (or blank) began */
  GArray *tokens;
} Lexer;

static gunichar
peek (Lexer *l)
{
  return *l->p ? g_utf8_get_char (l->p) : 0;
}

static gunichar
peek_next (Lexer *l)
{
  if (!*l->p)
    return 0;
  const char *n = g_utf8_next_char (l->p);
  return *n ? g_utf8_get_char (n) : 0;
}

static gunichar
advance (Lexer *l)
{
  gunichar c = peek (l);
  if (c)
    {
      l->p = g_utf8_next_char (l->p);
      l->pos++;
    }
  return c;
}

static gboolean
match (Lexer *l, gunichar c)
{
  if (peek (l) != c)
    return FALSE;
  advance (l);
  return TRUE;
}

static void
add (Lexer *l, TslTokenType type, char *value)
{
  TslToken t = { type, value, l->start };
  g_array_append_val (l->tokens, t);
}

static gboolean
lex_error (Lexer *l, GError **error, const char *message)
{
  return tsl_set_error (error, l->text, l->start, "%s", message);
}

static gboolean
is_digit (gunichar c)
{
  return c >= '0' && c <= '9';
}

static gboolean
is_date_prefix (const char *s)
{
  for (int i = 0; i < 10; i++)
    {
      if (i == 4 || i == 7)
        {
          if (s[i] != '-')
            return FALSE;
        }
      else if (!g_ascii_isdigit (s[i]))
        return FALSE;
    }
  return TRUE;
}

/* A bare date (2023-01-01) or timestamp (2023-01-01T15:04:05Z) where a number
 * would start: up to the next blank, ')' , ',' or ']'. */
static gboolean
scan_date (Lexer *l)
{
  if (!is_date_prefix (l->p))
    return FALSE;
  const char *end = l->p;
  while (*end && !strchr (" \t\n),]", *end))
    end++;
  g_autofree char *word = g_strndup (l->p, (gsize) (end - l->p));
  TslTokenType type;
  if (tsl_is_rfc3339 (word))
    type = TSL_TOK_RFC3339;
  else if (tsl_is_date (word))
    type = TSL_TOK_DATE;
  else
    return FALSE;
  while (l->p < end)
    advance (l);
  add (l, type, g_steal_pointer (&word));
  return TRUE;
}

static void
scan_number (Lexer *l)
{
  const char *from = l->p;
  while (is_digit (peek (l)))
    advance (l);
  if (peek (l) == '.' && is_digit (peek_next (l)))
    {
      advance (l);
      while (is_digit (peek (l)))
        advance (l);
    }
  if (peek (l) == 'e' || peek (l) == 'E')
    {
      advance (l);
      if (peek (l) == '+' || peek (l) == '-')
        advance (l);
      while (is_digit (peek (l)))
        advance (l);
    }
  if (peek (l) && strchr ("kKmMgGtTpP", (int) peek (l)))
    {
      advance (l);
      if (peek (l) == 'i' || peek (l) == 'I')
        advance (l);
    }
  add (l, TSL_TOK_NUMBER, g_strndup (from, (gsize) (l->p - from)));
}

static gboolean
scan_string (Lexer *l, gunichar quote, GError **error)
{
  GString *value = g_string_new (NULL);
  while (peek (l) && peek (l) != quote)
    {
      gunichar c = advance (l);
      if (c == '\\' && peek (l))
        {
          gunichar e = advance (l);
          switch (e)
            {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            default: c = e; break;   /* \\ \' \" \` and anything else: itself */
            }
        }
      g_string_append_unichar (value, c);
    }
  if (!peek (l))
    {
      g_string_free (value, TRUE);
      return lex_error (l, error, "Unterminated string");
    }
  advance (l);
  TslTokenType type = tsl_is_date (value->str) ? TSL_TOK_DATE
                      : tsl_is_rfc3339 (value->str) ? TSL_TOK_RFC3339 : TSL_TOK_STRING;
  add (l, type, g_string_free (value, FALSE));
  return TRUE;
}

static const struct {
  const char *word;
  TslTokenType type;
} keywords[] = {
  { "and", TSL_TOK_AND }, { "or", TSL_TOK_OR }, { "not", TSL_TOK_NOT }, { "like", TSL_TOK_LIKE },
  { "ilike", TSL_TOK_ILIKE }, { "between", TSL_TOK_BETWEEN }, { "in", TSL_TOK_IN }, { "is", TSL_TOK_IS },
  { "null", TSL_TOK_NULL }, { "true", TSL_TOK_TRUE }, { "false", TSL_TOK_FALSE }, { "len", TSL_TOK_LEN },
  { "any", TSL_TOK_ANY }, { "all", TSL_TOK_ALL }, { "sum", TSL_TOK_SUM },
};

static void
scan_identifier (Lexer *l)
{
  const char *from = l->p;
  advance (l);
  for (;;)
    {
      gunichar c = peek (l);
      if (g_unichar_isalpha (c) || g_unichar_isdigit (c) || c == '_' || c == '.' || c == '/')
        advance (l);
      else if (c == '[')
        {
          /* a[0], a[*], a[key]: kept in the name, the path compiler reads it. */
          while (peek (l) && peek (l) != ']')
            advance (l);
          match (l, ']');
        }
      else
        break;
    }
  char *word = g_strndup (from, (gsize) (l->p - from));
  for (gsize i = 0; i < G_N_ELEMENTS (keywords); i++)
    if (g_ascii_strcasecmp (word, keywords[i].word) == 0)
      {
        add (l, keywords[i].type, word);
        return;
      }
  add (l, TSL_TOK_IDENTIFIER, word);
}

static gboolean
scan_token (Lexer *l, GError **error)
{
  gunichar c = advance (l);
  switch (c)
    {
    case ' ': case '\r': case '\t': case '\n': case '\f': case '\v':
      return TRUE;
    case '(': add (l, TSL_TOK_LPAREN, NULL); return TRUE;
    case ')': add (l, TSL_TOK_RPAREN, NULL); return TRUE;
    case '[': add (l, TSL_TOK_LBRACKET, NULL); return TRUE;
    case ']': add (l, TSL_TOK_RBRACKET, NULL); return TRUE;
    case ',': add (l, TSL_TOK_COMMA, NULL); return TRUE;
    case '+': add (l, TSL_TOK_PLUS, NULL); return TRUE;
    case '-': add (l, TSL_TOK_MINUS, NULL); return TRUE;
    case '*': add (l, TSL_TOK_STAR, NULL); return TRUE;
    case '/': add (l, TSL_TOK_SLASH, NULL); return TRUE;
    case '%': add (l, TSL_TOK_PERCENT, NULL); return TRUE;
    case '=':
      match (l, '=');
      add (l, TSL_TOK_EQ, NULL);
      return TRUE;
    case '<':
      if (match (l, '='))
        add (l, TSL_TOK_LE, NULL);
      else if (match (l, '>'))
        add (l, TSL_TOK_NE, NULL);
      else
        add (l, TSL_TOK_LT, NULL);
      return TRUE;
    case '>':
      add (l, match (l, '=') ? TSL_TOK_GE : TSL_TOK_GT, NULL);
      return TRUE;
    case '!':
      if (!match (l, '='))
        return lex_error (l, error, "Unexpected character '!'");
      add (l, TSL_TOK_NE, NULL);
      return TRUE;
    case '~':
      if (match (l, '='))
        add (l, TSL_TOK_REQ, NULL);
      else if (match (l, '!'))
        add (l, TSL_TOK_RNE, NULL);
      else
        return lex_error (l, error, "Unexpected character '~'");
      return TRUE;
    case '\'': case '"': case '`':
      return scan_string (l, c, error);
    default:
      break;
    }
  /* Put the character back: numbers, dates and names are scanned whole. */
  l->p = g_utf8_prev_char (l->p);
  l->pos--;
  if (is_digit (c))
    {
      if (!scan_date (l))
        scan_number (l);
      return TRUE;
    }
  if (g_unichar_isalpha (c) || c == '_')
    {
      scan_identifier (l);
      return TRUE;
    }
  g_autofree char *message = NULL;
  if (g_unichar_isprint (c))
    {
      char utf8[8] = { 0 };
      g_unichar_to_utf8 (c, utf8);
      message = g_strdup_printf ("Unexpected character '%s'", utf8);
    }
  else
    message = g_strdup_printf ("Unexpected character U+%04X", c);
  return lex_error (l, error, message);
}

GArray *
tsl_lex (const char *text, GError **error)
{
  if (!g_utf8_validate (text, -1, NULL))
    {
      tsl_set_error (error, "", 0, "the query is not valid UTF-8");
      return NULL;
    }
  Lexer l = { text, text, 0, 0, g_array_new (FALSE, FALSE, sizeof (TslToken)) };
  while (*l.p)
    {
      l.start = l.pos;
      if (!scan_token (&l, error))
        {
          tsl_tokens_free (l.tokens);
          return NULL;
        }
    }
  /* EOF sits where the last token or blank began, as in the reference lexer,
   * so "a > 1 and" reports its missing operand at "and". */
  add (&l, TSL_TOK_EOF, NULL);
  return l.tokens;
}

void
tsl_tokens_free (GArray *tokens)
{
  if (tokens == NULL)
    return;
  for (guint i = 0; i < tokens->len; i++)
    g_free (g_array_index (tokens, TslToken, i).value);
  g_array_free (tokens, TRUE);
}

const char *
tsl_token_name (TslTokenType type)
{
  static const char *const names[] = {
    "EOF", "IDENTIFIER", "STRING_LITERAL", "NUMERIC_LITERAL", "DATE", "RFC3339",
    "EQ", "NE", "LT", "LE", "GT", "GE", "REQ", "RNE",
    "PLUS", "MINUS", "STAR", "SLASH", "PERCENT", "LPAREN", "RPAREN", "LBRACKET", "RBRACKET", "COMMA",
    "AND", "OR", "NOT", "LIKE", "ILIKE", "BETWEEN", "IN", "IS", "NULL", "TRUE", "FALSE",
    "LEN", "ANY", "ALL", "SUM",
  };
  return (guint) type < G_N_ELEMENTS (names) ? names[type] : "?";
}
