/*
 * IDX files (the MNIST format), plain or gzip-compressed, read through
 * zlib's gz interface, which passes plain files through unchanged.
 *
 * An IDX file is a big-endian header, 0x00 0x00 <type> <dimension count>,
 * one uint32 per dimension, then the elements. Only unsigned bytes (type
 * 0x08) are used by image datasets. The header's sizes are never trusted
 * for allocation: memory grows with the bytes actually read, so a header
 * that claims terabytes costs nothing before it is found out.
 */
#include "dataset_internal.h"

#include "../core/core_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#define IDX_TYPE_UNSIGNED_BYTE 0x08
#define IDX_MAX_DIMENSIONS 3
/* The largest element payload read: 16 GiB, far above any IDX dataset. */
#define IDX_MAX_PAYLOAD_BYTES ((uint64_t)1 << 34)
/* The first allocation for the payload; it doubles as data arrives. */
#define IDX_FIRST_CHUNK_BYTES ((size_t)1 << 20)

static const char *const fashion_mnist_names[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

typedef struct idx_array {
  int32_t dimensions;
  uint32_t sizes[IDX_MAX_DIMENSIONS];
  uint8_t *elements;
  size_t element_count;
} idx_array;

/* The error of a failed gz call: the file system's (LB_EIO) or the
 * stream's (LB_EFORMAT: corrupt or truncated compressed data). */
static lb_status gz_failure(const char *who, const char *path, gzFile file,
                            const char *doing) {
  int code = Z_OK;
  const char *message = gzerror(file, &code);
  if (code == Z_ERRNO)
    return lb_fail(LB_EIO, "%s: cannot read '%s' (%s): %s", who, path, doing,
                   strerror(errno));
  return lb_fail(LB_EFORMAT, "%s: '%s' is corrupt (%s): %s", who, path, doing,
                 message ? message : "unknown zlib error");
}

/* Reads up to `bytes` bytes; *got is how many arrived before the end of the
 * data. An error of the stream is reported, a short read is not. */
static lb_status read_some(const char *who, const char *path, gzFile file,
                           uint8_t *target, size_t bytes, size_t *got) {
  *got = 0;
  while (*got < bytes) {
    size_t ask = bytes - *got;
    if (ask > ((size_t)1 << 30))
      ask = (size_t)1 << 30;
    int read = gzread(file, target + *got, (unsigned)ask);
    if (read < 0)
      return gz_failure(who, path, file, "reading");
    if (read == 0) {
      int code = Z_OK;
      gzerror(file, &code);
      if (code != Z_OK)
        return gz_failure(who, path, file, "reading");
      break;
    }
    *got += (size_t)read;
  }
  return LB_OK;
}

static lb_status read_header(const char *who, const char *path, gzFile file,
                             int32_t want_dimensions, idx_array *array,
                             uint64_t *payload_bytes) {
  uint8_t magic[4];
  size_t got = 0;
  lb_status status = read_some(who, path, file, magic, sizeof magic, &got);
  if (status != LB_OK)
    return status;
  uint32_t expected_magic = (uint32_t)IDX_TYPE_UNSIGNED_BYTE << 8 |
                            (uint32_t)want_dimensions;
  uint32_t found_magic = (uint32_t)magic[0] << 24 | (uint32_t)magic[1] << 16 |
                         (uint32_t)magic[2] << 8 | magic[3];
  if (got < sizeof magic)
    return lb_fail(LB_EFORMAT, "%s: '%s' is too short for an IDX header",
                   who, path);
  if (found_magic != expected_magic)
    return lb_fail(LB_EFORMAT,
                   "%s: '%s' has magic number 0x%08x; an IDX file of unsigned "
                   "bytes in %d dimensions has 0x%08x", who, path,
                   (unsigned)found_magic, (int)want_dimensions,
                   (unsigned)expected_magic);
  array->dimensions = want_dimensions;
  uint64_t total = 1;
  for (int32_t d = 0; d < want_dimensions; d++) {
    uint8_t size_bytes[4];
    status = read_some(who, path, file, size_bytes, sizeof size_bytes, &got);
    if (status != LB_OK)
      return status;
    if (got < sizeof size_bytes)
      return lb_fail(LB_EFORMAT, "%s: '%s' ends inside its IDX header", who,
                     path);
    uint32_t size = (uint32_t)size_bytes[0] << 24 |
                    (uint32_t)size_bytes[1] << 16 |
                    (uint32_t)size_bytes[2] << 8 | size_bytes[3];
    if (size == 0 || size > INT32_MAX)
      return lb_fail(LB_EFORMAT, "%s: '%s' declares dimension %d of size %u",
                     who, path, (int)d, (unsigned)size);
    array->sizes[d] = size;
    total *= size;
    if (total > IDX_MAX_PAYLOAD_BYTES)
      return lb_fail(LB_EFORMAT, "%s: '%s' declares more than %llu elements",
                     who, path, (unsigned long long)IDX_MAX_PAYLOAD_BYTES);
  }
  *payload_bytes = total;
  return LB_OK;
}

/* Reads exactly `payload_bytes` elements, growing the buffer with the data,
 * and checks that nothing follows them. */
static lb_status read_payload(const char *who, const char *path, gzFile file,
                              uint64_t payload_bytes, idx_array *array) {
  size_t wanted = (size_t)payload_bytes;
  size_t capacity = wanted < IDX_FIRST_CHUNK_BYTES ? wanted
                                                   : IDX_FIRST_CHUNK_BYTES;
  size_t used = 0;
  uint8_t *buffer = lb_alloc(capacity);
  if (!buffer)
    return lb_fail(LB_ENOMEM, "%s: out of memory reading '%s'", who, path);
  for (;;) {
    size_t got = 0;
    lb_status status =
        read_some(who, path, file, buffer + used, capacity - used, &got);
    used += got;
    if (status != LB_OK) {
      lb_free(buffer);
      return status;
    }
    if (used < capacity || used == wanted)
      break;
    size_t grown = capacity * 2 < wanted ? capacity * 2 : wanted;
    uint8_t *bigger = lb_alloc(grown);
    if (!bigger) {
      lb_free(buffer);
      return lb_fail(LB_ENOMEM, "%s: out of memory reading '%s'", who, path);
    }
    memcpy(bigger, buffer, used);
    lb_free(buffer);
    buffer = bigger;
    capacity = grown;
  }
  if (used < wanted) {
    lb_free(buffer);
    return lb_fail(LB_EFORMAT,
                   "%s: '%s' holds %zu element bytes; its header declares %zu",
                   who, path, used, wanted);
  }
  uint8_t extra = 0;
  size_t extra_got = 0;
  lb_status status = read_some(who, path, file, &extra, 1, &extra_got);
  if (status != LB_OK || extra_got != 0) {
    lb_free(buffer);
    return status != LB_OK
               ? status
               : lb_fail(LB_EFORMAT,
                         "%s: '%s' holds more bytes than its header "
                         "declares (%zu)", who, path, wanted);
  }
  array->elements = buffer;
  array->element_count = used;
  return LB_OK;
}

static lb_status read_idx(const char *who, const char *path,
                          int32_t want_dimensions, idx_array *array) {
  memset(array, 0, sizeof *array);
  errno = 0;
  gzFile file = gzopen(path, "rb");
  if (!file)
    return lb_fail(errno ? LB_EIO : LB_ENOMEM, "%s: cannot open '%s': %s",
                   who, path, errno ? strerror(errno) : "out of memory");
  uint64_t payload_bytes = 0;
  lb_status status =
      read_header(who, path, file, want_dimensions, array, &payload_bytes);
  if (status == LB_OK)
    status = read_payload(who, path, file, payload_bytes, array);
  gzclose(file);
  return status;
}

static lb_status dataset_from_idx(const char *who, const char *images_path,
                                  const idx_array *images,
                                  const char *labels_path,
                                  const idx_array *labels, lb_dataset **out) {
  if (images->sizes[0] != labels->sizes[0])
    return lb_fail(LB_EFORMAT, "%s: '%s' holds %u images but '%s' holds %u "
                   "labels", who, images_path, (unsigned)images->sizes[0],
                   labels_path, (unsigned)labels->sizes[0]);
  int32_t largest_label = 0;
  for (size_t i = 0; i < labels->element_count; i++)
    if (labels->elements[i] > largest_label)
      largest_label = labels->elements[i];
  lb_dataset *ds = NULL;
  lb_status status = lb_dataset_new(
      who, images->sizes[0], 1, (int32_t)images->sizes[1],
      (int32_t)images->sizes[2], largest_label + 1, &ds);
  if (status != LB_OK)
    return status;
  memcpy(ds->samples, images->elements, images->element_count);
  for (int64_t i = 0; i < ds->count; i++)
    ds->labels[i] = labels->elements[i];
  *out = ds;
  return LB_OK;
}

static lb_status load_idx(const char *who, const char *images_path,
                          const char *labels_path, lb_dataset **out) {
  idx_array images, labels;
  lb_status status = read_idx(who, images_path, 3, &images);
  if (status != LB_OK)
    return status;
  status = read_idx(who, labels_path, 1, &labels);
  if (status == LB_OK) {
    status = dataset_from_idx(who, images_path, &images, labels_path, &labels,
                              out);
    lb_free(labels.elements);
  }
  lb_free(images.elements);
  return status;
}

lb_status lb_dataset_load_idx(const char *images_path, const char *labels_path,
                              lb_dataset **out) {
  const char *who = "lb_dataset_load_idx";
  if (!images_path || !labels_path || !out)
    return lb_fail(LB_EINVAL, "%s: %s is NULL", who,
                   !images_path ? "images_path"
                   : !labels_path ? "labels_path"
                                  : "out");
  *out = NULL;
  return load_idx(who, images_path, labels_path, out);
}

/* ---- Fashion-MNIST -------------------------------------------------------- */

static int file_exists(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return 0;
  fclose(f);
  return 1;
}

/* The path of `stem` in dir: the .gz file when there is one, else the
 * plain file; empty when neither can be opened. */
static lb_status find_idx_file(const char *who, const char *dir,
                               const char *stem, char *path, size_t capacity,
                               int is_default_dir) {
  int length = snprintf(path, capacity, "%s/%s.gz", dir, stem);
  if (length < 0 || (size_t)length >= capacity)
    return lb_fail(LB_EINVAL, "%s: the directory name '%s' is too long", who,
                   dir);
  if (file_exists(path))
    return LB_OK;
  snprintf(path, capacity, "%s/%s", dir, stem);
  if (file_exists(path))
    return LB_OK;
  return lb_fail(LB_EIO, "%s: cannot open '%s/%s.gz' or '%s': %s%s", who,
                 dir, stem, path, strerror(errno),
                 is_default_dir ? "; on Debian install the data with "
                                  "'apt-get install dataset-fashion-mnist'"
                                : "");
}

static lb_status name_fashion_classes(const char *who, lb_dataset *ds,
                                      const char *labels_path) {
  if (ds->num_classes > 10)
    return lb_fail(LB_EFORMAT, "%s: '%s' holds label %d; Fashion-MNIST and "
                   "MNIST labels are 0 to 9", who, labels_path,
                   (int)ds->num_classes - 1);
  if (ds->num_classes < 10)
    return LB_OK; /* a subset; keep decimal names */
  for (int32_t k = 0; k < 10; k++) {
    lb_status status =
        lb_dataset_rename_class(who, ds, k, fashion_mnist_names[k]);
    if (status != LB_OK)
      return status;
  }
  return LB_OK;
}

lb_status lb_dataset_load_fashion_mnist(const char *dir, int train,
                                        lb_dataset **out) {
  const char *who = "lb_dataset_load_fashion_mnist";
  if (!out)
    return lb_fail(LB_EINVAL, "%s: out is NULL", who);
  *out = NULL;
  int is_default_dir = dir == NULL;
  if (!dir)
    dir = LB_FASHION_MNIST_DIR;
  const char *prefix = train ? "train" : "t10k";
  char images_stem[64], labels_stem[64];
  snprintf(images_stem, sizeof images_stem, "%s-images-idx3-ubyte", prefix);
  snprintf(labels_stem, sizeof labels_stem, "%s-labels-idx1-ubyte", prefix);
  char images_path[4096], labels_path[4096];
  lb_status status = find_idx_file(who, dir, images_stem, images_path,
                                   sizeof images_path, is_default_dir);
  if (status == LB_OK)
    status = find_idx_file(who, dir, labels_stem, labels_path,
                           sizeof labels_path, is_default_dir);
  if (status != LB_OK)
    return status;
  lb_dataset *ds = NULL;
  status = load_idx(who, images_path, labels_path, &ds);
  if (status == LB_OK)
    status = name_fashion_classes(who, ds, labels_path);
  if (status != LB_OK) {
    lb_dataset_free(ds);
    return status;
  }
  *out = ds;
  return LB_OK;
}
