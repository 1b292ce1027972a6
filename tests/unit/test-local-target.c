/* The local target's directory and libvirt domain, done again for the same
 * migration after a restart (idempotent) and refused for anything else. */
#include "targets/local/local-target.h"
#include "targets/mtv-vm-builder.h"

#include <glib/gstdio.h>
#include <libvirt/libvirt.h>
#include <string.h>

static char *
domain (const char *name, const char *migration)
{
  return g_strdup_printf ("<domain type='test'><name>%s</name><metadata><mtv:migration xmlns:mtv='" MTV_VM_XMLNS
                          "' plan='p' migration='%s' vmID='1'/></metadata><memory unit='MiB'>64</memory>"
                          "<os><type arch='x86_64'>hvm</type></os></domain>", name, migration);
}

static void
test_define_again (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *xml = domain ("again", "m1");
  /* test:///default keeps its domains while a connection to it is open. */
  virConnectPtr keep = virConnectOpen ("test:///default");
  g_assert_nonnull (keep);
  g_autofree char *first = mtv_local_define ("test:///default", "again", "m1", xml, &error);
  g_assert_no_error (error);
  g_autofree char *second = mtv_local_define ("test:///default", "again", "m1", xml, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (first, ==, second);
  /* Another migration's domain of that name is not replaced. */
  g_autofree char *other = domain ("again", "m2");
  g_autofree char *third = mtv_local_define ("test:///default", "again", "m2", other, &error);
  g_assert_null (third);
  g_assert_nonnull (strstr (error->message, "a domain named again exists already"));
  virConnectClose (keep);
}

static void
test_prepare_again (void)
{
  g_autofree char *root = g_dir_make_tmp ("mtv-local-XXXXXX", NULL);
  g_autofree char *dir = g_build_filename (root, "ns", "vm", NULL);
  g_autoptr (GError) error = NULL;
  g_assert_true (mtv_local_prepare (dir, "m1", &error));
  g_autofree char *disk = mtv_local_disk_path (dir, 0);
  g_assert_true (g_file_set_contents (disk, "data", -1, NULL));
  /* Again for the same migration: taken as it is. */
  g_assert_true (mtv_local_prepare (dir, "m1", &error));
  g_assert_true (g_file_test (disk, G_FILE_TEST_EXISTS));
  /* Another migration's is refused, and so is its cleanup. */
  g_assert_false (mtv_local_prepare (dir, "m2", &error));
  g_assert_nonnull (strstr (error->message, "migration m1 was filling it"));
  g_clear_error (&error);
  mtv_local_abort (dir, "m2", TRUE);
  g_assert_true (g_file_test (disk, G_FILE_TEST_EXISTS));
  /* Its own cleanup removes it all. */
  mtv_local_abort (dir, "m1", TRUE);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  /* A directory it did not record making goes only if it holds nothing. */
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_true (g_file_set_contents (disk, "theirs", -1, NULL));
  mtv_local_abort (dir, "m1", FALSE);
  g_assert_true (g_file_test (disk, G_FILE_TEST_EXISTS));
  g_unlink (disk);
  mtv_local_abort (dir, "m1", FALSE);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  g_autofree char *ns = g_path_get_dirname (dir);
  g_rmdir (ns);
  g_rmdir (root);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/local-target/define-again", test_define_again);
  g_test_add_func ("/local-target/prepare-again", test_prepare_again);
  return g_test_run ();
}
