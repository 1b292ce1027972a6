#pragma once
#include <json-glib/json-glib.h>

/* Parses an OVF descriptor (OVF 1.x or 2.x, namespaces respected) into the
 * parts of Forklift's OVA inventory it describes:
 *
 *   {"vms": [{"name", "ovfId", "osType", "cpuCount", "coresPerSocket",
 *             "memoryMB", "firmware", "secureBoot", "cpuHotAddEnabled",
 *             "memoryHotAddEnabled",
 *             "disks": [{"diskId", "fileRef", "file", "capacity",
 *                        "capacityAllocationUnits", "populatedSize",
 *                        "format", "controller"}],
 *             "nics": [{"name", "mac", "network", "adapterType"}],
 *             "concerns": [...]}],
 *    "networks": [{"name", "description"}]}
 *
 * Capacities are in bytes. Problems that concern one VM become Critical
 * concerns on it; a document that is not an OVF envelope is an error. */
JsonObject *ova_ovf_parse (const char *xml, gsize length, GError **error);

/* "byte * 2^30", "byte*1024", "MegaBytes", ...: the multiplier in bytes, or 0. */
guint64 ova_ovf_units (const char *units);
