#pragma once
#include <gio/gio.h>
#include <json-glib/json-glib.h>

/* What a migration needs of a source platform, per VM: a table of functions
 * that daemon/providers/<type>/ fills. The engine (daemon/migration/) calls
 * nothing else of a provider and never names its type. What a source cannot
 * do is left NULL, and the itineraries' predicates read that: a source
 * without power_off skips PowerOffSource, one without snapshot_create cannot
 * run the warm itinerary. Every function but disk_server blocks and is
 * called from a worker thread. */

typedef struct {
  const char *provider;      /* the provider's name */
  JsonObject *spec;          /* the provider's spec */
  JsonObject *credentials;   /* its write-only secrets */
  JsonObject *vm;            /* the inventory VM */
  const char *workdir;       /* mtvd's private runtime directory (sockets, scripts; new at every start) */
  const char *snapshot;      /* warm: the snapshot disks are read from, else NULL */
  guint snapshot_removal_seconds;   /* how long removing a snapshot may take */
  /* The VM's session: whatever the adapter keeps between calls (an export's
   * name, a snapshot's moref). The engine stores it, so it survives a
   * restart of mtvd: never a secret. The only thing an adapter may change. */
  JsonObject *session;
} MtvSourceContext;

/* Changed areas of a disk (warm): offset and length in bytes. */
typedef struct {
  guint64 offset, length;
} MtvExtent;

typedef struct _MtvSourceAdapter MtvSourceAdapter;
struct _MtvSourceAdapter {
  /* Starts the session (finds the VM, checks it can be migrated). */
  gboolean (*open) (const MtvSourceContext *ctx, GError **error);
  /* Ends it: undoes open_disks and whatever else the session holds. Called
   * once the VM is done, whatever the outcome, and again after a restart if
   * mtvd stopped before it ran. */
  gboolean (*close) (const MtvSourceContext *ctx, GError **error);

  /* Power: the current state as a string power_restore understands, turning
   * it off, whether it is off yet, and setting it back (after a failure). */
  char *(*power_state) (const MtvSourceContext *ctx, GError **error);
  gboolean (*power_off) (const MtvSourceContext *ctx, GError **error);
  gboolean (*powered_off) (const MtvSourceContext *ctx, gboolean *off, GError **error);
  gboolean (*power_restore) (const MtvSourceContext *ctx, const char *state, GError **error);

  /* Snapshots (warm): create one (its id), whether it is complete (NULL:
   * create waits for that itself), and remove one. */
  char *(*snapshot_create) (const MtvSourceContext *ctx, GError **error);
  gboolean (*snapshot_ready) (const MtvSourceContext *ctx, const char *id, gboolean *ready, GError **error);
  gboolean (*snapshot_remove) (const MtvSourceContext *ctx, const char *id, GError **error);
  /* What identifies the state of each disk at snapshot @id (vSphere: the
   * disks' change ids), and the areas of disk @index that changed between
   * two such checkpoints. */
  JsonObject *(*checkpoint) (const MtvSourceContext *ctx, const char *snapshot, GError **error);
  GArray *(*changed_extents) (const MtvSourceContext *ctx, guint index, JsonObject *from, JsonObject *to,
                              GError **error);

  /* The disks to copy, made readable (an export created, a snapshot read);
   * NULL here: the inventory VM's disks as they are. */
  JsonArray *(*open_disks) (const MtvSourceContext *ctx, GError **error);
  /* The command that serves @disk (from open_disks or the inventory)
   * read-only as NBD on the unix socket @socket. Required; does not block. */
  char **(*disk_server) (JsonObject *disk, const char *socket, GError **error);
  /* Once @disk is copied, before it counts: whether it was read from one
   * state of the source (the file unchanged, the VM still off), else the
   * error says what changed and the VM fails. mtv-transfer proves the
   * target holds what it read; this proves what it read is one disk. */
  gboolean (*verify_read) (const MtvSourceContext *ctx, JsonObject *disk, GError **error);
  /* For a target that pulls disks itself (CDI's importers): where it can
   * read @disk (from open_disks) from the source directly, as a CDI
   * DataVolume source ({"vddk": {...}}), and in @secret what the Secret its
   * secretRef names must hold. NULL without an error: not offered for this
   * disk, which mtvd then serves itself. */
  JsonObject *(*import_source) (const MtvSourceContext *ctx, JsonObject *disk, JsonObject **secret, GError **error);
  /* What the disks are read from, as the status says ("the stopped VM"). */
  const char *reads_from;
};
