/* Tests of the datasets (include/lossbal/data.h): IDX files plain and
 * gzip, Fashion-MNIST, datasets in memory, batches with normalisation and
 * augmentation, and image folders (built here from PNG and JPEG files the
 * test writes), with every kind of malformed input the loaders must turn
 * into an error instead of a crash. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "image_writer.h"
#include "lossbal/data.h"
#include "test_scratch.h"
#include "test_support.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ---- files ---------------------------------------------------------------- */

/* Removes a directory tree the test made (no symbolic links to follow:
 * lstat keeps a link a file). */
static void remove_tree(const char *path) {
  struct stat about;
  if (lstat(path, &about) != 0)
    return;
  if (S_ISDIR(about.st_mode)) {
    DIR *dir = opendir(path);
    assert_non_null(dir);
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
      if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
        continue;
      char child[1024];
      snprintf(child, sizeof child, "%s/%s", path, entry->d_name);
      remove_tree(child);
    }
    closedir(dir);
    assert_int_equal(rmdir(path), 0);
  } else {
    assert_int_equal(unlink(path), 0);
  }
}

static void make_directory(const char *path) {
  assert_int_equal(mkdir(path, 0755), 0);
}

/* Writes data to path, gzip-compressed when `compress`. */
static void write_file(const char *path, const uint8_t *data, size_t size,
                       int compress) {
  if (compress) {
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    if (size)
      assert_int_equal(gzwrite(f, data, (unsigned)size), (int)size);
    assert_int_equal(gzclose(f), Z_OK);
  } else {
    assert_int_equal(lbt_write_bytes(path, data, size), 0);
  }
}

/* An IDX file: magic 0x0000 08 <dims>, the sizes, then `payload`. */
static size_t idx_bytes(uint8_t *out, int dims, const uint32_t *sizes,
                        const uint8_t *payload, size_t payload_size) {
  size_t n = 0;
  out[n++] = 0;
  out[n++] = 0;
  out[n++] = 0x08;
  out[n++] = (uint8_t)dims;
  for (int d = 0; d < dims; d++) {
    out[n++] = (uint8_t)(sizes[d] >> 24);
    out[n++] = (uint8_t)(sizes[d] >> 16);
    out[n++] = (uint8_t)(sizes[d] >> 8);
    out[n++] = (uint8_t)sizes[d];
  }
  memcpy(out + n, payload, payload_size);
  return n + payload_size;
}

enum { IMAGES = 5, ROWS = 3, COLS = 4, PIXELS = IMAGES * ROWS * COLS };

static void image_payload(uint8_t *pixels) {
  for (int i = 0; i < PIXELS; i++)
    pixels[i] = (uint8_t)(i * 37 + 11);
}

static const uint8_t label_payload[IMAGES] = {3, 0, 1, 3, 2};

/* Writes a 5-image 3x4 IDX pair; returns the sizes of both files. */
static void write_idx_pair(const char *images, const char *labels,
                           int compress) {
  uint8_t pixels[PIXELS], bytes[256];
  image_payload(pixels);
  const uint32_t image_sizes[3] = {IMAGES, ROWS, COLS};
  const uint32_t label_sizes[1] = {IMAGES};
  write_file(images, bytes, idx_bytes(bytes, 3, image_sizes, pixels, PIXELS),
             compress);
  write_file(labels, bytes,
             idx_bytes(bytes, 1, label_sizes, label_payload, IMAGES),
             compress);
}

/* Every float of a batch of all samples of ds, unnormalised by default. */
static float *all_samples(const lb_dataset *ds) {
  int64_t n = lb_dataset_size(ds);
  int32_t c = 0, h = 0, w = 0;
  assert_int_equal(lb_dataset_sample_shape(ds, &c, &h, &w), LB_OK);
  int64_t *indices = malloc((size_t)n * sizeof *indices);
  for (int64_t i = 0; i < n; i++)
    indices[i] = i;
  int64_t shape[4] = {n, c, h, w};
  lb_tensor *t = NULL;
  assert_int_equal(lb_tensor_create(4, shape, &t), LB_OK);
  assert_int_equal(lb_dataset_batch(ds, indices, n, NULL, 0, t, NULL), LB_OK);
  float *copy = malloc((size_t)lb_tensor_numel(t) * sizeof *copy);
  memcpy(copy, lb_tensor_data(t), (size_t)lb_tensor_numel(t) * sizeof *copy);
  lb_tensor_free(t);
  free(indices);
  return copy;
}

/* ---- IDX ------------------------------------------------------------------ */

static void check_idx_dataset(const lb_dataset *ds) {
  assert_int_equal(lb_dataset_size(ds), IMAGES);
  assert_int_equal(lb_dataset_num_classes(ds), 4);
  int32_t c = 0, h = 0, w = 0;
  assert_int_equal(lb_dataset_sample_shape(ds, &c, &h, &w), LB_OK);
  assert_int_equal(c, 1);
  assert_int_equal(h, ROWS);
  assert_int_equal(w, COLS);
  const int32_t labels[IMAGES] = {3, 0, 1, 3, 2};
  assert_memory_equal(lb_dataset_labels(ds), labels, sizeof labels);
  assert_string_equal(lb_dataset_class_name(ds, 2), "2");
  int64_t counts[4];
  assert_int_equal(lb_dataset_class_counts(ds, counts, 4), LB_OK);
  assert_memory_equal(counts, ((int64_t[]){1, 1, 1, 2}), sizeof counts);
  uint8_t pixels[PIXELS];
  image_payload(pixels);
  float *values = all_samples(ds);
  for (int i = 0; i < PIXELS; i++)
    assert_float_equal(values[i], pixels[i] / 255.0f, 1e-7);
  free(values);
}

static void test_idx_plain_and_gzip(void **state) {
  (void)state;
  char images[512], labels[512];
  for (int compress = 0; compress <= 1; compress++) {
    scratch_path(images, sizeof images, "images.idx");
    scratch_path(labels, sizeof labels, "labels.idx");
    write_idx_pair(images, labels, compress);
    lb_dataset *ds = NULL;
    assert_int_equal(lb_dataset_load_idx(images, labels, &ds), LB_OK);
    check_idx_dataset(ds);
    assert_null(lb_dataset_sample_path(ds, 0));
    assert_int_equal(lb_dataset_skipped_files(ds), 0);
    lb_dataset_free(ds);
    unlink(images);
    unlink(labels);
  }
}

/* Writes `bytes` as the image file next to a good label file and expects
 * the load to fail with `status` and a message holding `fragment`. */
static void expect_bad_images(const uint8_t *bytes, size_t size, int compress,
                              lb_status status, const char *fragment) {
  char images[512], labels[512];
  scratch_path(images, sizeof images, "bad-images.idx");
  scratch_path(labels, sizeof labels, "good-labels.idx");
  uint8_t label_file[64];
  const uint32_t label_sizes[1] = {IMAGES};
  write_file(labels, label_file,
             idx_bytes(label_file, 1, label_sizes, label_payload, IMAGES), 0);
  write_file(images, bytes, size, compress);
  lb_dataset *ds = (lb_dataset *)1;
  assert_fails_with(lb_dataset_load_idx(images, labels, &ds), status,
                    fragment);
  assert_null(ds);
  if (strstr(lb_last_error(), "bad-images.idx") == NULL &&
      strstr(lb_last_error(), "good-labels.idx") == NULL)
    fail_msg("the message \"%s\" names no file", lb_last_error());
  unlink(images);
  unlink(labels);
}

static void test_idx_malformed(void **state) {
  (void)state;
  uint8_t pixels[PIXELS], good[256], bad[256];
  image_payload(pixels);
  const uint32_t sizes[3] = {IMAGES, ROWS, COLS};
  size_t good_size = idx_bytes(good, 3, sizes, pixels, PIXELS);

  memcpy(bad, good, good_size);
  bad[3] = 1; /* a label file's magic */
  expect_bad_images(bad, good_size, 0, LB_EFORMAT, "magic number 0x00000801");
  memcpy(bad, good, good_size);
  bad[2] = 0x0D; /* float elements */
  expect_bad_images(bad, good_size, 1, LB_EFORMAT, "magic number 0x00000d03");
  for (size_t cut = 0; cut < good_size; cut += 7)
    expect_bad_images(good, cut, 0, LB_EFORMAT, "bad-images.idx");
  for (size_t cut = 0; cut < good_size; cut += 11)
    expect_bad_images(good, cut, 1, LB_EFORMAT, "bad-images.idx");
  expect_bad_images(good, good_size - 1, 0, LB_EFORMAT,
                    "holds 59 element bytes; its header declares 60");
  memcpy(bad, good, good_size);
  bad[good_size] = 0;
  expect_bad_images(bad, good_size + 1, 1, LB_EFORMAT, "more bytes");
  const uint32_t zero[3] = {IMAGES, 0, COLS};
  expect_bad_images(bad, idx_bytes(bad, 3, zero, pixels, 0), 0, LB_EFORMAT,
                    "dimension 1 of size 0");
  /* A header that claims 2^31 x 2^31 x 2^31 bytes is refused before any
   * allocation; one that claims 10^9 is found short without allocating
   * 10^9 bytes first. */
  const uint32_t huge[3] = {0x7fffffff, 0x7fffffff, 0x7fffffff};
  expect_bad_images(bad, idx_bytes(bad, 3, huge, pixels, PIXELS), 0,
                    LB_EFORMAT, "declares more than");
  const uint32_t billion[3] = {1000, 1000, 1000};
  expect_bad_images(bad, idx_bytes(bad, 3, billion, pixels, PIXELS), 1,
                    LB_EFORMAT, "holds 60 element bytes");
  const uint32_t six[3] = {6, ROWS, COLS};
  uint8_t more_pixels[72] = {0};
  expect_bad_images(bad, idx_bytes(bad, 3, six, more_pixels, 72), 0,
                    LB_EFORMAT, "holds 6 images but");

  /* Corrupt compressed data: flip bytes inside the deflate stream. */
  char path[512];
  scratch_path(path, sizeof path, "squeezed.gz");
  write_file(path, good, good_size, 1);
  uint8_t squeezed[512];
  FILE *f = fopen(path, "rb");
  size_t squeezed_size = fread(squeezed, 1, sizeof squeezed, f);
  fclose(f);
  unlink(path);
  for (size_t i = 12; i + 8 < squeezed_size; i += 5)
    squeezed[i] ^= 0x5a;
  expect_bad_images(squeezed, squeezed_size, 0, LB_EFORMAT, "bad-images.idx");
}

static void test_idx_unreadable(void **state) {
  (void)state;
  char images[512], labels[512];
  scratch_path(images, sizeof images, "images.idx");
  scratch_path(labels, sizeof labels, "labels.idx");
  write_idx_pair(images, labels, 0);
  lb_dataset *ds = NULL;
  char missing[512];
  scratch_path(missing, sizeof missing, "missing.idx");
  assert_fails_with(lb_dataset_load_idx(missing, labels, &ds), LB_EIO,
                    "missing.idx");
  assert_fails_with(lb_dataset_load_idx(images, missing, &ds), LB_EIO,
                    "missing.idx");
  assert_fails_with(lb_dataset_load_idx(scratch_dir, labels, &ds), LB_EIO,
                    scratch_dir);
  /* Labels passed as images and the other way round. */
  assert_fails_with(lb_dataset_load_idx(labels, images, &ds), LB_EFORMAT,
                    "magic number");
  assert_fails_with(lb_dataset_load_idx(NULL, labels, &ds), LB_EINVAL,
                    "images_path is NULL");
  assert_fails_with(lb_dataset_load_idx(images, NULL, &ds), LB_EINVAL,
                    "labels_path is NULL");
  assert_fails_with(lb_dataset_load_idx(images, labels, NULL), LB_EINVAL,
                    "out is NULL");
  assert_each_allocation_failure_is_clean(
      status_ = lb_dataset_load_idx(images, labels, &ds),
      lb_dataset_free(ds));
  unlink(images);
  unlink(labels);
}

/* A Fashion-MNIST directory of 10-class IDX files: train gzip, test plain. */
static void write_fashion_directory(const char *dir, uint8_t largest_label) {
  make_directory(dir);
  uint8_t pixels[20 * 28 * 28], labels[20], bytes[20 * 28 * 28 + 64];
  for (int i = 0; i < 20; i++)
    labels[i] = (uint8_t)(i % 10);
  labels[19] = largest_label;
  memset(pixels, 7, sizeof pixels);
  const uint32_t image_sizes[3] = {20, 28, 28}, label_sizes[1] = {20};
  const char *names[4] = {"train-images-idx3-ubyte.gz",
                          "train-labels-idx1-ubyte.gz",
                          "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  for (int k = 0; k < 4; k++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, names[k]);
    size_t size = k % 2 == 0
                      ? idx_bytes(bytes, 3, image_sizes, pixels, sizeof pixels)
                      : idx_bytes(bytes, 1, label_sizes, labels, 20);
    write_file(path, bytes, size, k < 2);
  }
}

static void test_fashion_mnist_layout(void **state) {
  (void)state;
  char dir[512];
  scratch_path(dir, sizeof dir, "fashion");
  write_fashion_directory(dir, 9);
  for (int train = 0; train <= 1; train++) {
    lb_dataset *ds = NULL;
    assert_int_equal(lb_dataset_load_fashion_mnist(dir, train, &ds), LB_OK);
    assert_int_equal(lb_dataset_size(ds), 20);
    assert_int_equal(lb_dataset_num_classes(ds), 10);
    assert_string_equal(lb_dataset_class_name(ds, 0), "T-shirt/top");
    assert_string_equal(lb_dataset_class_name(ds, 9), "Ankle boot");
    assert_null(lb_dataset_class_name(ds, 10));
    assert_null(lb_dataset_class_name(ds, -1));
    lb_dataset_free(ds);
  }
  remove_tree(dir);
  write_fashion_directory(dir, 12);
  lb_dataset *ds = NULL;
  assert_fails_with(lb_dataset_load_fashion_mnist(dir, 1, &ds), LB_EFORMAT,
                    "labels are 0 to 9");
  assert_null(ds);
  remove_tree(dir);
  assert_fails_with(lb_dataset_load_fashion_mnist(dir, 1, &ds), LB_EIO,
                    "fashion/train-images-idx3-ubyte.gz");
  assert_null(strstr(lb_last_error(), "apt-get"));
  assert_fails_with(lb_dataset_load_fashion_mnist(dir, 1, NULL), LB_EINVAL,
                    "out is NULL");
}

/* The real data, when Debian's dataset-fashion-mnist is installed. */
static void test_fashion_mnist_installed(void **state) {
  (void)state;
  lb_dataset *ds = NULL;
  lb_status status = lb_dataset_load_fashion_mnist(NULL, 1, &ds);
  if (status == LB_EIO) {
    assert_non_null(strstr(lb_last_error(), "dataset-fashion-mnist"));
    skip();
  }
  assert_int_equal(status, LB_OK);
  assert_int_equal(lb_dataset_size(ds), 60000);
  int64_t counts[10];
  assert_int_equal(lb_dataset_class_counts(ds, counts, 10), LB_OK);
  for (int k = 0; k < 10; k++)
    assert_int_equal(counts[k], 6000);
  assert_int_equal(lb_dataset_labels(ds)[0], 9); /* an ankle boot */
  lb_dataset_free(ds);
  assert_int_equal(lb_dataset_load_fashion_mnist(NULL, 0, &ds), LB_OK);
  assert_int_equal(lb_dataset_size(ds), 10000);
  lb_dataset_free(ds);
}

/* ---- datasets in memory and batches --------------------------------------- */

enum { SAMPLES = 40, CH = 2, H = 5, W = 6, SAMPLE = CH * H * W };

static lb_dataset *memory_dataset(void) {
  static uint8_t samples[SAMPLES * SAMPLE];
  int32_t labels[SAMPLES];
  for (int i = 0; i < SAMPLES * SAMPLE; i++)
    samples[i] = (uint8_t)((i * 89 + 3) % 256);
  for (int i = 0; i < SAMPLES; i++)
    labels[i] = i % 3;
  lb_dataset *ds = NULL;
  assert_int_equal(lb_dataset_from_memory(samples, labels, SAMPLES, CH, H, W,
                                          3, &ds), LB_OK);
  return ds;
}

static uint8_t stored(int sample, int c, int y, int x) {
  int i = sample * SAMPLE + (c * H + y) * W + x;
  return (uint8_t)((i * 89 + 3) % 256);
}

static lb_tensor *batch_tensor(int64_t n) {
  int64_t shape[4] = {n, CH, H, W};
  lb_tensor *t = NULL;
  assert_int_equal(lb_tensor_create(4, shape, &t), LB_OK);
  return t;
}

static void test_batch_normalises(void **state) {
  (void)state;
  lb_dataset *ds = memory_dataset();
  const float mean[CH] = {0.5f, 0.25f}, std[CH] = {0.2f, 0.5f};
  assert_int_equal(lb_dataset_set_normalization(ds, mean, std, CH), LB_OK);
  int64_t indices[3] = {7, 0, 39};
  int32_t labels[3];
  lb_tensor *t = batch_tensor(3);
  assert_int_equal(lb_dataset_batch(ds, indices, 3, NULL, 0, t, labels),
                   LB_OK);
  assert_memory_equal(labels, ((int32_t[]){1, 0, 0}), sizeof labels);
  const float *v = lb_tensor_data(t);
  for (int b = 0; b < 3; b++)
    for (int c = 0; c < CH; c++)
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
          float expected =
              (stored((int)indices[b], c, y, x) / 255.0f - mean[c]) / std[c];
          assert_float_equal(v[((b * CH + c) * H + y) * W + x], expected,
                             1e-6);
        }
  lb_tensor_free(t);
  lb_dataset_free(ds);
}

static void test_channel_stats(void **state) {
  (void)state;
  lb_dataset *ds = memory_dataset();
  float mean[CH], std[CH];
  int64_t picked[2] = {3, 11};
  assert_int_equal(lb_dataset_channel_stats(ds, picked, 2, mean, std, CH),
                   LB_OK);
  for (int c = 0; c < CH; c++) {
    double sum = 0, squares = 0;
    for (int k = 0; k < 2; k++)
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
          double value = stored((int)picked[k], c, y, x) / 255.0;
          sum += value;
          squares += value * value;
        }
    double m = sum / (2 * H * W);
    assert_float_equal(mean[c], m, 1e-6);
    assert_float_equal(std[c], sqrt(squares / (2 * H * W) - m * m), 1e-6);
  }
  assert_int_equal(lb_dataset_channel_stats(ds, NULL, 0, mean, std, CH),
                   LB_OK);
  assert_true(mean[0] > 0.3 && mean[0] < 0.7);
  assert_fails_with(lb_dataset_channel_stats(ds, picked, 0, mean, std, CH),
                    LB_EINVAL, "no samples");
  picked[1] = 40;
  assert_fails_with(lb_dataset_channel_stats(ds, picked, 2, mean, std, CH),
                    LB_EINVAL, "indices[1] = 40");
  assert_fails_with(lb_dataset_channel_stats(ds, NULL, 0, mean, std, 3),
                    LB_EINVAL, "3 values");
  assert_fails_with(lb_dataset_channel_stats(NULL, NULL, 0, mean, std, CH),
                    LB_EINVAL, "ds is NULL");
  lb_dataset_free(ds);
}

/* True when image (one sample of the batch) equals sample `index` cropped
 * at (dy, dx) relative to the unpadded image, then mirrored when `flip`. */
static int matches_crop(const float *image, int index, int dy, int dx,
                        int flip) {
  for (int c = 0; c < CH; c++)
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++) {
        int sy = y + dy, sx = (flip ? W - 1 - x : x) + dx;
        float expected = sy >= 0 && sy < H && sx >= 0 && sx < W
                             ? stored(index, c, sy, sx) / 255.0f
                             : 0.0f;
        if (fabsf(image[(c * H + y) * W + x] - expected) > 1e-6f)
          return 0;
      }
  return 1;
}

static void test_batch_augmentation(void **state) {
  (void)state;
  lb_dataset *ds = memory_dataset();
  enum { N = 400, PAD = 2, OFFSETS = 2 * PAD + 1 };
  int64_t indices[N];
  for (int i = 0; i < N; i++)
    indices[i] = (i * 7) % SAMPLES;
  lb_augment augment = {PAD, 1};
  lb_tensor *a = batch_tensor(N), *b = batch_tensor(N), *c = batch_tensor(N);
  assert_int_equal(lb_dataset_batch(ds, indices, N, &augment, 99, a, NULL),
                   LB_OK);
  /* Every image is one of the allowed crops; every crop and flip occurs. */
  int seen[OFFSETS][OFFSETS][2] = {{{0}}};
  for (int i = 0; i < N; i++) {
    const float *image = lb_tensor_data(a) + (int64_t)i * SAMPLE;
    int found = 0;
    for (int dy = -PAD; dy <= PAD && !found; dy++)
      for (int dx = -PAD; dx <= PAD && !found; dx++)
        for (int flip = 0; flip <= 1 && !found; flip++)
          if (matches_crop(image, (int)indices[i], dy, dx, flip)) {
            seen[dy + PAD][dx + PAD][flip]++;
            found = 1;
          }
    assert_true(found);
  }
  for (int dy = 0; dy < OFFSETS; dy++)
    for (int dx = 0; dx < OFFSETS; dx++)
      for (int flip = 0; flip <= 1; flip++)
        assert_true(seen[dy][dx][flip] > 0);
  /* Reproducible whatever the thread count; another seed differs. */
  int32_t threads = lb_get_num_threads();
  assert_int_equal(lb_set_num_threads(3), LB_OK);
  assert_int_equal(lb_dataset_batch(ds, indices, N, &augment, 99, b, NULL),
                   LB_OK);
  assert_int_equal(lb_set_num_threads(1), LB_OK);
  assert_int_equal(lb_dataset_batch(ds, indices, N, &augment, 100, c, NULL),
                   LB_OK);
  assert_int_equal(lb_set_num_threads(threads), LB_OK);
  assert_memory_equal(lb_tensor_data(a), lb_tensor_data(b),
                      (size_t)N * SAMPLE * sizeof(float));
  assert_memory_not_equal(lb_tensor_data(a), lb_tensor_data(c),
                          (size_t)N * SAMPLE * sizeof(float));
  /* Flip alone never moves rows; a zero augment changes nothing. */
  lb_augment flip_only = {0, 1}, nothing = {0, 0};
  assert_int_equal(lb_dataset_batch(ds, indices, N, &flip_only, 5, b, NULL),
                   LB_OK);
  assert_int_equal(lb_dataset_batch(ds, indices, N, &nothing, 5, c, NULL),
                   LB_OK);
  for (int i = 0; i < N; i++) {
    const float *image = lb_tensor_data(b) + (int64_t)i * SAMPLE;
    assert_true(matches_crop(image, (int)indices[i], 0, 0, 0) ||
                matches_crop(image, (int)indices[i], 0, 0, 1));
    assert_true(matches_crop(lb_tensor_data(c) + (int64_t)i * SAMPLE,
                             (int)indices[i], 0, 0, 0));
  }
  lb_tensor_free(a);
  lb_tensor_free(b);
  lb_tensor_free(c);
  lb_dataset_free(ds);
}

static void test_dataset_bad_arguments(void **state) {
  (void)state;
  lb_dataset *ds = memory_dataset();
  lb_tensor *t = batch_tensor(2);
  int64_t indices[2] = {0, 40};
  assert_fails_with(lb_dataset_batch(ds, indices, 2, NULL, 0, t, NULL),
                    LB_EINVAL, "indices[1] = 40");
  indices[1] = -1;
  assert_fails_with(lb_dataset_batch(ds, indices, 2, NULL, 0, t, NULL),
                    LB_EINVAL, "indices[1] = -1");
  indices[1] = 1;
  assert_fails_with(lb_dataset_batch(ds, indices, 1, NULL, 0, t, NULL),
                    LB_EINVAL, "images has 120 elements");
  assert_fails_with(lb_dataset_batch(ds, indices, 0, NULL, 0, t, NULL),
                    LB_EINVAL, "count = 0");
  lb_augment too_far = {1025, 0};
  assert_fails_with(lb_dataset_batch(ds, indices, 2, &too_far, 0, t, NULL),
                    LB_EINVAL, "crop_padding = 1025");
  assert_fails_with(lb_dataset_batch(NULL, indices, 2, NULL, 0, t, NULL),
                    LB_EINVAL, "ds is NULL");
  assert_fails_with(lb_dataset_batch(ds, NULL, 2, NULL, 0, t, NULL),
                    LB_EINVAL, "indices is NULL");
  assert_fails_with(lb_dataset_batch(ds, indices, 2, NULL, 0, NULL, NULL),
                    LB_EINVAL, "images is NULL");

  const float mean[CH] = {0, 0};
  float std[CH] = {1, 0};
  assert_fails_with(lb_dataset_set_normalization(ds, mean, std, CH),
                    LB_EINVAL, "std[1] = 0");
  std[1] = INFINITY;
  assert_fails_with(lb_dataset_set_normalization(ds, mean, std, CH),
                    LB_ENONFINITE, "std[1]");
  std[1] = 1e-42f; /* positive, but 1 / (255 std) is infinite */
  assert_fails_with(lb_dataset_set_normalization(ds, mean, std, CH),
                    LB_EINVAL, "too small");
  assert_fails_with(lb_dataset_batch(ds, indices, INT64_MAX / 2, NULL, 0, t,
                                     NULL),
                    LB_EINVAL, "more floats than a tensor holds");
  assert_fails_with(lb_dataset_set_normalization(ds, mean, std, 1),
                    LB_EINVAL, "1 values given");
  assert_fails_with(lb_dataset_set_normalization(NULL, mean, std, CH),
                    LB_EINVAL, "ds is NULL");

  int64_t counts[3];
  assert_fails_with(lb_dataset_class_counts(ds, counts, 2), LB_EINVAL,
                    "capacity 2");
  assert_fails_with(lb_dataset_class_counts(ds, NULL, 3), LB_EINVAL,
                    "counts is NULL");
  assert_fails_with(lb_dataset_sample_shape(NULL, NULL, NULL, NULL),
                    LB_EINVAL, "ds is NULL");
  assert_int_equal(lb_dataset_size(NULL), 0);
  assert_int_equal(lb_dataset_num_classes(NULL), 0);
  assert_null(lb_dataset_labels(NULL));
  assert_null(lb_dataset_class_name(NULL, 0));
  assert_int_equal(lb_dataset_skipped_files(NULL), 0);
  assert_null(lb_dataset_sample_path(NULL, 0));
  lb_dataset_free(NULL);

  uint8_t samples[4] = {0};
  int32_t labels[2] = {0, 2};
  lb_dataset *other = NULL;
  assert_fails_with(lb_dataset_from_memory(samples, labels, 2, 1, 1, 2, 2,
                                           &other),
                    LB_EINVAL, "labels[1] = 2");
  assert_fails_with(lb_dataset_from_memory(samples, labels, 2, 1, 0, 2, 3,
                                           &other),
                    LB_EINVAL, "dimension below 1");
  assert_fails_with(lb_dataset_from_memory(samples, labels, 0, 1, 1, 2, 3,
                                           &other),
                    LB_EINVAL, "count = 0");
  assert_fails_with(lb_dataset_from_memory(samples, labels, 2, 1, 1, 2, 0,
                                           &other),
                    LB_EINVAL, "num_classes = 0");
  assert_fails_with(lb_dataset_from_memory(samples, labels, 2, 65536, 65536,
                                           65536, 3, &other),
                    LB_EINVAL, "too large");
  assert_fails_with(lb_dataset_from_memory(NULL, labels, 2, 1, 1, 2, 3,
                                           &other),
                    LB_EINVAL, "samples is NULL");
  assert_null(other);
  assert_each_allocation_failure_is_clean(
      status_ = lb_dataset_from_memory(samples, labels, 2, 1, 1, 2, 3,
                                       &other),
      lb_dataset_free(other));
  lb_tensor_free(t);
  lb_dataset_free(ds);
}

/* ---- image folders -------------------------------------------------------- */

/* A gray gradient image of w x h, brightness shifted by `tone`. */
static void gray_pixels(uint8_t *pixels, int w, int h, int tone) {
  for (int i = 0; i < w * h; i++)
    pixels[i] = (uint8_t)((i * 13 + tone) % 256);
}

static void folder_file(const char *root, const char *class_name,
                        const char *file, char *out, size_t capacity) {
  snprintf(out, capacity, "%s/%s/%s", root, class_name, file);
}

/* root/a_cat/{1.png (gray 8x6), 2.png (really a JPEG, RGB 8x6)},
 * root/b_dog/{x.png (gray 8x6), y.png (gray 5x5)}, plus entries that must
 * be ignored: a hidden file, a file in root, a hidden directory. */
static void write_small_folder(const char *root) {
  make_directory(root);
  char path[1024];
  snprintf(path, sizeof path, "%s/b_dog", root);
  make_directory(path);
  snprintf(path, sizeof path, "%s/a_cat", root);
  make_directory(path);
  snprintf(path, sizeof path, "%s/.hidden", root);
  make_directory(path);
  uint8_t gray[48], colour[144];
  gray_pixels(gray, 8, 6, 0);
  folder_file(root, "a_cat", "1.png", path, sizeof path);
  assert_int_equal(lbt_write_png(path, gray, 8, 6, 1, 8), 0);
  for (int i = 0; i < 144; i++)
    colour[i] = (uint8_t)(i * 5);
  folder_file(root, "a_cat", "2.png", path, sizeof path);
  assert_int_equal(lbt_write_jpeg(path, colour, 8, 6, 3, 95), 0);
  gray_pixels(gray, 8, 6, 100);
  folder_file(root, "b_dog", "x.png", path, sizeof path);
  assert_int_equal(lbt_write_png(path, gray, 8, 6, 1, 8), 0);
  gray_pixels(gray, 5, 5, 50);
  folder_file(root, "b_dog", "y.png", path, sizeof path);
  assert_int_equal(lbt_write_png(path, gray, 5, 5, 1, 8), 0);
  folder_file(root, "b_dog", ".DS_Store", path, sizeof path);
  assert_int_equal(lbt_write_bytes(path, "junk", 4), 0);
  snprintf(path, sizeof path, "%s/README.txt", root);
  assert_int_equal(lbt_write_bytes(path, "not a class", 11), 0);
}

static void test_folder_defaults(void **state) {
  (void)state;
  char root[512];
  scratch_path(root, sizeof root, "folder");
  write_small_folder(root);
  lb_dataset *ds = NULL;
  assert_int_equal(lb_dataset_load_folder(root, NULL, &ds), LB_OK);
  assert_int_equal(lb_dataset_size(ds), 4);
  assert_int_equal(lb_dataset_num_classes(ds), 2);
  assert_string_equal(lb_dataset_class_name(ds, 0), "a_cat");
  assert_string_equal(lb_dataset_class_name(ds, 1), "b_dog");
  assert_memory_equal(lb_dataset_labels(ds), ((int32_t[]){0, 0, 1, 1}),
                      4 * sizeof(int32_t));
  /* Three of four images are gray and 8x6. */
  int32_t c = 0, h = 0, w = 0;
  assert_int_equal(lb_dataset_sample_shape(ds, &c, &h, &w), LB_OK);
  assert_int_equal(c, 1);
  assert_int_equal(h, 6);
  assert_int_equal(w, 8);
  char expected[1024];
  folder_file(root, "b_dog", "y.png", expected, sizeof expected);
  assert_string_equal(lb_dataset_sample_path(ds, 3), expected);
  assert_null(lb_dataset_sample_path(ds, 4));
  /* An 8x6 gray PNG arrives unchanged. */
  float *values = all_samples(ds);
  uint8_t gray[48];
  gray_pixels(gray, 8, 6, 0);
  for (int i = 0; i < 48; i++)
    assert_float_equal(values[i], gray[i] / 255.0f, 1e-7);
  /* The resized 5x5 image equals the decoder's own resize, rounded. */
  lb_tensor *resized = NULL;
  assert_int_equal(lb_image_decode_file(expected, 1, 6, 8, &resized), LB_OK);
  for (int i = 0; i < 48; i++)
    assert_float_equal(values[3 * 48 + i],
                       roundf(lb_tensor_data(resized)[i] * 255.0f) / 255.0f,
                       1e-6);
  lb_tensor_free(resized);
  free(values);
  lb_dataset_free(ds);

  lb_folder_options options = lb_folder_options_default();
  options.channels = 3;
  options.height = 4;
  options.width = 3;
  assert_int_equal(lb_dataset_load_folder(root, &options, &ds), LB_OK);
  assert_int_equal(lb_dataset_sample_shape(ds, &c, &h, &w), LB_OK);
  assert_int_equal(c * 100 + h * 10 + w, 343);
  values = all_samples(ds);
  /* A gray image made colour has three equal planes. */
  assert_memory_equal(values, values + 12, 12 * sizeof(float));
  assert_memory_equal(values, values + 24, 12 * sizeof(float));
  free(values);
  lb_dataset_free(ds);
  remove_tree(root);
}

static void test_folder_same_with_any_thread_count(void **state) {
  (void)state;
  char root[512], path[1024];
  scratch_path(root, sizeof root, "many");
  make_directory(root);
  for (int k = 0; k < 3; k++) {
    snprintf(path, sizeof path, "%s/class%d", root, k);
    make_directory(path);
    for (int i = 0; i < 9; i++) {
      uint8_t pixels[10 * 7 * 3];
      for (int p = 0; p < 210; p++)
        pixels[p] = (uint8_t)(p * (i + 1) + k * 40);
      snprintf(path, sizeof path, "%s/class%d/img%02d", root, k, i);
      if (i % 2)
        assert_int_equal(lbt_write_png(path, pixels, 10, 7, 3, 8), 0);
      else
        assert_int_equal(lbt_write_jpeg(path, pixels, 10, 7, 3, 90), 0);
    }
  }
  int32_t threads = lb_get_num_threads();
  lb_folder_options options = lb_folder_options_default();
  options.height = 5;
  options.width = 5;
  lb_dataset *one = NULL, *three = NULL;
  assert_int_equal(lb_set_num_threads(1), LB_OK);
  assert_int_equal(lb_dataset_load_folder(root, &options, &one), LB_OK);
  assert_int_equal(lb_set_num_threads(3), LB_OK);
  assert_int_equal(lb_dataset_load_folder(root, &options, &three), LB_OK);
  assert_int_equal(lb_set_num_threads(threads), LB_OK);
  assert_int_equal(lb_dataset_size(one), 27);
  float *a = all_samples(one), *b = all_samples(three);
  assert_memory_equal(a, b, 27 * 3 * 25 * sizeof(float));
  free(a);
  free(b);
  lb_dataset_free(one);
  lb_dataset_free(three);
  remove_tree(root);
}

/* Adds a bad file to class b_dog of the small folder, then expects the load
 * to fail naming it, and a skipping load to leave it out. */
static void expect_bad_file_handled(const char *name, const void *bytes,
                                    size_t size, lb_status status) {
  char root[512], path[1024];
  scratch_path(root, sizeof root, "bad");
  write_small_folder(root);
  folder_file(root, "b_dog", name, path, sizeof path);
  if (bytes)
    assert_int_equal(lbt_write_bytes(path, bytes, size), 0);
  else
    assert_int_equal(symlink("/nonexistent/lossbal", path), 0);
  lb_dataset *ds = NULL;
  assert_fails_with(lb_dataset_load_folder(root, NULL, &ds), status, path);
  assert_null(ds);
  lb_folder_options options = lb_folder_options_default();
  options.height = 6;
  options.width = 8;
  assert_fails_with(lb_dataset_load_folder(root, &options, &ds), status,
                    path);
  for (int explicit_shape = 0; explicit_shape <= 1; explicit_shape++) {
    options.height = explicit_shape ? 6 : 0;
    options.width = explicit_shape ? 8 : 0;
    options.skip_bad_files = 1;
    assert_int_equal(lb_dataset_load_folder(root, &options, &ds), LB_OK);
    assert_int_equal(lb_dataset_size(ds), 4);
    assert_int_equal(lb_dataset_skipped_files(ds), 1);
    lb_dataset_free(ds);
  }
  remove_tree(root);
}

static void test_folder_bad_files(void **state) {
  (void)state;
  expect_bad_file_handled("notes.txt", "just some text\n", 15, LB_EFORMAT);
  expect_bad_file_handled("empty.png", "", 0, LB_EFORMAT);
  uint8_t gray[48] = {0}, *png = NULL, *jpeg = NULL;
  size_t png_size = 0, jpeg_size = 0;
  assert_int_equal(lbt_png_memory(gray, 8, 6, 1, 8, 0, &png, &png_size), 0);
  assert_int_equal(lbt_jpeg_memory(gray, 8, 6, 1, 90, 0, &jpeg, &jpeg_size),
                   0);
  expect_bad_file_handled("cut.png", png, png_size / 2, LB_EFORMAT);
  expect_bad_file_handled("cut.jpg", jpeg, jpeg_size - 20, LB_EFORMAT);
  free(png);
  free(jpeg);
  expect_bad_file_handled("dangling.png", NULL, 0, LB_EIO);
}

static void test_folder_bad_layouts(void **state) {
  (void)state;
  char root[512], path[1024];
  lb_dataset *ds = NULL;
  scratch_path(root, sizeof root, "layouts");
  assert_fails_with(lb_dataset_load_folder(root, NULL, &ds), LB_EIO, root);
  make_directory(root);
  assert_fails_with(lb_dataset_load_folder(root, NULL, &ds), LB_EFORMAT,
                    "holds no class directory");
  snprintf(path, sizeof path, "%s/empty", root);
  make_directory(path);
  assert_fails_with(lb_dataset_load_folder(root, NULL, &ds), LB_EFORMAT,
                    "holds no file");
  snprintf(path, sizeof path, "%s/empty/bad.png", root);
  assert_int_equal(lbt_write_bytes(path, "xx", 2), 0);
  lb_folder_options options = lb_folder_options_default();
  options.skip_bad_files = 1;
  assert_fails_with(lb_dataset_load_folder(root, &options, &ds), LB_EFORMAT,
                    "holds no image that can be read");
  assert_null(ds);
  remove_tree(root);

  options = lb_folder_options_default();
  options.channels = 2;
  assert_fails_with(lb_dataset_load_folder(root, &options, &ds), LB_EINVAL,
                    "channels = 2");
  options = lb_folder_options_default();
  options.height = 4;
  assert_fails_with(lb_dataset_load_folder(root, &options, &ds), LB_EINVAL,
                    "set both or neither");
  options.width = 70000;
  options.height = 70000;
  assert_fails_with(lb_dataset_load_folder(root, &options, &ds), LB_EINVAL,
                    "must be 1 to 65535");
  options.width = 17000;
  options.height = 17000;
  assert_fails_with(lb_dataset_load_folder(root, &options, &ds), LB_EINVAL,
                    "LB_IMAGE_MAX_PIXELS");
  options = lb_folder_options_default();
  options.struct_size = 8;
  assert_fails_with(lb_dataset_load_folder(root, &options, &ds), LB_EINVAL,
                    "struct_size");
  assert_fails_with(lb_dataset_load_folder(NULL, NULL, &ds), LB_EINVAL,
                    "root is NULL");
  assert_fails_with(lb_dataset_load_folder(root, NULL, NULL), LB_EINVAL,
                    "out is NULL");
}

static void test_folder_allocation_failures(void **state) {
  (void)state;
  char root[512];
  scratch_path(root, sizeof root, "oom");
  write_small_folder(root);
  int32_t threads = lb_get_num_threads();
  /* One thread, so allocations happen in a fixed order. */
  assert_int_equal(lb_set_num_threads(1), LB_OK);
  lb_dataset *ds = NULL;
  assert_each_allocation_failure_is_clean(
      status_ = lb_dataset_load_folder(root, NULL, &ds), lb_dataset_free(ds));
  assert_int_equal(lb_set_num_threads(threads), LB_OK);
  remove_tree(root);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_idx_plain_and_gzip),
      cmocka_unit_test(test_idx_malformed),
      cmocka_unit_test(test_idx_unreadable),
      cmocka_unit_test(test_fashion_mnist_layout),
      cmocka_unit_test(test_fashion_mnist_installed),
      cmocka_unit_test(test_batch_normalises),
      cmocka_unit_test(test_channel_stats),
      cmocka_unit_test(test_batch_augmentation),
      cmocka_unit_test(test_dataset_bad_arguments),
      cmocka_unit_test(test_folder_defaults),
      cmocka_unit_test(test_folder_same_with_any_thread_count),
      cmocka_unit_test(test_folder_bad_files),
      cmocka_unit_test(test_folder_bad_layouts),
      cmocka_unit_test(test_folder_allocation_failures),
  };
  return cmocka_run_group_tests(tests, make_scratch, remove_scratch);
}
