#pragma once
#include <gio/gio.h>

/* Command-line flags that become spec fields. Each command lists its flags in
 * a table; parsing fills the spec (a{sv}), the write-only credentials (a{ss}),
 * the provider settings (a{ss}) and, for flags that need more work, the raw
 * values by flag name. A flag that was not given leaves its key out, so the
 * same tables serve `create` and `patch`. */

typedef enum {
  MTV_FLAG_STRING,      /* key = value */
  MTV_FLAG_BOOL,        /* --flag, --flag=true|false */
  MTV_FLAG_INT,         /* key = int64 */
  MTV_FLAG_MAP,         /* "k=v,k2=v2" -> a{ss} */
  MTV_FLAG_SECRET,      /* credentials[key] = value; "@file" reads the file */
  MTV_FLAG_SECRET_FILE, /* credentials[key] = contents of the file ("-": stdin) */
  MTV_FLAG_SECRET_BOOL, /* credentials[key] = "true"|"false" */
  MTV_FLAG_SETTING,     /* settings[key] = value */
  MTV_FLAG_SETTINGS,    /* --setting K=V, repeatable */
  MTV_FLAG_RAW,         /* kept as given, for the command to handle */
} MtvFlagType;

typedef struct {
  const char *long_name;
  char short_name;
  MtvFlagType type;
  const char *key;
  const char *description;
  const char *arg_description;
} MtvFlag;

typedef struct {
  GVariantDict spec;
  GHashTable *credentials; /* key -> value */
  GHashTable *settings;    /* key -> value */
  GHashTable *raw;         /* long name -> value */
  const MtvFlag *flags;
  gsize n_flags;
} MtvFlagValues;

void mtv_flag_values_init (MtvFlagValues *values, const MtvFlag *flags, gsize n_flags);
void mtv_flag_values_clear (MtvFlagValues *values);

/* Adds the flags as the context's main group, writing into @values. */
void mtv_flags_add_to_context (GOptionContext *context, MtvFlagValues *values);

/* "k=v,k2=v2" as a{ss}. */
GVariant *mtv_flags_parse_map (const char *text, const char *flag, GError **error);
/* A value, or with a leading '@' the contents of that file. */
char *mtv_flags_value_or_file (const char *text, const char *flag, GError **error);
/* A secret from a file, or from standard input for "-", without a trailing newline. */
char *mtv_flags_read_secret (const char *path, const char *flag, GError **error);
/* Builds a{ss} from a hash table of strings. */
GVariant *mtv_flags_string_map (GHashTable *table);
