/* safetensors: the writer. It checks the request, lays the tensors out as
 * the reference writer does behind a header padded to 8 bytes (so Python
 * and we write the same bytes for the same tensors), and replaces the file
 * atomically, so a crash or a full disk never leaves a half-written
 * checkpoint where a good one was. */
#include "safetensors.h"

#include "../core/core_internal.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- checking the request ------------------------------------------------- */

static lb_status invalid_tensor(const char *path, const lb_st_tensor *tensor,
                                const char *detail) {
  return lb_fail(LB_EINVAL, "safetensors file '%s': tensor '%s': %s", path,
                 tensor->name, detail);
}

/* The tensor's size in bytes from its dtype and shape; false on overflow. */
static bool tensor_byte_size(const lb_st_tensor *tensor, size_t *bytes) {
  size_t size = lb_st_dtype_size(tensor->dtype);
  for (int32_t axis = 0; axis < tensor->ndim; axis++)
    if (!lb_mul_size(size, (size_t)tensor->shape[axis], &size)) return false;
  *bytes = size;
  return true;
}

static lb_status check_tensor(const char *path, const lb_st_tensor *tensor,
                              size_t index) {
  if (!tensor->name)
    return lb_fail(LB_EINVAL, "safetensors file '%s': tensor %zu has no name",
                   path, index);
  if (!lb_json_utf8_valid(tensor->name, strlen(tensor->name)))
    return lb_fail(LB_EINVAL,
                   "safetensors file '%s': the name of tensor %zu is not UTF-8",
                   path, index);
  if (strcmp(tensor->name, "__metadata__") == 0)
    return invalid_tensor(path, tensor, "the name is reserved for metadata");
  if ((unsigned)tensor->dtype >= LB_ST_DTYPE_COUNT)
    return invalid_tensor(path, tensor, "unknown dtype");
  if (tensor->ndim < 0 || tensor->ndim > LB_ST_MAX_DIMS)
    return invalid_tensor(path, tensor, "ndim is outside [0, 8]");
  for (int32_t axis = 0; axis < tensor->ndim; axis++)
    if (tensor->shape[axis] < 0)
      return invalid_tensor(path, tensor, "an extent of the shape is negative");
  size_t bytes;
  if (!tensor_byte_size(tensor, &bytes))
    return invalid_tensor(path, tensor, "the size in bytes overflows");
  if (bytes != tensor->bytes)
    return invalid_tensor(path, tensor,
                          "bytes differs from the size of the dtype and shape");
  if (bytes > 0 && !tensor->data)
    return invalid_tensor(path, tensor, "data is NULL");
  return LB_OK;
}

static lb_status check_tensors(const char *path, const lb_st_tensor *tensors,
                               size_t count) {
  if (count > 0 && !tensors)
    return lb_fail(LB_EINVAL, "safetensors file '%s': tensors is NULL", path);
  size_t total = 0;
  for (size_t i = 0; i < count; i++) {
    lb_status status = check_tensor(path, &tensors[i], i);
    if (status != LB_OK) return status;
    /* Distinct tensors may share one buffer, so their sum can overflow. */
    if (tensors[i].bytes > SIZE_MAX - total)
      return lb_fail(LB_EINVAL,
                     "safetensors file '%s': the total size overflows", path);
    total += tensors[i].bytes;
  }
  return LB_OK;
}

static lb_status check_pairs(const char *path, const lb_st_pair *pairs,
                             size_t count) {
  if (count > 0 && !pairs)
    return lb_fail(LB_EINVAL, "safetensors file '%s': metadata is NULL", path);
  for (size_t i = 0; i < count; i++) {
    const char *key = pairs[i].key, *value = pairs[i].value;
    if (!key || !value)
      return lb_fail(LB_EINVAL,
                     "safetensors file '%s': metadata entry %zu has a NULL "
                     "key or value",
                     path, i);
    if (!lb_json_utf8_valid(key, strlen(key)) ||
        !lb_json_utf8_valid(value, strlen(value)))
      return lb_fail(LB_EINVAL,
                     "safetensors file '%s': metadata entry '%s' is not UTF-8",
                     path, key);
  }
  return LB_OK;
}

/* ---- order ---------------------------------------------------------------- */

static int compare_tensor_names(const void *a, const void *b) {
  const lb_st_tensor *const *x = a, *const *y = b;
  return strcmp((*x)->name, (*y)->name);
}

/* The reference writer's layout order: falling dtype, then name. Element
 * sizes never grow along it, so each tensor starts at a multiple of its
 * element size. */
static int compare_tensor_layout(const void *a, const void *b) {
  const lb_st_tensor *const *x = a, *const *y = b;
  if ((*x)->dtype != (*y)->dtype) return (*x)->dtype > (*y)->dtype ? -1 : 1;
  return strcmp((*x)->name, (*y)->name);
}

static int compare_pair_pointers(const void *a, const void *b) {
  const lb_st_pair *const *x = a, *const *y = b;
  return strcmp((*x)->key, (*y)->key);
}

/* Allocates *order, the tensors in layout order, after checking that no
 * name repeats (names are sorted first, as the layout order does not put
 * equal names of different dtypes side by side). */
static lb_status sort_tensors(const char *path, const lb_st_tensor *tensors,
                              size_t count, const lb_st_tensor ***order) {
  size_t bytes;
  if (!lb_mul_size(count, sizeof **order, &bytes))
    return lb_fail(LB_ENOMEM, "out of memory: %zu tensors", count);
  const lb_st_tensor **sorted = lb_alloc(bytes);
  if (!sorted) return LB_ENOMEM;
  for (size_t i = 0; i < count; i++) sorted[i] = &tensors[i];
  qsort(sorted, count, sizeof *sorted, compare_tensor_names);
  for (size_t i = 1; i < count; i++)
    if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
      lb_status status = invalid_tensor(path, sorted[i], "the name appears twice");
      lb_free(sorted);
      return status;
    }
  qsort(sorted, count, sizeof *sorted, compare_tensor_layout);
  *order = sorted;
  return LB_OK;
}

/* Allocates *order, the metadata sorted by key (so that equal requests give
 * equal files), and checks that no key repeats. */
static lb_status sort_pairs(const char *path, const lb_st_pair *pairs,
                            size_t count, const lb_st_pair ***order) {
  size_t bytes;
  if (!lb_mul_size(count, sizeof **order, &bytes))
    return lb_fail(LB_ENOMEM, "out of memory: %zu metadata entries", count);
  const lb_st_pair **sorted = lb_alloc(bytes);
  if (!sorted) return LB_ENOMEM;
  for (size_t i = 0; i < count; i++) sorted[i] = &pairs[i];
  qsort(sorted, count, sizeof *sorted, compare_pair_pointers);
  for (size_t i = 1; i < count; i++)
    if (strcmp(sorted[i - 1]->key, sorted[i]->key) == 0) {
      lb_status status = lb_fail(LB_EINVAL,
                                 "safetensors file '%s': metadata key '%s' "
                                 "appears twice",
                                 path, sorted[i]->key);
      lb_free(sorted);
      return status;
    }
  *order = sorted;
  return LB_OK;
}

/* ---- the header ----------------------------------------------------------- */

/* Where header text goes. With text NULL it only counts, so the header is
 * produced twice by the same code: once to size the buffer, once to fill
 * it. */
typedef struct sink {
  char *text;
  size_t length;
} sink;

static void put_bytes(sink *s, const char *bytes, size_t count) {
  if (s->text) memcpy(s->text + s->length, bytes, count);
  s->length += count;
}

static void put_text(sink *s, const char *text) { put_bytes(s, text, strlen(text)); }

static void put_u64(sink *s, uint64_t value) {
  char digits[24];
  int length = snprintf(digits, sizeof digits, "%" PRIu64, value);
  put_bytes(s, digits, (size_t)length);
}

/* The two-character escape of c ("\\n" for a newline), or NULL. */
static const char *short_escape(char c) {
  switch (c) {
  case '"': return "\\\"";
  case '\\': return "\\\\";
  case '\b': return "\\b";
  case '\f': return "\\f";
  case '\n': return "\\n";
  case '\r': return "\\r";
  case '\t': return "\\t";
  default: return NULL;
  }
}

/* A JSON string escaped as the reference writer (serde_json) escapes it, so
 * that both write the same bytes: short escapes where JSON has them, \u00xx
 * for other control characters, every other byte (UTF-8, checked before) as
 * it is. */
static void put_string(sink *s, const char *text) {
  put_text(s, "\"");
  for (const char *c = text; *c; c++) {
    const char *escape = short_escape(*c);
    if (escape) {
      put_bytes(s, escape, 2);
    } else if ((unsigned char)*c < 0x20) {
      char escaped[8];
      snprintf(escaped, sizeof escaped, "\\u%04x", (unsigned)(unsigned char)*c);
      put_bytes(s, escaped, 6);
    } else {
      put_bytes(s, c, 1);
    }
  }
  put_text(s, "\"");
}

static void put_metadata(sink *s, const lb_st_pair *const *pairs, size_t count) {
  put_text(s, "\"__metadata__\":{");
  for (size_t i = 0; i < count; i++) {
    if (i) put_text(s, ",");
    put_string(s, pairs[i]->key);
    put_text(s, ":");
    put_string(s, pairs[i]->value);
  }
  put_text(s, "}");
}

static void put_tensor(sink *s, const lb_st_tensor *tensor, uint64_t begin) {
  put_string(s, tensor->name);
  put_text(s, ":{\"dtype\":");
  put_string(s, lb_st_dtype_name(tensor->dtype));
  put_text(s, ",\"shape\":[");
  for (int32_t axis = 0; axis < tensor->ndim; axis++) {
    if (axis) put_text(s, ",");
    put_u64(s, (uint64_t)tensor->shape[axis]);
  }
  put_text(s, "],\"data_offsets\":[");
  put_u64(s, begin);
  put_text(s, ",");
  put_u64(s, begin + tensor->bytes);
  put_text(s, "]}");
}

/* The JSON object, compact, metadata first, as the reference writer does. */
static void put_header(sink *s, const lb_st_tensor *const *tensors,
                       size_t count, const lb_st_pair *const *pairs,
                       size_t pair_count) {
  put_text(s, "{");
  if (pair_count > 0) {
    put_metadata(s, pairs, pair_count);
    if (count > 0) put_text(s, ",");
  }
  uint64_t offset = 0;
  for (size_t i = 0; i < count; i++) {
    if (i) put_text(s, ",");
    put_tensor(s, tensors[i], offset);
    offset += tensors[i]->bytes;
  }
  put_text(s, "}");
}

/* Allocates *image: the 8-byte length, then the JSON padded with spaces to
 * a multiple of 8 bytes, so the data that follows is aligned for every
 * dtype when the file is read into an aligned buffer. */
static lb_status build_header(const char *path, const lb_st_tensor *const *tensors,
                              size_t count, const lb_st_pair *const *pairs,
                              size_t pair_count, unsigned char **image,
                              size_t *image_size) {
  sink measure = {NULL, 0};
  put_header(&measure, tensors, count, pairs, pair_count);
  size_t padded = (measure.length + 7) / 8 * 8;
  if (padded > LB_ST_MAX_HEADER_BYTES)
    return lb_fail(LB_EINVAL,
                   "safetensors file '%s': the header would have %zu bytes, "
                   "more than the %u readers accept",
                   path, padded, LB_ST_MAX_HEADER_BYTES);
  unsigned char *bytes = lb_alloc(8 + padded);
  if (!bytes) return LB_ENOMEM;
  for (int i = 0; i < 8; i++) bytes[i] = (unsigned char)((uint64_t)padded >> (8 * i));
  sink fill = {(char *)bytes + 8, 0};
  put_header(&fill, tensors, count, pairs, pair_count);
  memset(bytes + 8 + fill.length, ' ', padded - fill.length);
  *image = bytes;
  *image_size = 8 + padded;
  return LB_OK;
}

/* ---- atomic replacement --------------------------------------------------- */

static lb_status io_error(const char *path, const char *what, const char *file,
                          int error) {
  char reason[128];
  return lb_fail(LB_EIO, "safetensors file '%s': %s '%s': %s", path, what, file,
                 lb_st_errno_text(error, reason, sizeof reason));
}

/* "<path>.tmp.<pid>": in the target's directory, so that rename() replaces
 * the target in one step (it cannot cross file systems), and distinct per
 * process, so that concurrent writers do not share it. */
static char *temporary_path(const char *path) {
  size_t capacity = strlen(path) + sizeof ".tmp." + 20;
  char *temp = lb_alloc(capacity);
  if (temp) snprintf(temp, capacity, "%s.tmp.%ld", path, (long)getpid());
  return temp;
}

/* The directory holding `path`, whose entry rename() changes. */
static char *directory_of(const char *path) {
  const char *slash = strrchr(path, '/');
  const char *start = slash ? path : ".";
  size_t length = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
  char *directory = lb_alloc(length + 1);
  if (!directory) return NULL;
  memcpy(directory, start, length);
  directory[length] = '\0';
  return directory;
}

static bool write_all(FILE *stream, const void *bytes, size_t count) {
  return count == 0 || fwrite(bytes, 1, count, stream) == count;
}

/* Writes header and data to the open stream and pushes them to the disk. */
static lb_status fill_stream(FILE *stream, const char *path, const char *temp,
                             const unsigned char *header, size_t header_size,
                             const lb_st_tensor *const *tensors, size_t count) {
  bool written = write_all(stream, header, header_size);
  for (size_t i = 0; written && i < count; i++)
    written = write_all(stream, tensors[i]->data, tensors[i]->bytes);
  if (!written || fflush(stream) != 0)
    return io_error(path, "cannot write", temp, errno);
  if (fsync(fileno(stream)) != 0) return io_error(path, "cannot sync", temp, errno);
  return LB_OK;
}

/* Creates `temp` and fills it. *created tells the caller whether there is a
 * file to remove, so that a file this call did not make is never removed. */
static lb_status write_temporary(const char *path, const char *temp,
                                 const unsigned char *header, size_t header_size,
                                 const lb_st_tensor *const *tensors, size_t count,
                                 bool *created) {
  /* O_NOFOLLOW: a symbolic link planted at the temporary name must not
   * redirect the write. */
  int fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
  if (fd < 0) return io_error(path, "cannot create", temp, errno);
  *created = true;
  FILE *stream = fdopen(fd, "wb");
  if (!stream) {
    lb_status status = io_error(path, "cannot open a stream on", temp, errno);
    close(fd);
    return status;
  }
  lb_status status =
      fill_stream(stream, path, temp, header, header_size, tensors, count);
  /* fclose() releases the stream even when it fails. */
  if (fclose(stream) != 0 && status == LB_OK)
    status = io_error(path, "cannot close", temp, errno);
  return status;
}

/* Makes the rename itself durable. */
static lb_status sync_directory(const char *path, const char *directory) {
  int fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error(path, "written, but cannot open its directory",
                              directory, errno);
  lb_status status = LB_OK;
  /* EINVAL: this file system cannot sync directories; nothing more to do. */
  if (fsync(fd) != 0 && errno != EINVAL)
    status = io_error(path, "written, but cannot sync its directory", directory,
                      errno);
  close(fd);
  return status;
}

static lb_status replace_file(const char *path, const unsigned char *header,
                              size_t header_size,
                              const lb_st_tensor *const *tensors, size_t count) {
  char *temp = temporary_path(path);
  char *directory = directory_of(path);
  lb_status status = temp && directory ? LB_OK : LB_ENOMEM;
  bool created = false;
  if (status == LB_OK)
    status = write_temporary(path, temp, header, header_size, tensors, count,
                             &created);
  if (status == LB_OK && rename(temp, path) != 0)
    status = io_error(path, "cannot rename onto it", temp, errno);
  if (status != LB_OK && created) remove(temp);
  if (status == LB_OK) status = sync_directory(path, directory);
  lb_free(temp);
  lb_free(directory);
  return status;
}

lb_status lb_st_write_file(const char *path, const lb_st_tensor *tensors,
                           size_t count, const lb_st_pair *metadata,
                           size_t metadata_count) {
  if (!path) return lb_fail(LB_EINVAL, "safetensors: the path is NULL");
  lb_status status = check_tensors(path, tensors, count);
  if (status == LB_OK) status = check_pairs(path, metadata, metadata_count);
  if (status != LB_OK) return status;

  const lb_st_tensor **order = NULL;
  const lb_st_pair **keys = NULL;
  unsigned char *header = NULL;
  size_t header_size = 0;
  status = sort_tensors(path, tensors, count, &order);
  if (status == LB_OK) status = sort_pairs(path, metadata, metadata_count, &keys);
  if (status == LB_OK)
    status = build_header(path, order, count, keys, metadata_count, &header,
                          &header_size);
  if (status == LB_OK) status = replace_file(path, header, header_size, order, count);
  lb_free(order);
  lb_free(keys);
  lb_free(header);
  return status;
}
