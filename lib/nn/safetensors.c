/* safetensors: the dtype table and the reader, which trusts nothing in the
 * file: every length and offset is checked before it is used. */
#include "safetensors.h"

#include "../core/core_internal.h"
#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- dtypes --------------------------------------------------------------- */

typedef struct dtype_info {
  const char *name;
  size_t size;
} dtype_info;

/* Indexed by lb_st_dtype. */
static const dtype_info dtype_table[] = {
    [LB_ST_BOOL] = {"BOOL", 1},         [LB_ST_U8] = {"U8", 1},
    [LB_ST_I8] = {"I8", 1},             [LB_ST_F8_E5M2] = {"F8_E5M2", 1},
    [LB_ST_F8_E4M3] = {"F8_E4M3", 1},   [LB_ST_I16] = {"I16", 2},
    [LB_ST_U16] = {"U16", 2},           [LB_ST_F16] = {"F16", 2},
    [LB_ST_BF16] = {"BF16", 2},         [LB_ST_I32] = {"I32", 4},
    [LB_ST_U32] = {"U32", 4},           [LB_ST_F32] = {"F32", 4},
    [LB_ST_F64] = {"F64", 8},           [LB_ST_I64] = {"I64", 8},
    [LB_ST_U64] = {"U64", 8},
};

_Static_assert(sizeof dtype_table / sizeof dtype_table[0] == LB_ST_DTYPE_COUNT,
               "one dtype_table row per lb_st_dtype");

const char *lb_st_dtype_name(lb_st_dtype dtype) { return dtype_table[dtype].name; }

size_t lb_st_dtype_size(lb_st_dtype dtype) { return dtype_table[dtype].size; }

static bool dtype_from_name(const char *name, lb_st_dtype *out) {
  for (size_t i = 0; i < LB_ST_DTYPE_COUNT; i++)
    if (strcmp(dtype_table[i].name, name) == 0) {
      *out = (lb_st_dtype)i;
      return true;
    }
  return false;
}

const char *lb_st_errno_text(int error, char *buffer, size_t capacity) {
  if (strerror_r(error, buffer, capacity) != 0)
    snprintf(buffer, capacity, "error %d", error);
  return buffer;
}

/* ---- the parsed file ------------------------------------------------------ */

struct lb_st_file {
  unsigned char *owned_bytes; /* the file read by lb_st_read_file(), or NULL */
  char *strings;              /* the decoded names, keys and values */
  lb_st_tensor *tensors;
  size_t count;
  lb_st_pair *metadata;
  size_t metadata_count;
};

void lb_st_free(lb_st_file *file) {
  if (!file) return;
  lb_free_aligned(file->owned_bytes);
  lb_free(file->strings);
  lb_free(file->tensors);
  lb_free(file->metadata);
  lb_free(file);
}

size_t lb_st_count(const lb_st_file *file) { return file->count; }

const lb_st_tensor *lb_st_at(const lb_st_file *file, size_t index) {
  return &file->tensors[index];
}

static int compare_name_to_tensor(const void *name, const void *tensor) {
  return strcmp(name, ((const lb_st_tensor *)tensor)->name);
}

const lb_st_tensor *lb_st_find(const lb_st_file *file, const char *name) {
  return bsearch(name, file->tensors, file->count, sizeof *file->tensors,
                 compare_name_to_tensor);
}

size_t lb_st_metadata_count(const lb_st_file *file) { return file->metadata_count; }

const lb_st_pair *lb_st_metadata_at(const lb_st_file *file, size_t index) {
  return &file->metadata[index];
}

static int compare_key_to_pair(const void *key, const void *pair) {
  return strcmp(key, ((const lb_st_pair *)pair)->key);
}

const char *lb_st_metadata_find(const lb_st_file *file, const char *key) {
  if (file->metadata_count == 0) return NULL; /* metadata may be NULL then */
  const lb_st_pair *pair =
      bsearch(key, file->metadata, file->metadata_count, sizeof *file->metadata,
              compare_key_to_pair);
  return pair ? pair->value : NULL;
}

/* ---- errors --------------------------------------------------------------- */

/* Records "safetensors file 'label': tensor 'name': detail" (without the
 * tensor part when `tensor` is NULL) and returns LB_EFORMAT. */
static lb_status format_error(const char *label, const char *tensor,
                              const char *fmt, ...) LB_PRINTF_LIKE(3, 4);

static lb_status format_error(const char *label, const char *tensor,
                              const char *fmt, ...) {
  char detail[256];
  va_list args;
  va_start(args, fmt);
  vsnprintf(detail, sizeof detail, fmt, args);
  va_end(args);
  if (tensor)
    return lb_fail(LB_EFORMAT, "safetensors file '%s': tensor '%s': %s", label,
                   tensor, detail);
  return lb_fail(LB_EFORMAT, "safetensors file '%s': %s", label, detail);
}

/* Formats extents as "[2, 3]" into buffer (always terminated). */
static void format_shape(int32_t ndim, const int64_t *shape, char *buffer,
                         size_t capacity) {
  size_t used = (size_t)snprintf(buffer, capacity, "[");
  for (int32_t axis = 0; axis < ndim && used < capacity; axis++)
    used += (size_t)snprintf(buffer + used, capacity - used, "%s%" PRId64,
                             axis ? ", " : "", shape[axis]);
  if (used < capacity) snprintf(buffer + used, capacity - used, "]");
}

/* ---- parsing the header --------------------------------------------------- */

typedef struct parser {
  const char *label;
  const char *json;           /* the header text */
  const unsigned char *data;  /* the data area */
  uint64_t data_size;
  char *strings_free;         /* the next unused byte of file->strings */
  bool metadata_seen;
  lb_st_file *file;
} parser;

/* A tensor's extent in the data area, kept while the tensors are checked. */
typedef struct byte_range {
  uint64_t begin;
  uint64_t end;
} byte_range;

static byte_range range_of(const parser *p, const lb_st_tensor *tensor) {
  uint64_t begin = (uint64_t)((const unsigned char *)tensor->data - p->data);
  byte_range range = {begin, begin + tensor->bytes};
  return range;
}

/* Decodes the string at `string` into file->strings. Strings holding
 * "\u0000" are refused: names and keys are C strings here. */
static lb_status take_string(parser *p, size_t string, const char *tensor,
                             const char **out) {
  char *text = p->strings_free;
  size_t length = lb_json_string_decode(p->json, string, text);
  if (strlen(text) != length)
    return format_error(p->label, tensor,
                        "a string in the header contains \\u0000");
  p->strings_free += length + 1;
  *out = text;
  return LB_OK;
}

static lb_status parse_dtype(parser *p, const char *tensor, size_t value,
                             lb_st_dtype *dtype) {
  if (lb_json_kind_at(p->json, value) != LB_JSON_STRING)
    return format_error(p->label, tensor, "dtype is not a string");
  const char *name = NULL;
  lb_status status = take_string(p, value, tensor, &name);
  if (status != LB_OK) return status;
  if (!dtype_from_name(name, dtype))
    return format_error(p->label, tensor, "unknown dtype '%s'", name);
  return LB_OK;
}

static lb_status parse_shape(parser *p, const char *tensor, size_t value,
                             lb_st_tensor *out) {
  if (lb_json_kind_at(p->json, value) != LB_JSON_ARRAY)
    return format_error(p->label, tensor, "shape is not an array");
  size_t ndim = lb_json_count(p->json, value);
  if (ndim > LB_ST_MAX_DIMS)
    return format_error(p->label, tensor,
                        "shape has %zu dimensions, at most %d are supported",
                        ndim, LB_ST_MAX_DIMS);
  lb_json_iter iter = lb_json_iter_begin(p->json, value);
  size_t key, element;
  for (int32_t axis = 0; lb_json_iter_next(&iter, &key, &element); axis++) {
    uint64_t extent;
    if (lb_json_kind_at(p->json, element) != LB_JSON_INTEGER ||
        !lb_json_integer_u64(p->json, element, &extent) ||
        extent > (uint64_t)INT64_MAX)
      return format_error(p->label, tensor,
                          "shape[%d] is not an integer in [0, 2^63)", (int)axis);
    out->shape[axis] = (int64_t)extent;
  }
  out->ndim = (int32_t)ndim;
  return LB_OK;
}

static lb_status parse_offsets(parser *p, const char *tensor, size_t value,
                               byte_range *range) {
  if (lb_json_kind_at(p->json, value) != LB_JSON_ARRAY ||
      lb_json_count(p->json, value) != 2)
    return format_error(p->label, tensor,
                        "data_offsets is not an array of two integers");
  lb_json_iter iter = lb_json_iter_begin(p->json, value);
  size_t key, begin, end;
  lb_json_iter_next(&iter, &key, &begin);
  lb_json_iter_next(&iter, &key, &end);
  if (lb_json_kind_at(p->json, begin) != LB_JSON_INTEGER ||
      lb_json_kind_at(p->json, end) != LB_JSON_INTEGER ||
      !lb_json_integer_u64(p->json, begin, &range->begin) ||
      !lb_json_integer_u64(p->json, end, &range->end))
    return format_error(p->label, tensor,
                        "data_offsets must be integers in [0, 2^64)");
  return LB_OK;
}

/* The three keys of a tensor's object, each required exactly once. */
enum { FIELD_DTYPE, FIELD_SHAPE, FIELD_OFFSETS, FIELD_COUNT };
static const char *const field_names[FIELD_COUNT] = {"dtype", "shape",
                                                     "data_offsets"};

/* Parses the fields of the tensor object at `value` into *tensor (all but
 * data and bytes) and *range. */
static lb_status parse_fields(parser *p, const char *name, size_t value,
                              lb_st_tensor *tensor, byte_range *range) {
  bool seen[FIELD_COUNT] = {false, false, false};
  lb_json_iter iter = lb_json_iter_begin(p->json, value);
  size_t key_at, field_at;
  while (lb_json_iter_next(&iter, &key_at, &field_at)) {
    const char *key = NULL;
    lb_status status = take_string(p, key_at, name, &key);
    if (status != LB_OK) return status;
    int field = 0;
    while (field < FIELD_COUNT && strcmp(key, field_names[field]) != 0) field++;
    if (field == FIELD_COUNT)
      return format_error(p->label, name, "unknown key '%s'", key);
    if (seen[field])
      return format_error(p->label, name, "'%s' appears twice", key);
    seen[field] = true;
    if (field == FIELD_DTYPE) status = parse_dtype(p, name, field_at, &tensor->dtype);
    else if (field == FIELD_SHAPE) status = parse_shape(p, name, field_at, tensor);
    else status = parse_offsets(p, name, field_at, range);
    if (status != LB_OK) return status;
  }
  for (int field = 0; field < FIELD_COUNT; field++)
    if (!seen[field])
      return format_error(p->label, name, "'%s' is missing", field_names[field]);
  return LB_OK;
}

/* Checks that the byte range lies in the data area and holds exactly the
 * shape's elements, then points the tensor at its data. */
static lb_status place_tensor(parser *p, const byte_range *range,
                              lb_st_tensor *tensor) {
  const char *name = tensor->name;
  if (range->begin > range->end || range->end > p->data_size)
    return format_error(p->label, name,
                        "data_offsets [%" PRIu64 ", %" PRIu64
                        "] are out of the data area's range [0, %" PRIu64 "]",
                        range->begin, range->end, p->data_size);
  char shape_text[128];
  format_shape(tensor->ndim, tensor->shape, shape_text, sizeof shape_text);
  int64_t count = 1;
  int64_t bytes;
  for (int32_t axis = 0; axis < tensor->ndim; axis++)
    if (!lb_mul_i64(count, tensor->shape[axis], &count))
      return format_error(p->label, name, "shape %s overflows", shape_text);
  if (!lb_mul_i64(count, (int64_t)lb_st_dtype_size(tensor->dtype), &bytes))
    return format_error(p->label, name, "shape %s of %s overflows", shape_text,
                        lb_st_dtype_name(tensor->dtype));
  if ((uint64_t)bytes != range->end - range->begin)
    return format_error(p->label, name,
                        "shape %s of %s needs %" PRId64
                        " bytes but data_offsets [%" PRIu64 ", %" PRIu64
                        "] hold %" PRIu64,
                        shape_text, lb_st_dtype_name(tensor->dtype), bytes,
                        range->begin, range->end, range->end - range->begin);
  tensor->data = p->data + range->begin;
  tensor->bytes = (size_t)bytes;
  return LB_OK;
}

static lb_status parse_tensor(parser *p, const char *name, size_t value,
                              lb_st_tensor *tensor) {
  if (lb_json_kind_at(p->json, value) != LB_JSON_OBJECT)
    return format_error(p->label, name,
                        "expected an object of dtype, shape and data_offsets");
  memset(tensor, 0, sizeof *tensor);
  tensor->name = name;
  byte_range range = {0, 0};
  lb_status status = parse_fields(p, name, value, tensor, &range);
  if (status != LB_OK) return status;
  return place_tensor(p, &range, tensor);
}

static lb_status parse_metadata(parser *p, size_t value) {
  if (p->metadata_seen)
    return format_error(p->label, NULL, "__metadata__ appears twice");
  p->metadata_seen = true;
  if (lb_json_kind_at(p->json, value) != LB_JSON_OBJECT)
    return format_error(p->label, NULL, "__metadata__ is not an object");
  size_t count = lb_json_count(p->json, value);
  size_t bytes;
  if (!lb_mul_size(count, sizeof(lb_st_pair), &bytes))
    return lb_fail(LB_ENOMEM, "out of memory: %zu metadata entries", count);
  lb_st_pair *pairs = lb_alloc(bytes);
  if (!pairs) return LB_ENOMEM;
  p->file->metadata = pairs;
  lb_json_iter iter = lb_json_iter_begin(p->json, value);
  size_t key, item;
  for (size_t i = 0; lb_json_iter_next(&iter, &key, &item); i++) {
    lb_status status = take_string(p, key, NULL, &pairs[i].key);
    if (status != LB_OK) return status;
    if (lb_json_kind_at(p->json, item) != LB_JSON_STRING)
      return format_error(p->label, NULL,
                          "__metadata__ value of '%s' is not a string",
                          pairs[i].key);
    status = take_string(p, item, NULL, &pairs[i].value);
    if (status != LB_OK) return status;
    p->file->metadata_count = i + 1;
  }
  return LB_OK;
}

/* Walks the root object: "__metadata__" and one member per tensor. */
static lb_status parse_members(parser *p, size_t root) {
  lb_json_iter iter = lb_json_iter_begin(p->json, root);
  size_t key, value;
  while (lb_json_iter_next(&iter, &key, &value)) {
    const char *name = NULL;
    lb_status status = take_string(p, key, NULL, &name);
    if (status != LB_OK) return status;
    if (strcmp(name, "__metadata__") == 0) {
      status = parse_metadata(p, value);
    } else {
      status = parse_tensor(p, name, value, &p->file->tensors[p->file->count]);
      if (status == LB_OK) p->file->count++;
    }
    if (status != LB_OK) return status;
  }
  return LB_OK;
}

/* ---- checks across tensors ------------------------------------------------ */

static int compare_tensor_names(const void *a, const void *b) {
  return strcmp(((const lb_st_tensor *)a)->name, ((const lb_st_tensor *)b)->name);
}

/* Orders by data pointer, then size, so that empty tensors come before a
 * non-empty one at the same offset. */
static int compare_tensor_offsets(const void *a, const void *b) {
  const lb_st_tensor *x = a, *y = b;
  const unsigned char *px = x->data, *py = y->data;
  if (px != py) return px < py ? -1 : 1;
  return (x->bytes > y->bytes) - (x->bytes < y->bytes);
}

static int compare_pair_keys(const void *a, const void *b) {
  return strcmp(((const lb_st_pair *)a)->key, ((const lb_st_pair *)b)->key);
}

/* Leaves the tensors sorted by name. */
static lb_status check_unique_names(const parser *p) {
  lb_st_tensor *tensors = p->file->tensors;
  size_t count = p->file->count;
  qsort(tensors, count, sizeof *tensors, compare_tensor_names);
  for (size_t i = 1; i < count; i++)
    if (strcmp(tensors[i - 1].name, tensors[i].name) == 0)
      return format_error(p->label, tensors[i].name, "the name appears twice");
  return LB_OK;
}

/* The byte ranges, in offset order, must follow each other without gap or
 * overlap from 0 to the end of the data area: then every byte of the file
 * belongs to exactly one tensor. Leaves the tensors sorted by name. */
static lb_status check_data_layout(const parser *p) {
  lb_st_tensor *tensors = p->file->tensors;
  size_t count = p->file->count;
  qsort(tensors, count, sizeof *tensors, compare_tensor_offsets);
  uint64_t expected = 0;
  for (size_t i = 0; i < count; i++) {
    byte_range range = range_of(p, &tensors[i]);
    if (range.begin < expected)
      return format_error(p->label, tensors[i].name,
                          "data_offsets [%" PRIu64 ", %" PRIu64
                          "] overlap tensor '%s', which ends at %" PRIu64,
                          range.begin, range.end, tensors[i - 1].name, expected);
    if (range.begin > expected)
      return format_error(p->label, tensors[i].name,
                          "data_offsets [%" PRIu64 ", %" PRIu64
                          "] leave bytes [%" PRIu64 ", %" PRIu64
                          ") of the data area unused",
                          range.begin, range.end, expected, range.begin);
    expected = range.end;
  }
  if (expected != p->data_size)
    return format_error(p->label, NULL,
                        "the tensors end at byte %" PRIu64
                        " of the data area, which has %" PRIu64 " bytes",
                        expected, p->data_size);
  qsort(tensors, count, sizeof *tensors, compare_tensor_names);
  return LB_OK;
}

/* Leaves the metadata sorted by key. */
static lb_status check_unique_keys(const parser *p) {
  lb_st_pair *pairs = p->file->metadata;
  size_t count = p->file->metadata_count;
  if (count == 0) return LB_OK;
  qsort(pairs, count, sizeof *pairs, compare_pair_keys);
  for (size_t i = 1; i < count; i++)
    if (strcmp(pairs[i - 1].key, pairs[i].key) == 0)
      return format_error(p->label, NULL, "__metadata__ key '%s' appears twice",
                          pairs[i].key);
  return LB_OK;
}

/* ---- the whole image ------------------------------------------------------ */

/* Reads the header length and checks that the header fits in the image. */
static lb_status read_header_length(const unsigned char *bytes, size_t size,
                                    const char *label, uint64_t *length) {
  if (size < 8)
    return format_error(label, NULL,
                        "the file has %zu bytes, too few for the 8-byte header "
                        "length",
                        size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = n << 8 | bytes[i];
  if (n > LB_ST_MAX_HEADER_BYTES)
    return format_error(label, NULL,
                        "the header length %" PRIu64
                        " exceeds the limit of %u bytes",
                        n, LB_ST_MAX_HEADER_BYTES);
  if (n > size - 8)
    return format_error(label, NULL,
                        "the header length %" PRIu64
                        " is larger than the %zu bytes after it",
                        n, size - 8);
  *length = n;
  return LB_OK;
}

/* Allocates room for every decoded string and every tensor the root object
 * may describe. */
static lb_status allocate_tables(parser *p, size_t header_length, size_t root) {
  /* A decoded string plus its terminator is never longer than the string
   * with its quotes, so the header's length bounds all strings together. */
  p->file->strings = lb_alloc(header_length);
  if (!p->file->strings) return LB_ENOMEM;
  p->strings_free = p->file->strings;
  size_t members = lb_json_count(p->json, root);
  size_t bytes;
  if (!lb_mul_size(members, sizeof(lb_st_tensor), &bytes))
    return lb_fail(LB_ENOMEM, "out of memory: %zu tensors", members);
  p->file->tensors = lb_alloc(bytes);
  return p->file->tensors ? LB_OK : LB_ENOMEM;
}

static lb_status parse_image(const unsigned char *bytes, size_t size,
                             const char *label, lb_st_file *file) {
  uint64_t header_length = 0;
  lb_status status = read_header_length(bytes, size, label, &header_length);
  if (status != LB_OK) return status;
  parser p = {label, (const char *)bytes + 8, bytes + 8 + header_length,
              size - 8 - header_length, NULL, false, file};
  size_t root = 0;
  lb_json_error error;
  if (!lb_json_validate(p.json, (size_t)header_length, &root, &error))
    return format_error(label, NULL,
                        "the header is not valid JSON: %s at byte %zu of the "
                        "header",
                        error.reason, error.offset);
  if (lb_json_kind_at(p.json, root) != LB_JSON_OBJECT)
    return format_error(label, NULL, "the header is not a JSON object");
  status = allocate_tables(&p, (size_t)header_length, root);
  if (status == LB_OK) status = parse_members(&p, root);
  if (status == LB_OK) status = check_unique_names(&p);
  if (status == LB_OK) status = check_data_layout(&p);
  if (status == LB_OK) status = check_unique_keys(&p);
  return status;
}

/* Parses the image into a new file object, which takes `owned_bytes` (freed
 * on failure too). */
static lb_status make_file(const unsigned char *bytes, size_t size,
                           const char *label, unsigned char *owned_bytes,
                           lb_st_file **out) {
  lb_st_file *file = lb_alloc_zeroed(sizeof *file);
  if (!file) {
    lb_free_aligned(owned_bytes);
    return LB_ENOMEM;
  }
  file->owned_bytes = owned_bytes;
  lb_status status = parse_image(bytes, size, label, file);
  if (status != LB_OK) {
    lb_st_free(file);
    return status;
  }
  *out = file;
  return LB_OK;
}

lb_status lb_st_read_buffer(const void *bytes, size_t size, const char *label,
                            lb_st_file **out) {
  return make_file(bytes, size, label, NULL, out);
}

/* ---- reading a file ------------------------------------------------------- */

static lb_status io_error(const char *path, const char *what, int error) {
  char reason[128];
  return lb_fail(LB_EIO, "safetensors file '%s': %s: %s", path, what,
                 lb_st_errno_text(error, reason, sizeof reason));
}

/* The size of the open file, which must be a regular file: the size of
 * anything else (a directory, a pipe) says nothing about what read() gives. */
static lb_status measure_stream(FILE *stream, const char *path, size_t *size) {
  struct stat info;
  if (fstat(fileno(stream), &info) != 0) return io_error(path, "cannot stat", errno);
  if (!S_ISREG(info.st_mode))
    return lb_fail(LB_EIO, "safetensors file '%s': not a regular file", path);
  if ((uintmax_t)info.st_size > SIZE_MAX)
    return lb_fail(LB_ENOMEM, "safetensors file '%s': out of memory: the file "
                   "has %jd bytes", path, (intmax_t)info.st_size);
  *size = (size_t)info.st_size;
  return LB_OK;
}

/* Reads exactly `size` bytes, and checks that nothing follows them: a file
 * that changes while it is read is an error, not a silently cut image. */
static lb_status read_stream(FILE *stream, const char *path, unsigned char *buffer,
                             size_t size) {
  size_t got = fread(buffer, 1, size, stream);
  if (got != size) {
    if (ferror(stream)) return io_error(path, "cannot read", errno);
    return lb_fail(LB_EIO, "safetensors file '%s': the file shrank to %zu "
                   "bytes while it was read (expected %zu)", path, got, size);
  }
  if (fgetc(stream) != EOF)
    return lb_fail(LB_EIO, "safetensors file '%s': the file grew while it "
                   "was read", path);
  if (ferror(stream)) return io_error(path, "cannot read", errno);
  return LB_OK;
}

/* Reads the whole file into one buffer, 64-byte aligned so that the data of
 * a file whose header is padded to 8 bytes (as writers do) is aligned for
 * every dtype. */
static lb_status read_whole_file(const char *path, unsigned char **bytes,
                                 size_t *size) {
  FILE *stream = fopen(path, "rb");
  if (!stream) return io_error(path, "cannot open", errno);
  unsigned char *buffer = NULL;
  lb_status status = measure_stream(stream, path, size);
  if (status == LB_OK) {
    buffer = lb_alloc_aligned(*size);
    if (!buffer) status = LB_ENOMEM;
  }
  if (status == LB_OK) status = read_stream(stream, path, buffer, *size);
  fclose(stream); /* read-only: closing cannot lose data */
  if (status != LB_OK) {
    lb_free_aligned(buffer);
    return status;
  }
  *bytes = buffer;
  return LB_OK;
}

lb_status lb_st_read_file(const char *path, lb_st_file **out) {
  unsigned char *bytes = NULL;
  size_t size = 0;
  lb_status status = read_whole_file(path, &bytes, &size);
  if (status != LB_OK) return status;
  return make_file(bytes, size, path, bytes, out);
}
