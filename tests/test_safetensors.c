/* Tests of the safetensors layer (lib/nn/safetensors.h): the reader on files
 * written by hand and by the reference writer's rules, every malformed-input
 * rule, truncation at every length, allocation failures, and the writer's
 * output, argument checks and atomic replacement. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/core_internal.h"
#include "nn/safetensors.h"
#include "test_support.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* The name the in-memory images go by in messages. */
#define LABEL "bad.safetensors"

/* An output pointer value no call may write on failure. */
#define UNTOUCHED_FILE ((lb_st_file *)0x1)

/* ---- helpers ------------------------------------------------------------- */

static void assert_error_mentions(const char *fragment) {
  if (strstr(lb_last_error(), fragment) == NULL)
    fail_msg("lb_last_error() is \"%s\", expected it to mention \"%s\"",
             lb_last_error(), fragment);
}

/* A safetensors image in memory: length field, header text, data. */
typedef struct image {
  unsigned char *bytes;
  size_t size;
} image;

/* The image of `header` (its length as the length field, as is) followed by
 * data_size bytes of `data`, or of zeros when data is NULL. */
static image image_of(const char *header, const void *data, size_t data_size) {
  size_t header_size = strlen(header);
  image im = {malloc(8 + header_size + data_size), 8 + header_size + data_size};
  assert_non_null(im.bytes);
  for (int i = 0; i < 8; i++)
    im.bytes[i] = (unsigned char)((uint64_t)header_size >> (8 * i));
  memcpy(im.bytes + 8, header, header_size);
  if (data) memcpy(im.bytes + 8 + header_size, data, data_size);
  else memset(im.bytes + 8 + header_size, 0, data_size);
  return im;
}

/* Asserts that the image of `header` and data_size zero bytes is refused
 * with LB_EFORMAT and a message naming the file, mentioning `fragment` and,
 * unless NULL, naming `tensor`. */
static void assert_malformed(const char *header, size_t data_size,
                             const char *fragment, const char *tensor) {
  image im = image_of(header, NULL, data_size);
  lb_st_file *file = UNTOUCHED_FILE;
  assert_fails_with(lb_st_read_buffer(im.bytes, im.size, LABEL, &file),
                    LB_EFORMAT, fragment);
  assert_ptr_equal(file, UNTOUCHED_FILE);
  assert_error_mentions("safetensors file '" LABEL "'");
  if (tensor) {
    char named[128];
    snprintf(named, sizeof named, "tensor '%s'", tensor);
    assert_error_mentions(named);
  }
  free(im.bytes);
}

static lb_st_tensor tensor_of(const char *name, lb_st_dtype dtype, int32_t ndim,
                              const int64_t *shape, const void *data,
                              size_t bytes) {
  lb_st_tensor t = {name, dtype, ndim, {0}, data, bytes};
  for (int32_t axis = 0; axis < ndim; axis++) t.shape[axis] = shape[axis];
  return t;
}

static void assert_tensor(const lb_st_tensor *t, const char *name,
                          lb_st_dtype dtype, int32_t ndim, const int64_t *shape,
                          const void *data, size_t bytes) {
  assert_non_null(t);
  assert_string_equal(t->name, name);
  assert_int_equal(t->dtype, dtype);
  assert_int_equal(t->ndim, ndim);
  for (int32_t axis = 0; axis < ndim; axis++)
    assert_int_equal(t->shape[axis], shape[axis]);
  assert_int_equal(t->bytes, bytes);
  if (bytes) assert_memory_equal(t->data, data, bytes);
}

/* ---- files --------------------------------------------------------------- */

/* Each file test gets a fresh directory, removed afterwards. */
typedef struct scratch {
  char dir[256];
} scratch;

static int make_scratch(void **state) {
  scratch *s = calloc(1, sizeof *s);
  if (!s) return -1;
  const char *base = getenv("TMPDIR");
  snprintf(s->dir, sizeof s->dir, "%s/lossbal-st-XXXXXX", base ? base : "/tmp");
  if (!mkdtemp(s->dir)) return -1;
  *state = s;
  return 0;
}

/* The directories the tests make inside the scratch directory are empty by
 * the end of each test, so remove() deletes files and directories alike. */
static int remove_scratch(void **state) {
  scratch *s = *state;
  DIR *dir = opendir(s->dir);
  if (dir) {
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      char path[512];
      snprintf(path, sizeof path, "%s/%s", s->dir, e->d_name);
      remove(path);
    }
    closedir(dir);
  }
  int result = rmdir(s->dir);
  free(s);
  return result;
}

static void path_in(void **state, const char *name, char *path, size_t capacity) {
  const scratch *s = *state;
  snprintf(path, capacity, "%s/%s", s->dir, name);
}

static void write_bytes(const char *path, const void *bytes, size_t size) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(bytes, 1, size, f), size);
  assert_int_equal(fclose(f), 0);
}

/* The file's contents (malloc'ed, caller frees). */
static image read_bytes(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  long size = ftell(f);
  assert_true(size >= 0);
  rewind(f);
  image im = {malloc((size_t)size + 1), (size_t)size};
  assert_non_null(im.bytes);
  assert_int_equal(fread(im.bytes, 1, im.size, f), im.size);
  fclose(f);
  return im;
}

static void assert_file_holds(const char *path, const image *expected) {
  image actual = read_bytes(path);
  assert_int_equal(actual.size, expected->size);
  assert_memory_equal(actual.bytes, expected->bytes, expected->size);
  free(actual.bytes);
}

/* Entries of the directory whose name contains ".tmp.". */
static int count_temporaries(const char *directory) {
  DIR *dir = opendir(directory);
  assert_non_null(dir);
  int count = 0;
  for (struct dirent *e; (e = readdir(dir)) != NULL;)
    if (strstr(e->d_name, ".tmp.")) count++;
  closedir(dir);
  return count;
}

static int count_entries(const char *directory) {
  DIR *dir = opendir(directory);
  assert_non_null(dir);
  int count = 0;
  for (struct dirent *e; (e = readdir(dir)) != NULL;)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) count++;
  closedir(dir);
  return count;
}

/* ---- reading what other writers make ------------------------------------- */

/* The bytes the Python safetensors package writes for
 * save_file({"a": torch.tensor([1.5, -2.0]), "b": torch.tensor(7)}): tensors
 * ordered by falling dtype alignment then name (so b, the I64, first), a
 * compact header padded with spaces to a multiple of 8 bytes. */
static const char python_header[] =
    "{\"b\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
    "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}     ";
static const unsigned char python_data[16] = {
    7, 0, 0, 0, 0, 0, 0, 0,          /* b = 7 */
    0, 0, 0xC0, 0x3F, 0, 0, 0, 0xC0, /* a = 1.5, -2.0 */
};

static void assert_python_file(const lb_st_file *file) {
  static const int64_t two[1] = {2};
  assert_int_equal(lb_st_count(file), 2);
  assert_tensor(lb_st_at(file, 0), "a", LB_ST_F32, 1, two, python_data + 8, 8);
  assert_tensor(lb_st_at(file, 1), "b", LB_ST_I64, 0, NULL, python_data, 8);
  assert_ptr_equal(lb_st_find(file, "b"), lb_st_at(file, 1));
  assert_int_equal(lb_st_metadata_count(file), 0);
}

static void test_reads_the_bytes_the_python_writer_makes(void **state) {
  image im = image_of(python_header, python_data, sizeof python_data);
  assert_int_equal(im.bytes[0], 112); /* 107 bytes of JSON and 5 spaces */
  lb_st_file *file = NULL;
  assert_int_equal(lb_st_read_buffer(im.bytes, im.size, LABEL, &file), LB_OK);
  assert_python_file(file);
  lb_st_free(file);

  char path[512];
  path_in(state, "python.safetensors", path, sizeof path);
  write_bytes(path, im.bytes, im.size);
  file = NULL;
  assert_int_equal(lb_st_read_file(path, &file), LB_OK);
  assert_python_file(file);
  lb_st_free(file);
  free(im.bytes);
}

static void test_reads_escaped_names_whitespace_and_any_key_order(void **state) {
  (void)state;
  const char *header =
      " {\n \"__metadata__\" : { \"n\\u00e9\" : \"\\ud83d\\ude00\\t\\\"q\\\"\" } ,\n"
      "  \"\\u0061\\/b\" : { \"data_offsets\" : [ 0 , 2 ] , \"shape\" : [ 2 ] ,"
      " \"dtype\" : \"U8\" } }\r\n  ";
  const unsigned char data[2] = {5, 6};
  image im = image_of(header, data, 2);
  lb_st_file *file = NULL;
  assert_int_equal(lb_st_read_buffer(im.bytes, im.size, LABEL, &file), LB_OK);
  static const int64_t two[1] = {2};
  assert_int_equal(lb_st_count(file), 1);
  assert_tensor(lb_st_find(file, "a/b"), "a/b", LB_ST_U8, 1, two, data, 2);
  assert_int_equal(lb_st_metadata_count(file), 1);
  assert_string_equal(lb_st_metadata_find(file, "n\xc3\xa9"),
                      "\xf0\x9f\x98\x80\t\"q\"");
  lb_st_free(file);
  free(im.bytes);
}

static void test_lookups_of_absent_names_give_null(void **state) {
  (void)state;
  image im = image_of(python_header, python_data, sizeof python_data);
  lb_st_file *file = NULL;
  assert_int_equal(lb_st_read_buffer(im.bytes, im.size, LABEL, &file), LB_OK);
  assert_null(lb_st_find(file, "c"));
  assert_null(lb_st_find(file, ""));
  assert_null(lb_st_find(file, "__metadata__"));
  assert_null(lb_st_metadata_find(file, "format"));
  lb_st_free(file);
  free(im.bytes);
}

static void test_an_empty_file_has_no_tensors(void **state) {
  (void)state;
  image im = image_of("{}      ", NULL, 0);
  lb_st_file *file = NULL;
  assert_int_equal(lb_st_read_buffer(im.bytes, im.size, LABEL, &file), LB_OK);
  assert_int_equal(lb_st_count(file), 0);
  assert_int_equal(lb_st_metadata_count(file), 0);
  lb_st_free(file);
  free(im.bytes);
}

static void test_free_accepts_null(void **state) {
  (void)state;
  lb_st_free(NULL);
}

static void test_dtype_names_and_sizes(void **state) {
  (void)state;
  assert_string_equal(lb_st_dtype_name(LB_ST_F32), "F32");
  assert_int_equal(lb_st_dtype_size(LB_ST_F32), 4);
  assert_string_equal(lb_st_dtype_name(LB_ST_I64), "I64");
  assert_int_equal(lb_st_dtype_size(LB_ST_I64), 8);
  assert_string_equal(lb_st_dtype_name(LB_ST_BF16), "BF16");
  assert_int_equal(lb_st_dtype_size(LB_ST_BF16), 2);
  assert_string_equal(lb_st_dtype_name(LB_ST_BOOL), "BOOL");
  assert_int_equal(lb_st_dtype_size(LB_ST_BOOL), 1);
  assert_string_equal(lb_st_dtype_name(LB_ST_F8_E5M2), "F8_E5M2");
  for (int d = 0; d < LB_ST_DTYPE_COUNT; d++) {
    assert_non_null(lb_st_dtype_name((lb_st_dtype)d));
    assert_true(lb_st_dtype_size((lb_st_dtype)d) >= 1);
  }
}

/* ---- malformed input: one test per rule ----------------------------------- */

static void test_rejects_a_file_shorter_than_the_length_field(void **state) {
  (void)state;
  const unsigned char bytes[5] = {2, 0, 0, 0, 0};
  lb_st_file *file = UNTOUCHED_FILE;
  assert_fails_with(lb_st_read_buffer(bytes, sizeof bytes, LABEL, &file),
                    LB_EFORMAT, "the file has 5 bytes");
  assert_ptr_equal(file, UNTOUCHED_FILE);
}

static void test_rejects_a_header_length_beyond_the_file(void **state) {
  (void)state;
  image im = image_of("{}", NULL, 0);
  im.bytes[0] = 3;
  lb_st_file *file = UNTOUCHED_FILE;
  assert_fails_with(lb_st_read_buffer(im.bytes, im.size, LABEL, &file),
                    LB_EFORMAT, "header length 3 is larger than the 2 bytes");
  assert_ptr_equal(file, UNTOUCHED_FILE);
  free(im.bytes);
}

static void test_rejects_an_absurd_header_length(void **state) {
  (void)state;
  image im = image_of("{}", NULL, 0);
  im.bytes[5] = 1; /* 2^40 + 2 */
  lb_st_file *file = UNTOUCHED_FILE;
  assert_fails_with(lb_st_read_buffer(im.bytes, im.size, LABEL, &file),
                    LB_EFORMAT, "exceeds the limit of 100000000 bytes");
  memset(im.bytes, 0xFF, 8);
  assert_fails_with(lb_st_read_buffer(im.bytes, im.size, LABEL, &file),
                    LB_EFORMAT, "header length 18446744073709551615 exceeds");
  assert_ptr_equal(file, UNTOUCHED_FILE);
  free(im.bytes);
}

static void test_rejects_malformed_json(void **state) {
  (void)state;
  static const struct {
    const char *header;
    const char *reason;
  } cases[] = {
      {"", "no value"},
      {"   ", "no value"},
      {"{", "expected a string key"},
      {"{\"a\"", "expected ':'"},
      {"{\"a\" 1}", "expected ':'"},
      {"{\"a\":}", "expected a value"},
      {"{\"a\":{}", "unterminated object"},
      {"{\"a\":{},}", "expected a string key"},
      {"{\"a\":{} \"b\":{}}", "expected ',' or '}'"},
      {"{\"a\":[1 2]}", "expected ',' or ']'"},
      {"{\"a\":[1,]}", "expected a value"},
      {"{\"a\":[1", "unterminated array"},
      {"{\"a\":true}", "true, false and null are not supported"},
      {"{\"a\":null}", "true, false and null are not supported"},
      {"{\"a\":1.5}", "only integers are supported"},
      {"{\"a\":1e3}", "only integers are supported"},
      {"{\"a\":01}", "must not start with 0"},
      {"{\"a\":-}", "expected a digit"},
      {"{\"a\":\"x}", "unterminated string"},
      {"{\"a\":\"\\x\"}", "invalid escape sequence"},
      {"{\"a\":\"\\u12G4\"}", "four hex digits"},
      {"{\"a\":\"\\u12", "truncated \\u escape"},
      {"{\"a\":\"\\ud800\"}", "unpaired UTF-16 surrogate"},
      {"{\"a\":\"\\ud800\\u0041\"}", "unpaired UTF-16 surrogate"},
      {"{\"a\":\"\\udc00\"}", "unpaired UTF-16 surrogate"},
      {"{\"a\":\"tab\there\"}", "control character"},
      {"{\"a\":\"\xff\"}", "invalid UTF-8"},
      {"{\"a\":\"\xc0\xaf\"}", "invalid UTF-8"},            /* overlong '/' */
      {"{\"a\":\"\xed\xa0\x80\"}", "invalid UTF-8"},        /* a surrogate */
      {"{\"a\":\"\xf4\x90\x80\x80\"}", "invalid UTF-8"},    /* > U+10FFFF */
      {"{\"a\":\"\xe2\x82\"}", "invalid UTF-8"},            /* cut short */
      {"{} {}", "unexpected text after the value"},
      {"{}x", "unexpected text after the value"},
      {"'a'", "expected a value"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    image im = image_of(cases[i].header, NULL, 0);
    lb_st_file *file = UNTOUCHED_FILE;
    assert_fails_with(lb_st_read_buffer(im.bytes, im.size, LABEL, &file),
                      LB_EFORMAT, "the header is not valid JSON");
    assert_error_mentions(cases[i].reason);
    assert_error_mentions(LABEL);
    assert_ptr_equal(file, UNTOUCHED_FILE);
    free(im.bytes);
  }
}

static void test_rejects_json_nested_too_deeply(void **state) {
  (void)state;
  char header[128] = "{\"a\":";
  size_t length = strlen(header);
  for (int i = 0; i < 40; i++) header[length++] = '[';
  header[length] = '\0';
  assert_malformed(header, 0, "nested too deeply", NULL);
}

static void test_rejects_a_header_that_is_not_an_object(void **state) {
  (void)state;
  assert_malformed("[]", 0, "the header is not a JSON object", NULL);
  assert_malformed("\"x\"", 0, "the header is not a JSON object", NULL);
  assert_malformed("12", 0, "the header is not a JSON object", NULL);
}

static void test_rejects_an_unknown_dtype(void **state) {
  (void)state;
  assert_malformed("{\"w\":{\"dtype\":\"F33\",\"shape\":[],\"data_offsets\":[0,4]}}",
                   4, "unknown dtype 'F33'", "w");
  assert_malformed("{\"w\":{\"dtype\":\"f32\",\"shape\":[],\"data_offsets\":[0,4]}}",
                   4, "unknown dtype 'f32'", "w");
  assert_malformed("{\"w\":{\"dtype\":4,\"shape\":[],\"data_offsets\":[0,4]}}", 4,
                   "dtype is not a string", "w");
}

static void test_rejects_a_shape_that_does_not_match_the_offsets(void **state) {
  (void)state;
  assert_malformed(
      "{\"fc.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
      "shape [3] of F32 needs 12 bytes but data_offsets [0, 8] hold 8",
      "fc.bias");
}

static void test_rejects_a_shape_whose_size_overflows(void **state) {
  (void)state;
  assert_malformed("{\"big\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
                   "\"data_offsets\":[0,0]}}",
                   0, "shape [4294967296, 4294967296] overflows", "big");
  assert_malformed("{\"big\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],"
                   "\"data_offsets\":[0,0]}}",
                   0, "of F64 overflows", "big");
}

static void test_rejects_malformed_shapes(void **state) {
  (void)state;
  assert_malformed("{\"s\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                   "\"data_offsets\":[0,1]}}",
                   1, "shape has 9 dimensions, at most 8", "s");
  assert_malformed("{\"s\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,0]}}",
                   0, "shape[0] is not an integer in [0, 2^63)", "s");
  assert_malformed("{\"s\":{\"dtype\":\"U8\",\"shape\":[1,\"2\"],"
                   "\"data_offsets\":[0,2]}}",
                   2, "shape[1] is not an integer", "s");
  assert_malformed("{\"s\":{\"dtype\":\"U8\",\"shape\":[9223372036854775808],"
                   "\"data_offsets\":[0,0]}}",
                   0, "shape[0] is not an integer in [0, 2^63)", "s");
  assert_malformed("{\"s\":{\"dtype\":\"U8\",\"shape\":2,\"data_offsets\":[0,2]}}",
                   2, "shape is not an array", "s");
}

static void test_rejects_malformed_data_offsets(void **state) {
  (void)state;
  assert_malformed("{\"o\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}",
                   1, "data_offsets is not an array of two integers", "o");
  assert_malformed(
      "{\"o\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 1,
      "data_offsets is not an array of two integers", "o");
  assert_malformed(
      "{\"o\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,\"1\"]}}", 1,
      "data_offsets must be integers", "o");
  assert_malformed(
      "{\"o\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}}", 1,
      "data_offsets must be integers", "o");
  assert_malformed("{\"o\":{\"dtype\":\"U8\",\"shape\":[1],"
                   "\"data_offsets\":[0,18446744073709551616]}}",
                   1, "data_offsets must be integers in [0, 2^64)", "o");
}

static void test_rejects_offsets_out_of_the_data_area(void **state) {
  (void)state;
  assert_malformed("{\"o\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}",
                   4, "data_offsets [0, 8] are out of the data area's range [0, 4]",
                   "o");
  assert_malformed("{\"o\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,0]}}",
                   4, "data_offsets [4, 0] are out of", "o");
  assert_malformed("{\"o\":{\"dtype\":\"U8\",\"shape\":[0],"
                   "\"data_offsets\":[18446744073709551615,18446744073709551615]}}",
                   4, "are out of the data area", "o");
}

static void test_rejects_overlapping_tensors(void **state) {
  (void)state;
  assert_malformed(
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[4,12]}}",
      12, "data_offsets [4, 12] overlap tensor 'a', which ends at 8", "b");
  /* An empty tensor inside another one overlaps it too. */
  assert_malformed(
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
      "\"e\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,4]}}",
      8, "overlap tensor 'a'", "e");
}

static void test_rejects_a_gap_between_tensors(void **state) {
  (void)state;
  assert_malformed(
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
      "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,12]}}",
      12, "leave bytes [4, 8) of the data area unused", "b");
  assert_malformed(
      "{\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", 8,
      "leave bytes [0, 4) of the data area unused", "b");
}

static void test_rejects_data_the_tensors_do_not_cover(void **state) {
  (void)state;
  assert_malformed("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}",
                   8, "the tensors end at byte 4 of the data area, which has 8",
                   NULL);
  assert_malformed("{}", 3, "the tensors end at byte 0 of the data area, which "
                            "has 3", NULL);
}

static void test_rejects_duplicate_names(void **state) {
  (void)state;
  assert_malformed(
      "{\"layer1.0.bn1.weight\":{\"dtype\":\"U8\",\"shape\":[4],"
      "\"data_offsets\":[0,4]},"
      "\"layer1.0.bn1.weight\":{\"dtype\":\"U8\",\"shape\":[4],"
      "\"data_offsets\":[4,8]}}",
      8, "the name appears twice", "layer1.0.bn1.weight");
  /* Equal after decoding escapes. */
  assert_malformed(
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
      "\"\\u0061\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}",
      0, "the name appears twice", "a");
}

static void test_rejects_metadata_values_that_are_not_strings(void **state) {
  (void)state;
  assert_malformed("{\"__metadata__\":{\"format\":\"pt\",\"epoch\":3}}", 0,
                   "__metadata__ value of 'epoch' is not a string", NULL);
  assert_malformed("{\"__metadata__\":{\"list\":[\"a\"]}}", 0,
                   "__metadata__ value of 'list' is not a string", NULL);
}

static void test_rejects_malformed_metadata(void **state) {
  (void)state;
  assert_malformed("{\"__metadata__\":[]}", 0, "__metadata__ is not an object",
                   NULL);
  assert_malformed("{\"__metadata__\":{},\"__metadata__\":{}}", 0,
                   "__metadata__ appears twice", NULL);
  assert_malformed("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0,
                   "__metadata__ key 'k' appears twice", NULL);
}

static void test_rejects_malformed_tensor_objects(void **state) {
  (void)state;
  assert_malformed("{\"t\":[0,4]}", 4, "expected an object of dtype", "t");
  assert_malformed("{\"t\":{\"dtype\":\"U8\",\"data_offsets\":[0,4]}}", 4,
                   "'shape' is missing", "t");
  assert_malformed("{\"t\":{\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
                   "'dtype' is missing", "t");
  assert_malformed("{\"t\":{\"dtype\":\"U8\",\"shape\":[4]}}", 4,
                   "'data_offsets' is missing", "t");
  assert_malformed("{\"t\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[4],"
                   "\"data_offsets\":[0,4]}}",
                   4, "'dtype' appears twice", "t");
  assert_malformed("{\"t\":{\"dtype\":\"U8\",\"shape\":[4],\"offsets\":[0,4]}}", 4,
                   "unknown key 'offsets'", "t");
}

static void test_rejects_strings_holding_nul(void **state) {
  (void)state;
  assert_malformed(
      "{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0,
      "contains \\u0000", NULL);
  assert_malformed("{\"__metadata__\":{\"k\":\"v\\u0000\"}}", 0,
                   "contains \\u0000", NULL);
}

/* The bytes of a small valid file with metadata, made by the writer. */
static image small_valid_file(void **state) {
  static const float weights[3] = {1.0f, 2.0f, 3.0f};
  static const int64_t steps = 42;
  static const int64_t three[1] = {3};
  const lb_st_tensor tensors[2] = {
      tensor_of("w", LB_ST_F32, 1, three, weights, sizeof weights),
      tensor_of("n", LB_ST_I64, 0, NULL, &steps, sizeof steps),
  };
  const lb_st_pair metadata[1] = {{"format", "pt"}};
  char path[512];
  path_in(state, "small.safetensors", path, sizeof path);
  assert_int_equal(lb_st_write_file(path, tensors, 2, metadata, 1), LB_OK);
  image im = read_bytes(path);
  remove(path);
  return im;
}

static void test_every_truncation_of_a_valid_file_fails_cleanly(void **state) {
  image whole = small_valid_file(state);
  char path[512];
  path_in(state, "cut.safetensors", path, sizeof path);
  for (size_t length = 0; length < whole.size; length++) {
    /* An exact-size copy, so a sanitizer sees any read past the end. */
    unsigned char *prefix = malloc(length ? length : 1);
    assert_non_null(prefix);
    memcpy(prefix, whole.bytes, length);
    lb_st_file *file = UNTOUCHED_FILE;
    assert_fails_with(lb_st_read_buffer(prefix, length, LABEL, &file),
                      LB_EFORMAT, LABEL);
    assert_ptr_equal(file, UNTOUCHED_FILE);
    write_bytes(path, prefix, length);
    assert_fails_with(lb_st_read_file(path, &file), LB_EFORMAT, path);
    assert_ptr_equal(file, UNTOUCHED_FILE);
    free(prefix);
  }
  lb_st_file *file = NULL;
  assert_int_equal(lb_st_read_buffer(whole.bytes, whole.size, LABEL, &file), LB_OK);
  lb_st_free(file);
  remove(path);
  free(whole.bytes);
}

/* ---- reading: I/O and memory ---------------------------------------------- */

static void test_reading_a_missing_file_is_an_io_error(void **state) {
  char path[512];
  path_in(state, "absent.safetensors", path, sizeof path);
  lb_st_file *file = UNTOUCHED_FILE;
  assert_fails_with(lb_st_read_file(path, &file), LB_EIO, "cannot open");
  assert_error_mentions(path);
  assert_error_mentions(strerror(ENOENT));
  assert_ptr_equal(file, UNTOUCHED_FILE);
}

static void test_reading_a_directory_is_an_io_error(void **state) {
  const scratch *s = *state;
  lb_st_file *file = UNTOUCHED_FILE;
  assert_fails_with(lb_st_read_file(s->dir, &file), LB_EIO, "not a regular file");
  assert_error_mentions(s->dir);
  assert_ptr_equal(file, UNTOUCHED_FILE);
}

static void test_each_allocation_failure_of_the_reader_is_clean(void **state) {
  image whole = small_valid_file(state);
  char path[512];
  path_in(state, "alloc.safetensors", path, sizeof path);
  write_bytes(path, whole.bytes, whole.size);
  lb_st_file *file = NULL;
  assert_each_allocation_failure_is_clean(
      {
        file = NULL;
        status_ = lb_st_read_file(path, &file);
      },
      lb_st_free(file));
  assert_each_allocation_failure_is_clean(
      {
        file = NULL;
        status_ = lb_st_read_buffer(whole.bytes, whole.size, LABEL, &file);
      },
      lb_st_free(file));
  remove(path);
  free(whole.bytes);
}

/* ---- writing --------------------------------------------------------------- */

/* The reference writer's output for {"attn.0": F32 [1, 2, 3] = 0..5}. */
static void test_writer_output_matches_the_reference_writer(void **state) {
  static const unsigned char values[24] = {
      0, 0, 0, 0, 0, 0, 0x80, 0x3F, 0, 0, 0, 0x40,
      0, 0, 0x40, 0x40, 0, 0, 0x80, 0x40, 0, 0, 0xA0, 0x40};
  static const int64_t shape[3] = {1, 2, 3};
  const lb_st_tensor t = tensor_of("attn.0", LB_ST_F32, 3, shape, values, 24);
  char path[512];
  path_in(state, "attn.safetensors", path, sizeof path);
  assert_int_equal(lb_st_write_file(path, &t, 1, NULL, 0), LB_OK);
  image expected = image_of(
      "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}",
      values, sizeof values);
  assert_int_equal(expected.bytes[0], 64); /* already a multiple of 8 */
  assert_file_holds(path, &expected);
  free(expected.bytes);
}

static void test_writer_output_for_no_tensors_matches_the_reference(void **state) {
  char path[512];
  path_in(state, "empty.safetensors", path, sizeof path);
  assert_int_equal(lb_st_write_file(path, NULL, 0, NULL, 0), LB_OK);
  image expected = image_of("{}      ", NULL, 0);
  assert_file_holds(path, &expected);
  free(expected.bytes);

  const lb_st_pair framework = {"framework", "pt"};
  assert_int_equal(lb_st_write_file(path, NULL, 0, &framework, 1), LB_OK);
  expected = image_of("{\"__metadata__\":{\"framework\":\"pt\"}}     ", NULL, 0);
  assert_file_holds(path, &expected);
  free(expected.bytes);
}

static void test_writer_makes_the_bytes_the_python_writer_makes(void **state) {
  static const int64_t two[1] = {2};
  /* Given in the other order: the layout does not depend on it. */
  const lb_st_tensor tensors[2] = {
      tensor_of("a", LB_ST_F32, 1, two, python_data + 8, 8),
      tensor_of("b", LB_ST_I64, 0, NULL, python_data, 8),
  };
  char path[512];
  path_in(state, "python.safetensors", path, sizeof path);
  assert_int_equal(lb_st_write_file(path, tensors, 2, NULL, 0), LB_OK);
  image expected = image_of(python_header, python_data, sizeof python_data);
  assert_file_holds(path, &expected);
  free(expected.bytes);
}

static void test_writer_sorts_keys_and_names_and_pads_the_header(void **state) {
  static const unsigned char b_data[3] = {1, 2, 3}, a_data[2] = {4, 5};
  static const int64_t three[1] = {3}, two[1] = {2};
  const lb_st_tensor tensors[2] = {
      tensor_of("b", LB_ST_U8, 1, three, b_data, 3),
      tensor_of("a", LB_ST_U8, 1, two, a_data, 2),
  };
  const lb_st_pair metadata[2] = {{"z", "last"}, {"k", "v\"\n\x01"}};
  char path[512];
  path_in(state, "sorted.safetensors", path, sizeof path);
  assert_int_equal(lb_st_write_file(path, tensors, 2, metadata, 2), LB_OK);
  const unsigned char data[5] = {4, 5, 1, 2, 3};
  image expected = image_of(
      "{\"__metadata__\":{\"k\":\"v\\\"\\n\\u0001\",\"z\":\"last\"},"
      "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
      "\"b\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[2,5]}} ",
      data, sizeof data);
  assert_int_equal((expected.size - 5) % 8, 0);
  assert_file_holds(path, &expected);
  free(expected.bytes);
}

static void test_round_trip_keeps_every_tensor_and_the_metadata(void **state) {
  float conv[4 * 3 * 7 * 7];
  for (size_t i = 0; i < sizeof conv / sizeof conv[0]; i++) conv[i] = (float)i * 0.5f;
  const float mean[4] = {0.1f, -0.2f, 0.3f, 1e-8f};
  const int64_t batches = 1234567890123;
  const double bias[3] = {1.0, -1.0, 0.25};
  const unsigned char deep[2] = {9, 8};
  const uint16_t half[3] = {0x3F80, 0x4000, 0xC040};
  static const int64_t conv_shape[4] = {4, 3, 7, 7}, four[1] = {4}, three[1] = {3};
  static const int64_t empty_shape[2] = {2, 0}, deep_shape[8] = {1, 1, 1, 1, 1, 1, 1, 2};
  const lb_st_tensor tensors[] = {
      tensor_of("layer1.0.bn1.running_mean", LB_ST_F32, 1, four, mean, sizeof mean),
      tensor_of("conv1.weight", LB_ST_F32, 4, conv_shape, conv, sizeof conv),
      tensor_of("layer1.0.bn1.num_batches_tracked", LB_ST_I64, 0, NULL, &batches,
                sizeof batches),
      tensor_of("fc.bias", LB_ST_F64, 1, three, bias, sizeof bias),
      tensor_of("mask", LB_ST_BOOL, 2, empty_shape, NULL, 0),
      tensor_of("deep", LB_ST_U8, 8, deep_shape, deep, sizeof deep),
      tensor_of("half", LB_ST_BF16, 1, three, half, sizeof half),
      tensor_of("na\xc3\xafve \"quoted\"\\\t", LB_ST_U8, 1, (const int64_t[]){2},
                deep, sizeof deep),
  };
  const size_t count = sizeof tensors / sizeof tensors[0];
  const lb_st_pair metadata[] = {
      {"format", "pt"}, {"epoch", "12"}, {"note", "tab\there \xc3\xbc"}, {"", ""}};
  char path[512];
  path_in(state, "resnet.safetensors", path, sizeof path);
  assert_int_equal(lb_st_write_file(path, tensors, count, metadata, 4), LB_OK);

  lb_st_file *file = NULL;
  assert_int_equal(lb_st_read_file(path, &file), LB_OK);
  assert_int_equal(lb_st_count(file), count);
  for (size_t i = 0; i < count; i++) {
    const lb_st_tensor *want = &tensors[i];
    assert_tensor(lb_st_find(file, want->name), want->name, want->dtype,
                  want->ndim, want->shape, want->data, want->bytes);
  }
  for (size_t i = 1; i < count; i++)
    assert_true(strcmp(lb_st_at(file, i - 1)->name, lb_st_at(file, i)->name) < 0);
  /* The header is padded to 8 bytes and the buffer 64-byte aligned, so the
   * data of every tensor is aligned for its dtype. */
  for (size_t i = 0; i < count; i++) {
    const lb_st_tensor *t = lb_st_at(file, i);
    if (t->bytes && t->dtype != LB_ST_U8)
      assert_int_equal((uintptr_t)t->data % lb_st_dtype_size(t->dtype), 0);
  }
  assert_int_equal(lb_st_metadata_count(file), 4);
  assert_string_equal(lb_st_metadata_at(file, 0)->key, "");
  assert_string_equal(lb_st_metadata_at(file, 1)->key, "epoch");
  assert_string_equal(lb_st_metadata_at(file, 3)->key, "note");
  assert_string_equal(lb_st_metadata_find(file, "format"), "pt");
  assert_string_equal(lb_st_metadata_find(file, "note"), "tab\there \xc3\xbc");
  assert_string_equal(lb_st_metadata_find(file, ""), "");

  /* What was read writes back to the same bytes. */
  lb_st_tensor copies[sizeof tensors / sizeof tensors[0]];
  for (size_t i = 0; i < count; i++) copies[i] = *lb_st_at(file, i);
  lb_st_pair pairs[4];
  for (size_t i = 0; i < 4; i++) pairs[i] = *lb_st_metadata_at(file, i);
  char again[512];
  path_in(state, "again.safetensors", again, sizeof again);
  assert_int_equal(lb_st_write_file(again, copies, count, pairs, 4), LB_OK);
  image first = read_bytes(path);
  assert_file_holds(again, &first);
  free(first.bytes);
  lb_st_free(file);
}

static void test_writer_replaces_an_existing_file(void **state) {
  const scratch *s = *state;
  char path[512];
  path_in(state, "model.safetensors", path, sizeof path);
  write_bytes(path, "old contents", 12);
  static const int64_t one[1] = {1};
  const unsigned char value = 7;
  const lb_st_tensor t = tensor_of("x", LB_ST_U8, 1, one, &value, 1);
  assert_int_equal(lb_st_write_file(path, &t, 1, NULL, 0), LB_OK);
  lb_st_file *file = NULL;
  assert_int_equal(lb_st_read_file(path, &file), LB_OK);
  assert_int_equal(*(const unsigned char *)lb_st_find(file, "x")->data, 7);
  lb_st_free(file);
  assert_int_equal(count_temporaries(s->dir), 0);
  assert_int_equal(count_entries(s->dir), 1);
}

/* Asserts that writing `t` fails with LB_EINVAL mentioning `fragment` and
 * creates nothing. */
static void assert_write_rejected(void **state, const lb_st_tensor *t,
                                  size_t count, const lb_st_pair *pairs,
                                  size_t pair_count, const char *fragment) {
  const scratch *s = *state;
  char path[512];
  path_in(state, "rejected.safetensors", path, sizeof path);
  assert_fails_with(lb_st_write_file(path, t, count, pairs, pair_count), LB_EINVAL,
                    fragment);
  assert_error_mentions(path);
  assert_int_equal(count_entries(s->dir), 0);
}

static void test_writer_rejects_malformed_tensors(void **state) {
  static const int64_t two[1] = {2};
  const float data[2] = {1.0f, 2.0f};
  lb_st_tensor t = tensor_of("t", LB_ST_F32, 1, two, data, 8);

  t.name = NULL;
  assert_write_rejected(state, &t, 1, NULL, 0, "tensor 0 has no name");
  t.name = "bad \xff name";
  assert_write_rejected(state, &t, 1, NULL, 0, "is not UTF-8");
  t.name = "__metadata__";
  assert_write_rejected(state, &t, 1, NULL, 0, "reserved for metadata");
  t.name = "t";
  t.dtype = (lb_st_dtype)99;
  assert_write_rejected(state, &t, 1, NULL, 0, "tensor 't': unknown dtype");
  t.dtype = LB_ST_F32;
  t.ndim = 9;
  assert_write_rejected(state, &t, 1, NULL, 0, "ndim is outside [0, 8]");
  t.ndim = -1;
  assert_write_rejected(state, &t, 1, NULL, 0, "ndim is outside [0, 8]");
  t.ndim = 1;
  t.shape[0] = -2;
  assert_write_rejected(state, &t, 1, NULL, 0, "negative");
  t.shape[0] = 2;
  t.bytes = 4;
  assert_write_rejected(state, &t, 1, NULL, 0, "bytes differs");
  t.bytes = 8;
  t.data = NULL;
  assert_write_rejected(state, &t, 1, NULL, 0, "data is NULL");
  t.data = data;
  t.ndim = 3;
  t.shape[1] = INT64_MAX;
  t.shape[2] = INT64_MAX;
  assert_write_rejected(state, &t, 1, NULL, 0, "the size in bytes overflows");
  assert_write_rejected(state, NULL, 1, NULL, 0, "tensors is NULL");
}

static void test_writer_rejects_duplicates_and_malformed_metadata(void **state) {
  static const int64_t two[1] = {2};
  const float data[2] = {1.0f, 2.0f};
  const lb_st_tensor twins[2] = {tensor_of("fc.weight", LB_ST_F32, 1, two, data, 8),
                                 tensor_of("fc.weight", LB_ST_F32, 1, two, data, 8)};
  assert_write_rejected(state, twins, 2, NULL, 0,
                        "tensor 'fc.weight': the name appears twice");
  const lb_st_tensor mixed[3] = {tensor_of("w", LB_ST_F32, 1, two, data, 8),
                                 tensor_of("v", LB_ST_U8, 0, NULL, data, 1),
                                 tensor_of("w", LB_ST_U8, 0, NULL, data, 1)};
  assert_write_rejected(state, mixed, 3, NULL, 0,
                        "tensor 'w': the name appears twice");
  const lb_st_pair same_keys[2] = {{"k", "1"}, {"k", "2"}};
  assert_write_rejected(state, twins, 1, same_keys, 2,
                        "metadata key 'k' appears twice");
  const lb_st_pair null_value[1] = {{"k", NULL}};
  assert_write_rejected(state, twins, 1, null_value, 1, "NULL key or value");
  const lb_st_pair bad_utf8[1] = {{"k", "\xc0\xaf"}};
  assert_write_rejected(state, twins, 1, bad_utf8, 1,
                        "metadata entry 'k' is not UTF-8");
  assert_write_rejected(state, twins, 1, NULL, 1, "metadata is NULL");
}

/* ---- atomic replacement ------------------------------------------------------ */

/* A previous file at `path`, returned so tests can check it is unchanged. */
static image previous_file(const char *path) {
  image old = image_of("{}      ", NULL, 0);
  write_bytes(path, old.bytes, old.size);
  return old;
}

/* A 64 KiB tensor to write over it. */
static float big_data[16384];
static lb_st_tensor big_tensor(void) {
  static const int64_t shape[1] = {16384};
  return tensor_of("big", LB_ST_F32, 1, shape, big_data, sizeof big_data);
}

static void test_a_write_into_a_missing_directory_leaves_nothing(void **state) {
  const scratch *s = *state;
  char path[512];
  path_in(state, "missing/model.safetensors", path, sizeof path);
  const lb_st_tensor t = big_tensor();
  assert_fails_with(lb_st_write_file(path, &t, 1, NULL, 0), LB_EIO, "cannot create");
  assert_error_mentions(path);
  assert_error_mentions(strerror(ENOENT));
  assert_int_equal(count_entries(s->dir), 0);
}

static void test_a_failing_write_leaves_the_previous_file_intact(void **state) {
  const scratch *s = *state;
  char path[512];
  path_in(state, "model.safetensors", path, sizeof path);
  image old = previous_file(path);
  /* Cap the size of files this process may write (EFBIG instead of the
   * SIGXFSZ that would end it): the temporary file cannot be completed. */
  struct rlimit saved;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
  struct rlimit capped = {4096, saved.rlim_max};
  void (*saved_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &capped), 0);
  const lb_st_tensor t = big_tensor();
  lb_clear_error();
  lb_status status = lb_st_write_file(path, &t, 1, NULL, 0);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
  signal(SIGXFSZ, saved_handler);
  assert_int_equal(status, LB_EIO);
  assert_error_mentions("cannot write");
  assert_error_mentions(strerror(EFBIG));
  assert_file_holds(path, &old);
  assert_int_equal(count_temporaries(s->dir), 0);
  assert_int_equal(count_entries(s->dir), 1);
  free(old.bytes);
}

static void test_a_failing_rename_removes_the_temporary_file(void **state) {
  const scratch *s = *state;
  char path[512];
  path_in(state, "model.safetensors", path, sizeof path);
  /* rename() cannot replace a directory with a file. */
  assert_int_equal(mkdir(path, 0755), 0);
  const lb_st_tensor t = big_tensor();
  assert_fails_with(lb_st_write_file(path, &t, 1, NULL, 0), LB_EIO,
                    "cannot rename onto it");
  assert_error_mentions(path);
  struct stat info;
  assert_int_equal(stat(path, &info), 0);
  assert_true(S_ISDIR(info.st_mode));
  assert_int_equal(count_temporaries(s->dir), 0);
  assert_int_equal(count_entries(s->dir), 1);
}

static void test_a_write_into_a_read_only_directory_leaves_the_file(void **state) {
  if (geteuid() == 0) skip(); /* root writes into read-only directories */
  const scratch *s = *state;
  char path[512];
  path_in(state, "model.safetensors", path, sizeof path);
  image old = previous_file(path);
  assert_int_equal(chmod(s->dir, 0555), 0);
  const lb_st_tensor t = big_tensor();
  lb_clear_error();
  lb_status status = lb_st_write_file(path, &t, 1, NULL, 0);
  assert_int_equal(chmod(s->dir, 0755), 0);
  assert_int_equal(status, LB_EIO);
  assert_error_mentions(strerror(EACCES));
  assert_file_holds(path, &old);
  assert_int_equal(count_entries(s->dir), 1);
  free(old.bytes);
}

static void test_each_allocation_failure_of_the_writer_keeps_the_file(void **state) {
  const scratch *s = *state;
  char path[512];
  path_in(state, "model.safetensors", path, sizeof path);
  image old = previous_file(path);
  const lb_st_tensor t = big_tensor();
  const lb_st_pair pair = {"format", "pt"};
  assert_each_allocation_failure_is_clean(
      {
        status_ = lb_st_write_file(path, &t, 1, &pair, 1);
        if (status_ != LB_OK) {
          assert_file_holds(path, &old);
          assert_int_equal(count_entries(s->dir), 1);
        }
      },
      {});
  lb_st_file *file = NULL;
  assert_int_equal(lb_st_read_file(path, &file), LB_OK);
  assert_int_equal(lb_st_find(file, "big")->bytes, sizeof big_data);
  lb_st_free(file);
  assert_int_equal(count_entries(s->dir), 1);
  free(old.bytes);
}

#define SCRATCH_TEST(f) cmocka_unit_test_setup_teardown(f, make_scratch, remove_scratch)

int main(void) {
  const struct CMUnitTest tests[] = {
      SCRATCH_TEST(test_reads_the_bytes_the_python_writer_makes),
      cmocka_unit_test(test_reads_escaped_names_whitespace_and_any_key_order),
      cmocka_unit_test(test_lookups_of_absent_names_give_null),
      cmocka_unit_test(test_an_empty_file_has_no_tensors),
      cmocka_unit_test(test_free_accepts_null),
      cmocka_unit_test(test_dtype_names_and_sizes),
      cmocka_unit_test(test_rejects_a_file_shorter_than_the_length_field),
      cmocka_unit_test(test_rejects_a_header_length_beyond_the_file),
      cmocka_unit_test(test_rejects_an_absurd_header_length),
      cmocka_unit_test(test_rejects_malformed_json),
      cmocka_unit_test(test_rejects_json_nested_too_deeply),
      cmocka_unit_test(test_rejects_a_header_that_is_not_an_object),
      cmocka_unit_test(test_rejects_an_unknown_dtype),
      cmocka_unit_test(test_rejects_a_shape_that_does_not_match_the_offsets),
      cmocka_unit_test(test_rejects_a_shape_whose_size_overflows),
      cmocka_unit_test(test_rejects_malformed_shapes),
      cmocka_unit_test(test_rejects_malformed_data_offsets),
      cmocka_unit_test(test_rejects_offsets_out_of_the_data_area),
      cmocka_unit_test(test_rejects_overlapping_tensors),
      cmocka_unit_test(test_rejects_a_gap_between_tensors),
      cmocka_unit_test(test_rejects_data_the_tensors_do_not_cover),
      cmocka_unit_test(test_rejects_duplicate_names),
      cmocka_unit_test(test_rejects_metadata_values_that_are_not_strings),
      cmocka_unit_test(test_rejects_malformed_metadata),
      cmocka_unit_test(test_rejects_malformed_tensor_objects),
      cmocka_unit_test(test_rejects_strings_holding_nul),
      SCRATCH_TEST(test_every_truncation_of_a_valid_file_fails_cleanly),
      SCRATCH_TEST(test_reading_a_missing_file_is_an_io_error),
      SCRATCH_TEST(test_reading_a_directory_is_an_io_error),
      SCRATCH_TEST(test_each_allocation_failure_of_the_reader_is_clean),
      SCRATCH_TEST(test_writer_output_matches_the_reference_writer),
      SCRATCH_TEST(test_writer_output_for_no_tensors_matches_the_reference),
      SCRATCH_TEST(test_writer_makes_the_bytes_the_python_writer_makes),
      SCRATCH_TEST(test_writer_sorts_keys_and_names_and_pads_the_header),
      SCRATCH_TEST(test_round_trip_keeps_every_tensor_and_the_metadata),
      SCRATCH_TEST(test_writer_replaces_an_existing_file),
      SCRATCH_TEST(test_writer_rejects_malformed_tensors),
      SCRATCH_TEST(test_writer_rejects_duplicates_and_malformed_metadata),
      SCRATCH_TEST(test_a_write_into_a_missing_directory_leaves_nothing),
      SCRATCH_TEST(test_a_failing_write_leaves_the_previous_file_intact),
      SCRATCH_TEST(test_a_failing_rename_removes_the_temporary_file),
      SCRATCH_TEST(test_a_write_into_a_read_only_directory_leaves_the_file),
      SCRATCH_TEST(test_each_allocation_failure_of_the_writer_keeps_the_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
