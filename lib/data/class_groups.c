/*
 * Grouping a labelled set by class (see class_groups.h).
 */
#include "class_groups.h"

#include "../core/core_internal.h"

#include <string.h>

void lb_free_class_members(class_members *m) {
  lb_free(m->first);
  lb_free(m->members);
}

static int is_available(const int32_t *labels, int64_t i, int32_t num_classes,
                        const uint8_t *excluded) {
  return labels[i] >= 0 && labels[i] < num_classes &&
         !(excluded && excluded[i]);
}

lb_status lb_group_by_class(const char *who, const int32_t *labels,
                            int64_t count, int32_t num_classes,
                            const uint8_t *excluded, class_members *m) {
  m->first = lb_alloc_zeroed(((size_t)num_classes + 1) * sizeof(int64_t));
  if (!m->first)
    return lb_fail(LB_ENOMEM, "%s: out of memory", who);
  for (int64_t i = 0; i < count; i++)
    if (is_available(labels, i, num_classes, excluded))
      m->first[labels[i] + 1]++;
  for (int32_t c = 0; c < num_classes; c++)
    m->first[c + 1] += m->first[c];
  m->members = lb_alloc(((size_t)m->first[num_classes] + 1) * sizeof(int64_t));
  int64_t *next = lb_alloc((size_t)num_classes * sizeof(int64_t));
  if (!m->members || !next) {
    lb_free(next);
    lb_free_class_members(m);
    return lb_fail(LB_ENOMEM, "%s: out of memory", who);
  }
  memcpy(next, m->first, (size_t)num_classes * sizeof(int64_t));
  for (int64_t i = 0; i < count; i++)
    if (is_available(labels, i, num_classes, excluded))
      m->members[next[labels[i]]++] = i;
  lb_free(next);
  return LB_OK;
}
