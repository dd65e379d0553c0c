/* libFuzzer target for the safetensors reader. Every input must be either
 * refused with LB_EFORMAT or accepted with the promises of
 * lib/nn/safetensors.h kept: tensors sorted by name and found by lookup,
 * each one's bytes inside the input and equal to its shape's size, the
 * ranges tiling the data area. A crash, a sanitizer report or an abort()
 * below is a bug. */
#include "nn/safetensors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t element_count(const lb_st_tensor *t) {
  uint64_t count = 1;
  for (int32_t axis = 0; axis < t->ndim; axis++) count *= (uint64_t)t->shape[axis];
  return count;
}

static void check_tensor(const lb_st_file *file, const lb_st_tensor *t,
                         const uint8_t *data, size_t size) {
  const uint8_t *begin = t->data;
  if (begin < data || t->bytes > size || begin > data + size - t->bytes) abort();
  if (t->ndim < 0 || t->ndim > LB_ST_MAX_DIMS) abort();
  if (element_count(t) * lb_st_dtype_size(t->dtype) != t->bytes) abort();
  if (lb_st_find(file, t->name) != t) abort();
}

/* The bytes the tensors cover add up to the data area, which ends the
 * input; with the reader's gap and overlap checks this means they tile it. */
static void check_file(const lb_st_file *file, const uint8_t *data, size_t size) {
  size_t covered = 0;
  for (size_t i = 0; i < lb_st_count(file); i++) {
    const lb_st_tensor *t = lb_st_at(file, i);
    check_tensor(file, t, data, size);
    if (i > 0 && strcmp(lb_st_at(file, i - 1)->name, t->name) >= 0) abort();
    covered += t->bytes;
  }
  uint64_t header = 0;
  for (int i = 7; i >= 0; i--) header = header << 8 | data[i];
  if (8 + header + covered != size) abort();
  for (size_t i = 0; i < lb_st_metadata_count(file); i++) {
    const lb_st_pair *pair = lb_st_metadata_at(file, i);
    if (lb_st_metadata_find(file, pair->key) != pair->value) abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lb_st_file *file = NULL;
  lb_status status = lb_st_read_buffer(data, size, "fuzz input", &file);
  if (status == LB_OK) check_file(file, data, size);
  else if (status != LB_EFORMAT) abort();
  lb_st_free(file);
  return 0;
}
