/* A temporary directory for test programs that write files: CMocka group
 * setup and teardown functions and a path builder. Include after <cmocka.h>
 * in a file that defines _POSIX_C_SOURCE 200809L (for mkdtemp). */
#ifndef LOSSBAL_TEST_SCRATCH_H
#define LOSSBAL_TEST_SCRATCH_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char scratch_dir[256];

/* Group setup: creates $TMPDIR/lossbal-test-XXXXXX (or under /tmp). */
static inline int make_scratch(void **state) {
  (void)state;
  const char *base = getenv("TMPDIR");
  snprintf(scratch_dir, sizeof scratch_dir, "%s/lossbal-test-XXXXXX",
           base ? base : "/tmp");
  return mkdtemp(scratch_dir) ? 0 : -1;
}

/* Group teardown: removes the directory, which the tests left empty. */
static inline int remove_scratch(void **state) {
  (void)state;
  return rmdir(scratch_dir);
}

/* out = "<scratch directory>/<name>". */
static inline void scratch_path(char *out, size_t capacity, const char *name) {
  snprintf(out, capacity, "%s/%s", scratch_dir, name);
}

#endif /* LOSSBAL_TEST_SCRATCH_H */
