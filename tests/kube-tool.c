/* Drives the Kubernetes client (daemon/kube/) from tests:
 *   kube-tool KUBECONFIG VERB GROUP/VERSION/PLURAL NS [ARGS...]
 * NS "-" is a cluster-scoped resource. Verbs: get NAME, delete NAME,
 * create FILE, replace FILE, apply FILE, patch NAME FILE, update-label NAME
 * KEY VALUE (get, change, replace, retried on conflicts), list SELECTOR
 * PAGE-SIZE, watch SELECTOR TIMEOUT NAME TYPE (prints events until NAME has
 * an event of TYPE). FILE "-" is standard input. Prints JSON; errors go to
 * stderr as "error CODE: message" with exit status 1. */
#include "kube-client.h"
#include "mtv-json.h"

#include <stdio.h>
#include <string.h>

static void
print (JsonNode *node)
{
  g_autofree char *text = json_to_string (node, FALSE);
  printf ("%s\n", text);
  fflush (stdout);
}

static void
print_object (JsonObject *o)
{
  g_autoptr (JsonNode) n = json_node_init_object (json_node_alloc (), o);
  print (n);
}

static JsonObject *
read_object (const char *path, GError **error)
{
  g_autofree char *text = NULL;
  if (strcmp (path, "-") == 0)
    {
      g_autoptr (GString) s = g_string_new (NULL);
      char buf[4096];
      size_t n;
      while ((n = fread (buf, 1, sizeof buf, stdin)) > 0)
        g_string_append_len (s, buf, (gssize) n);
      text = g_string_free (g_steal_pointer (&s), FALSE);
    }
  else if (!g_file_get_contents (path, &text, NULL, error))
    return NULL;
  return mtv_json_object_from_string (text, path, error);
}

typedef struct {
  const char *name, *type;
} Until;

static gboolean
on_event (const char *type, JsonObject *object, gpointer data)
{
  Until *u = data;
  g_autoptr (JsonObject) line = json_object_new ();
  json_object_set_string_member (line, "type", type);
  json_object_set_object_member (line, "object", json_object_ref (object));
  print_object (line);
  JsonObject *meta = json_object_get_object_member (object, "metadata");
  return !(g_strcmp0 (json_object_get_string_member (meta, "name"), u->name) == 0 && g_str_equal (type, u->type));
}

typedef struct {
  const char *key, *value;
} Label;

static gboolean
set_label (JsonObject *object, gpointer data, GError **error)
{
  Label *l = data;
  JsonObject *meta = json_object_get_object_member (object, "metadata");
  if (!json_object_has_member (meta, "labels"))
    json_object_set_object_member (meta, "labels", json_object_new ());
  json_object_set_string_member (json_object_get_object_member (meta, "labels"), l->key, l->value);
  return TRUE;
}

static int
failed (GError *error)
{
  fprintf (stderr, "error %d: %s\n", error->domain == MTV_KUBE_ERROR ? error->code : -1, error->message);
  return 1;
}

int
main (int argc, char **argv)
{
  if (argc < 5)
    {
      fprintf (stderr, "usage: kube-tool KUBECONFIG VERB GROUP/VERSION/PLURAL NS [ARGS...]\n");
      return 2;
    }
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  gsize len;
  g_autofree char *dir = g_path_get_dirname (argv[1]);
  MtvKubeConfig *config;
  /* "in-cluster:ROOT": the service-account files below ROOT. */
  if (g_str_has_prefix (argv[1], "in-cluster:"))
    config = mtv_kube_config_in_cluster (argv[1] + strlen ("in-cluster:"), &error);
  else if (!g_file_get_contents (argv[1], &text, &len, &error))
    return failed (error);
  else
    config = mtv_kube_config_from_kubeconfig (text, len, dir, g_getenv ("KUBE_CONTEXT"), &error);
  if (config == NULL)
    return failed (error);
  g_autoptr (MtvKube) kube = mtv_kube_new (config);
  const char *verb = argv[2];
  g_auto (GStrv) parts = g_strsplit (argv[3], "/", 3);
  if (g_strv_length (parts) != 3)
    {
      fprintf (stderr, "resource must be GROUP/VERSION/PLURAL\n");
      return 2;
    }
  gboolean cluster_scoped = strcmp (argv[4], "-") == 0;
  MtvKubeResource res = { parts[0], parts[1], parts[2], !cluster_scoped };
  const char *ns = cluster_scoped ? NULL : argv[4];
  g_autoptr (JsonObject) result = NULL;
  g_autoptr (JsonObject) input = NULL;
  if (g_str_equal (verb, "get") && argc == 6)
    result = mtv_kube_get (kube, &res, ns, argv[5], &error);
  else if (g_str_equal (verb, "delete") && argc == 6)
    {
      if (!mtv_kube_delete (kube, &res, ns, argv[5], &error))
        return failed (error);
      printf ("deleted\n");
      return 0;
    }
  else if ((g_str_equal (verb, "create") || g_str_equal (verb, "replace") || g_str_equal (verb, "apply")) && argc == 6)
    {
      if ((input = read_object (argv[5], &error)) == NULL)
        return failed (error);
      result = g_str_equal (verb, "create") ? mtv_kube_create (kube, &res, ns, input, &error)
               : g_str_equal (verb, "replace") ? mtv_kube_replace (kube, &res, ns, input, NULL, &error)
                                               : mtv_kube_apply (kube, &res, ns, input, FALSE, &error);
    }
  else if (g_str_equal (verb, "patch") && argc == 7)
    {
      if ((input = read_object (argv[6], &error)) == NULL)
        return failed (error);
      result = mtv_kube_merge_patch (kube, &res, ns, argv[5], input, NULL, &error);
    }
  else if (g_str_equal (verb, "update-label") && argc == 8)
    {
      Label l = { argv[6], argv[7] };
      result = mtv_kube_update (kube, &res, ns, argv[5], set_label, &l, &error);
    }
  else if (g_str_equal (verb, "list") && argc == 7)
    {
      g_autofree char *rv = NULL;
      g_autoptr (JsonArray) items = mtv_kube_list (kube, &res, ns, *argv[5] ? argv[5] : NULL,
                                                   (guint) atoi (argv[6]), &rv, &error);
      if (items == NULL)
        return failed (error);
      g_autoptr (JsonNode) n = json_node_init_array (json_node_alloc (), items);
      print (n);
      return 0;
    }
  else if (g_str_equal (verb, "watch") && argc == 9)
    {
      Until u = { argv[7], argv[8] };
      if (!mtv_kube_watch (kube, &res, ns, *argv[5] ? argv[5] : NULL, (guint) atoi (argv[6]), on_event, &u, &error))
        return failed (error);
      return 0;
    }
  else
    {
      fprintf (stderr, "bad verb or arguments\n");
      return 2;
    }
  if (result == NULL)
    return failed (error);
  print_object (result);
  return 0;
}
