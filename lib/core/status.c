/* Names and descriptions of status codes. */
#include "lossbal/lossbal.h"

#include <stddef.h>

typedef struct status_entry {
  const char *name;
  const char *text;
} status_entry;

/* Indexed by code. A code added to lb_status must be added here too; the
 * assertion below fails the build until it is. */
#define LB_STATUS_ENTRY(code, text) [code] = {#code, text}
static const status_entry status_table[] = {
  LB_STATUS_ENTRY(LB_OK, "success"),
  LB_STATUS_ENTRY(LB_EINVAL, "invalid argument"),
  LB_STATUS_ENTRY(LB_ENOMEM, "out of memory"),
  LB_STATUS_ENTRY(LB_EIO, "input/output error"),
  LB_STATUS_ENTRY(LB_EFORMAT, "malformed or unrecognised data format"),
  LB_STATUS_ENTRY(LB_ESTATE, "object is not in a state that allows this call"),
  LB_STATUS_ENTRY(LB_ENONFINITE, "non-finite value (NaN or infinity)"),
  LB_STATUS_ENTRY(LB_EUNSUPPORTED, "operation or option not supported"),
};
#undef LB_STATUS_ENTRY

_Static_assert(sizeof status_table / sizeof status_table[0] == LB_EUNSUPPORTED + 1,
               "status_table must name every lb_status code");

static const status_entry *find_status(lb_status status) {
  size_t index = (size_t)status;
  if (status < 0 || index >= sizeof status_table / sizeof status_table[0])
    return NULL;
  return &status_table[index];
}

const char *lb_status_string(lb_status status) {
  const status_entry *entry = find_status(status);
  return entry ? entry->text : "unknown status";
}

const char *lb_status_name(lb_status status) {
  const status_entry *entry = find_status(status);
  return entry ? entry->name : "LB_UNKNOWN";
}
