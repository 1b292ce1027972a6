#pragma once
#include <glib.h>

/* The itineraries: for each migration type, Forklift's phases in order
 * (pkg/controller/plan/migrator), as data. Each phase says when it applies
 * (a predicate over the VM and its adapters; NULL: always), which step of
 * the user-facing pipeline it belongs to (NULL: none, Completed), whether a
 * VM that mtvd's restart stopped there resumes there, and the function that
 * does it. A phase function ends by going on (mtv_vm_next, mtv_vm_goto),
 * waiting (a timer or an event calls it again), or failing the VM. */
typedef struct _MtvVm MtvVm;

typedef struct _MtvPhase MtvPhase;
struct _MtvPhase {
  const char *name;
  const char *step;
  gboolean (*applies) (MtvVm *vm);
  gboolean resumable;
  void (*run) (MtvVm *vm);
};

typedef struct _MtvItinerary MtvItinerary;
struct _MtvItinerary {
  const char *type;              /* cold, warm, live, conversion */
  const MtvPhase *phases;
  guint n_phases;
};

/* The itinerary of a plan type, or NULL. */
const MtvItinerary *mtv_itinerary_for (const char *type);
/* The phase named @name, or NULL. */
const MtvPhase *mtv_itinerary_phase (const MtvItinerary *itinerary, const char *name);
/* The first phase after @name (NULL: from the start) that applies to @vm. */
const MtvPhase *mtv_itinerary_next (const MtvItinerary *itinerary, const char *name, MtvVm *vm);
/* The steps of the pipeline @vm goes through, in order (NULL-terminated). */
GPtrArray *mtv_itinerary_steps (const MtvItinerary *itinerary, MtvVm *vm);
/* The step phase @name belongs to ("Initialize" when it is not a phase). */
const char *mtv_itinerary_step_of (const MtvItinerary *itinerary, const char *name);
