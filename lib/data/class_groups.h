/*
 * Grouping a labelled set by class (a counting sort), shared by the split
 * builder and the samplers. Never installed.
 */
#ifndef LOSSBAL_DATA_CLASS_GROUPS_H
#define LOSSBAL_DATA_CLASS_GROUPS_H

#include "lossbal/lossbal.h"

#include <stdint.h>

/* members[first[c] .. first[c + 1]) are the indices of class c, ascending. */
typedef struct class_members {
  int64_t *first;   /* num_classes + 1 */
  int64_t *members; /* first[num_classes] (+ 1, never empty) */
} class_members;

/* Groups the indices i in [0, count) whose label is in [0, num_classes)
 * and that are not excluded[i] (excluded may be NULL). On failure
 * (LB_ENOMEM, message starting with who) nothing stays allocated. */
lb_status lb_group_by_class(const char *who, const int32_t *labels,
                            int64_t count, int32_t num_classes,
                            const uint8_t *excluded, class_members *m);

void lb_free_class_members(class_members *m);

#endif /* LOSSBAL_DATA_CLASS_GROUPS_H */
