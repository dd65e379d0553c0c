/*
 * Reading and writing safetensors files, the format PyTorch and Hugging Face
 * use to exchange weights. Internal to the library (hidden visibility); the
 * public checkpoint and weight-loading functions are built on it. Never
 * installed.
 *
 * The format: an 8-byte little-endian unsigned header length N, N bytes of
 * UTF-8 JSON, then the data area. The JSON is an object mapping each tensor
 * name to {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
 * offsets counted from the start of the data area, plus an optional
 * "__metadata__" object of string values. The tensors' byte ranges must tile
 * the data area exactly. Element data is little-endian, as in the file: the
 * library never converts it, callers do.
 *
 * Every failure of the reader is LB_EFORMAT (malformed content), LB_EIO
 * (the file could not be read) or LB_ENOMEM, with a message for
 * lb_last_error() that names the file and, when there is one, the tensor.
 */
#ifndef LOSSBAL_NN_SAFETENSORS_H
#define LOSSBAL_NN_SAFETENSORS_H

#include "lossbal/lossbal.h"

#include <stddef.h>
#include <stdint.h>

/* Most dimensions a tensor of a file may have (scalars have none). */
#define LB_ST_MAX_DIMS 8

/* Headers longer than this are refused before anything is allocated for
 * them: the reference implementation's limit, far above any real model's. */
#define LB_ST_MAX_HEADER_BYTES 100000000u

/* The element types of the format, spelled "F32", "I64", ... in files. In
 * the reference implementation's order, whose reverse is the order its
 * writer (and ours) lays data out in: element sizes never grow along it. */
typedef enum lb_st_dtype {
  LB_ST_BOOL,
  LB_ST_U8,
  LB_ST_I8,
  LB_ST_F8_E5M2,
  LB_ST_F8_E4M3,
  LB_ST_I16,
  LB_ST_U16,
  LB_ST_F16,
  LB_ST_BF16,
  LB_ST_I32,
  LB_ST_U32,
  LB_ST_F32,
  LB_ST_F64,
  LB_ST_I64,
  LB_ST_U64,
  LB_ST_DTYPE_COUNT /* not a dtype: how many there are */
} lb_st_dtype;

/* One tensor, as read from a file or handed to the writer. */
typedef struct lb_st_tensor {
  const char *name;               /* UTF-8, NUL-terminated */
  lb_st_dtype dtype;
  int32_t ndim;                   /* 0 (a scalar) to LB_ST_MAX_DIMS */
  int64_t shape[LB_ST_MAX_DIMS];  /* extents >= 0; only ndim are used */
  const void *data;               /* little-endian elements, maybe unaligned */
  size_t bytes;                   /* element count times the dtype's size */
} lb_st_tensor;

/* One "__metadata__" entry. */
typedef struct lb_st_pair {
  const char *key;
  const char *value;
} lb_st_pair;

/* A parsed file: its tensors sorted by name, its metadata sorted by key. */
typedef struct lb_st_file lb_st_file;

/* The dtype's name as files spell it, and its element size in bytes. */
const char *lb_st_dtype_name(lb_st_dtype dtype);
size_t lb_st_dtype_size(lb_st_dtype dtype);

/* Reads and checks the whole file at `path` (into one buffer the result
 * owns). */
lb_status lb_st_read_file(const char *path, lb_st_file **out);

/* Checks the safetensors image bytes[0, size). The result points into
 * `bytes`, which must outlive it. `label` names the image in messages (a
 * path, or "<memory>"). */
lb_status lb_st_read_buffer(const void *bytes, size_t size, const char *label,
                            lb_st_file **out);

/* Releases a parsed file; NULL is a no-op. */
void lb_st_free(lb_st_file *file);

/* The tensors, in name order (strcmp), and lookup by exact name (NULL when
 * absent). Pointers stay valid until lb_st_free(). */
size_t lb_st_count(const lb_st_file *file);
const lb_st_tensor *lb_st_at(const lb_st_file *file, size_t index);
const lb_st_tensor *lb_st_find(const lb_st_file *file, const char *name);

/* The metadata, in key order, and lookup by key (NULL when absent). */
size_t lb_st_metadata_count(const lb_st_file *file);
const lb_st_pair *lb_st_metadata_at(const lb_st_file *file, size_t index);
const char *lb_st_metadata_find(const lb_st_file *file, const char *key);

/* Writes the tensors and the optional metadata (metadata_count may be 0
 * with metadata NULL) to `path`, in the reference writer's layout whatever
 * the order given here: metadata first, then the tensors by falling dtype
 * (U64, I64, F64, F32, ...; so every tensor's data is aligned for its
 * dtype) and by name within a dtype, the header padded with spaces to a
 * multiple of 8 bytes. Metadata keys are sorted, so equal requests give
 * equal files.
 *
 * The file is replaced atomically: the data goes to "<path>.tmp.<pid>" in
 * the same directory, which is synced to disk and renamed over `path`, then
 * the directory is synced. On failure before the rename the temporary file
 * is removed and a file previously at `path` is left as it was; when only
 * the final directory sync fails (LB_EIO, "written, but ...") the new file
 * is in place but might not survive a crash.
 *
 * LB_EINVAL when a tensor or a pair is malformed (NULL or non-UTF-8 name,
 * "__metadata__" as a name, duplicate names or keys, an ndim or extent out
 * of range, a size that overflows or differs from `bytes`, NULL data for a
 * non-empty tensor); LB_EIO when the file system fails; LB_ENOMEM. */
lb_status lb_st_write_file(const char *path, const lb_st_tensor *tensors,
                           size_t count, const lb_st_pair *metadata,
                           size_t metadata_count);

/* For the reader and the writer: the text of errno value `error`, written
 * into buffer (strerror_r's, as strerror is not thread-safe). */
const char *lb_st_errno_text(int error, char *buffer, size_t capacity);

#endif /* LOSSBAL_NN_SAFETENSORS_H */
