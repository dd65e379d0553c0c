/* libFuzzer target for the IDX loader. The input, split at its first byte
 * into an image file and a label file, is written to two temporary files
 * (the loader reads paths, through zlib, so both plain and gzip streams are
 * reached). Every input must load with the promises of data.h kept (labels
 * within the classes, a positive shape) or be refused with LB_EFORMAT; a
 * crash, a sanitizer report or an abort() below is a bug. */
#define _POSIX_C_SOURCE 200809L

#include "lossbal/data.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write_all(const char *path, const uint8_t *data, size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f)
    abort();
  if (size && fwrite(data, 1, size, f) != size)
    abort();
  fclose(f);
}

static void check_dataset(const lb_dataset *ds) {
  int32_t c = 0, h = 0, w = 0;
  if (lb_dataset_sample_shape(ds, &c, &h, &w) != LB_OK || c != 1 || h < 1 ||
      w < 1)
    abort();
  const int32_t *labels = lb_dataset_labels(ds);
  for (int64_t i = 0; i < lb_dataset_size(ds); i++)
    if (labels[i] < 0 || labels[i] >= lb_dataset_num_classes(ds))
      abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  size_t image_bytes = data[0] < size - 1 ? data[0] : size - 1;
  char images[64], labels[64];
  snprintf(images, sizeof images, "/tmp/lossbal-fuzz-%d-images", (int)getpid());
  snprintf(labels, sizeof labels, "/tmp/lossbal-fuzz-%d-labels", (int)getpid());
  write_all(images, data + 1, image_bytes);
  write_all(labels, data + 1 + image_bytes, size - 1 - image_bytes);
  lb_dataset *ds = NULL;
  lb_status status = lb_dataset_load_idx(images, labels, &ds);
  if (status == LB_OK)
    check_dataset(ds);
  else if (status != LB_EFORMAT || ds != NULL)
    abort();
  lb_dataset_free(ds);
  unlink(images);
  unlink(labels);
  return 0;
}
