/*
 * Reading a whole file into memory, with errors that name the path.
 */
#include "core_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static lb_status read_failure(const char *who, const char *path) {
  return lb_fail(LB_EIO, "%s: cannot read '%s': %s", who, path,
                 strerror(errno));
}

lb_status lb_read_file(const char *who, const char *path, size_t limit,
                       uint8_t **data, size_t *size) {
  *data = NULL;
  *size = 0;
  errno = 0;
  FILE *f = fopen(path, "rb");
  if (!f)
    return read_failure(who, path);
  size_t capacity = 65536, used = 0;
  uint8_t *buffer = lb_alloc(capacity);
  if (!buffer) {
    fclose(f);
    return lb_fail(LB_ENOMEM, "%s: out of memory reading '%s'", who, path);
  }
  for (;;) {
    if (used == capacity) {
      if (capacity >= limit) {
        lb_free(buffer);
        fclose(f);
        return lb_fail(LB_EFORMAT, "%s: '%s' is larger than %zu bytes", who,
                       path, limit);
      }
      size_t grown = capacity > limit / 2 ? limit : capacity * 2;
      uint8_t *bigger = lb_alloc(grown);
      if (!bigger) {
        lb_free(buffer);
        fclose(f);
        return lb_fail(LB_ENOMEM, "%s: out of memory reading '%s'", who,
                       path);
      }
      memcpy(bigger, buffer, used);
      lb_free(buffer);
      buffer = bigger;
      capacity = grown;
    }
    size_t got = fread(buffer + used, 1, capacity - used, f);
    used += got;
    if (got == 0) {
      int failed = ferror(f);
      fclose(f);
      if (failed) {
        lb_free(buffer);
        if (errno == 0)
          errno = EIO;
        return read_failure(who, path);
      }
      break;
    }
  }
  *data = buffer;
  *size = used;
  return LB_OK;
}
