/* Tests of lossbal-train (examples/train) as a user runs it: --help, bad
 * flags, missing data and impossible profiles (one line on stderr, exit
 * 2), a small comparison on a generated MNIST-format dataset with its JSON
 * and plots, resuming from a checkpoint exactly, and Ctrl-C leaving a
 * resumable checkpoint. The program's path comes from CMake
 * (LOSSBAL_TRAIN_PROGRAM). */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "image_writer.h"
#include "test_scratch.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- running the program -------------------------------------------------- */

typedef struct run_output {
  int exit_code; /* 128 + signal when killed by one */
  char out[65536];
  char err[65536];
} run_output;

static void read_all(const char *path, char *text, size_t capacity) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  size_t n = fread(text, 1, capacity - 1, f);
  text[n] = '\0';
  fclose(f);
}

/* Starts lossbal-train with the NULL-terminated arguments, its output going
 * to files in the scratch directory. */
static pid_t start(const char *const *args) {
  char out_path[512], err_path[512];
  scratch_path(out_path, sizeof out_path, "stdout.txt");
  scratch_path(err_path, sizeof err_path, "stderr.txt");
  const char *argv[64];
  size_t argc = 0;
  argv[argc++] = LOSSBAL_TRAIN_PROGRAM;
  for (; args[argc - 1] && argc < 63; argc++)
    argv[argc] = args[argc - 1];
  argv[argc] = NULL;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0)
      _exit(99);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    execv(argv[0], (char *const *)argv);
    _exit(98);
  }
  return pid;
}

static void finish(pid_t pid, run_output *r) {
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status)
                                   : 128 + WTERMSIG(status);
  char out_path[512], err_path[512];
  scratch_path(out_path, sizeof out_path, "stdout.txt");
  scratch_path(err_path, sizeof err_path, "stderr.txt");
  read_all(out_path, r->out, sizeof r->out);
  read_all(err_path, r->err, sizeof r->err);
  unlink(out_path);
  unlink(err_path);
}

static run_output *run(const char *const *args) {
  static run_output r;
  finish(start(args), &r);
  return &r;
}

static int count_lines(const char *text) {
  int lines = 0;
  for (; *text; text++)
    lines += *text == '\n';
  return lines;
}

/* A usage problem: exit 2 and one line on stderr that holds `fragment`. */
static void expect_usage_error(const char *const *args, const char *fragment) {
  run_output *r = run(args);
  if (r->exit_code != 2 || !strstr(r->err, fragment) ||
      count_lines(r->err) != 1)
    fail_msg("exit %d, stderr \"%s\"; expected exit 2 and one line with "
             "\"%s\"", r->exit_code, r->err, fragment);
}

/* ---- a small MNIST-format dataset ----------------------------------------- */

enum { CLASSES = 3, PER_CLASS = 40, SIDE = 8 };

static void write_idx(const char *path, const uint8_t *header, size_t h,
                      const uint8_t *body, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(header, 1, h, f), h);
  assert_int_equal(fwrite(body, 1, n, f), n);
  fclose(f);
}

/* Class k is a bright horizontal band at rows 2k..2k+2 with some noise, so
 * a tiny network can learn it in a few epochs. */
static void write_split(const char *dir, const char *prefix, uint32_t seed) {
  enum { COUNT = CLASSES * PER_CLASS };
  static uint8_t pixels[COUNT * SIDE * SIDE];
  uint8_t labels[COUNT];
  uint32_t state = seed;
  for (int i = 0; i < COUNT; i++) {
    labels[i] = (uint8_t)(i % CLASSES);
    for (int p = 0; p < SIDE * SIDE; p++) {
      state = state * 1664525u + 1013904223u;
      int row = p / SIDE, band = 2 * labels[i];
      int bright = row >= band && row <= band + 2;
      pixels[i * SIDE * SIDE + p] = (uint8_t)((bright ? 180 : 20) +
                                              (state >> 26));
    }
  }
  uint8_t image_header[16] = {0, 0, 8, 3, 0, 0, 0, COUNT,
                              0, 0, 0, SIDE, 0, 0, 0, SIDE};
  uint8_t label_header[8] = {0, 0, 8, 1, 0, 0, 0, COUNT};
  char path[1024];
  snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
  write_idx(path, image_header, 16, pixels, sizeof pixels);
  snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
  write_idx(path, label_header, 8, labels, sizeof labels);
}

static char data_flag[600];

static int make_data(void **state) {
  if (make_scratch(state))
    return -1;
  char dir[512];
  scratch_path(dir, sizeof dir, "mnist");
  if (mkdir(dir, 0755))
    return -1;
  write_split(dir, "train", 1);
  write_split(dir, "t10k", 2);
  snprintf(data_flag, sizeof data_flag, "--data=mnist:%s", dir);
  return 0;
}

static void remove_in_scratch(const char *name) {
  char path[512];
  scratch_path(path, sizeof path, name);
  unlink(path);
}

static int remove_data(void **state) {
  const char *files[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  for (int i = 0; i < 4; i++) {
    char name[128];
    snprintf(name, sizeof name, "mnist/%s", files[i]);
    remove_in_scratch(name);
  }
  char dir[512];
  scratch_path(dir, sizeof dir, "mnist");
  rmdir(dir);
  return remove_scratch(state);
}

/* Flags of a quick run on the small data. */
#define QUICK_RUN                                                             \
  data_flag, "--profile", "30,12,4", "--test-per-class", "10", "--width",     \
      "2", "--batch", "8", "--lr", "0.05", "--progress", "never"

/* ---- tests ---------------------------------------------------------------- */

static void test_help(void **state) {
  (void)state;
  const char *args[] = {"--help", NULL};
  run_output *r = run(args);
  assert_int_equal(r->exit_code, 0);
  const char *documented[] = {"--data", "--profile", "--long-tail",
                              "--test-per-class", "--arch", "--width",
                              "--loss", "--sampler", "--compare", "--epochs",
                              "--batch", "--lr", "--momentum",
                              "--weight-decay", "--schedule", "--seed",
                              "--threads", "--json", "--plots",
                              "--checkpoint", "--resume"};
  for (size_t i = 0; i < sizeof documented / sizeof *documented; i++)
    if (!strstr(r->out, documented[i]))
      fail_msg("--help does not document %s", documented[i]);
}

static void test_bad_flags(void **state) {
  (void)state;
  const char *unknown[] = {"--frobnicate", "1", NULL};
  expect_usage_error(unknown, "unknown flag '--frobnicate'");
  const char *no_value[] = {"--epochs", NULL};
  expect_usage_error(no_value, "--epochs needs a value");
  const char *bad_number[] = {"--epochs", "ten", NULL};
  expect_usage_error(bad_number, "--epochs: 'ten'");
  const char *bad_loss[] = {"--loss", "hinge", NULL};
  expect_usage_error(bad_loss, "--loss: 'hinge'");
  const char *bad_method[] = {"--compare", "ce,xx", NULL};
  expect_usage_error(bad_method, "--compare: 'xx'");
  const char *twice[] = {"--compare", "ce,ce", NULL};
  expect_usage_error(twice, "listed twice");
  const char *both[] = {"--compare", "ce,le", "--loss", "ce", NULL};
  expect_usage_error(both, "drop --loss");
  const char *profile[] = {"--profile", "12,x", NULL};
  expect_usage_error(profile, "--profile");
  const char *tail[] = {"--long-tail", "exp:0.5", NULL};
  expect_usage_error(tail, "--long-tail");
  const char *arch[] = {"--arch", "vgg16", NULL};
  expect_usage_error(arch, "--arch: 'vgg16'");
  const char *stray[] = {"train", NULL};
  expect_usage_error(stray, "unexpected argument 'train'");
}

static void test_missing_or_unsuitable_data(void **state) {
  (void)state;
  const char *missing[] = {"--data", "mnist:/nonexistent/lossbal", NULL};
  expect_usage_error(missing, "/nonexistent/lossbal");
  const char *folder[] = {"--data", "folder:/nonexistent/lossbal", NULL};
  expect_usage_error(folder, "/nonexistent/lossbal");
  const char *too_many[] = {data_flag, "--profile", "50,10,10", NULL};
  expect_usage_error(too_many, "class 0 has 40 samples available but 50");
  const char *classes[] = {data_flag, "--profile", "5,5,5,5", NULL};
  expect_usage_error(classes, "the profile has 4 classes but the data has 3");
  const char *test_count[] = {data_flag, "--test-per-class", "41", NULL};
  expect_usage_error(test_count, "test split");
}

static int file_starts_with_png(const char *name) {
  char path[512];
  scratch_path(path, sizeof path, name);
  FILE *f = fopen(path, "rb");
  if (!f)
    return 0;
  unsigned char magic[4] = {0};
  size_t n = fread(magic, 1, 4, f);
  fclose(f);
  unlink(path);
  return n == 4 && magic[1] == 'P' && magic[2] == 'N' && magic[3] == 'G';
}

static void test_compare_writes_table_json_and_plots(void **state) {
  (void)state;
  char json[512], plots[512];
  scratch_path(json, sizeof json, "results.json");
  scratch_path(plots, sizeof plots, "plots");
  const char *args[] = {QUICK_RUN, "--epochs", "3", "--compare", "ce,os,le",
                        "--json", json, "--plots", plots, NULL};
  run_output *r = run(args);
  if (r->exit_code != 0)
    fail_msg("exit %d: %s", r->exit_code, r->err);
  /* The table: a line per method, and the epochs of the larger
   * oversampled epoch (3 classes x 30). */
  assert_non_null(strstr(r->out, "S1 = 2 (4 training images)"));
  assert_non_null(strstr(r->out, "\nce "));
  assert_non_null(strstr(r->out, "\nos "));
  assert_non_null(strstr(r->out, "\nle "));
  assert_non_null(strstr(r->out, "90"));
  /* Not a terminal: one summary line per epoch and method. */
  assert_non_null(strstr(r->err, "[le] epoch 3/3 loss"));
  char text[65536];
  read_all(json, text, sizeof text);
  unlink(json);
  const char *keys[] = {"\"train_counts\": [30, 12, 4]", "\"epochs\": [",
                        "\"accuracy\": ", "\"macro_f1\": ",
                        "\"balanced_accuracy\": ", "\"gmean\": ",
                        "\"s1_f1\": ", "\"s2_f1\": ", "\"per_class_f1\": {",
                        "\"train_images_seen\": 270", "\"train_seconds\": ",
                        "\"epoch_length\": 90", "\"confusion\": ",
                        "\"sampler\": \"oversample\""};
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
    if (!strstr(text, keys[i]))
      fail_msg("the JSON lacks %s", keys[i]);
  assert_true(file_starts_with_png("plots/confusion_ce.png"));
  assert_true(file_starts_with_png("plots/confusion_os.png"));
  assert_true(file_starts_with_png("plots/confusion_le.png"));
  assert_true(file_starts_with_png("plots/f1_by_class.png"));
  assert_true(file_starts_with_png("plots/loss_curves.png"));
  assert_int_equal(rmdir(plots), 0);
}

/* The accuracy line of a single-method JSON. */
static void json_results(const char *path, char *results, size_t capacity) {
  char text[65536];
  read_all(path, text, sizeof text);
  unlink(path);
  const char *from = strstr(text, "\"accuracy\":");
  const char *to = from ? strstr(from, "\"per_class_f1\"") : NULL;
  assert_non_null(to);
  snprintf(results, capacity, "%.*s", (int)(to - from), from);
}

static void test_resume_continues_exactly(void **state) {
  (void)state;
  char json[512], checkpoint[512], straight[4096], resumed[4096];
  scratch_path(json, sizeof json, "run.json");
  scratch_path(checkpoint, sizeof checkpoint, "run.ckpt");
  const char *whole[] = {QUICK_RUN, "--epochs", "2", "--schedule",
                         "constant", "--json", json, NULL};
  assert_int_equal(run(whole)->exit_code, 0);
  json_results(json, straight, sizeof straight);
  const char *first[] = {QUICK_RUN, "--epochs", "1", "--schedule",
                         "constant", "--checkpoint", checkpoint, NULL};
  assert_int_equal(run(first)->exit_code, 0);
  const char *rest[] = {QUICK_RUN, "--epochs", "2", "--schedule", "constant",
                        "--resume", checkpoint, "--json", json, NULL};
  run_output *r = run(rest);
  if (r->exit_code != 0)
    fail_msg("exit %d: %s", r->exit_code, r->err);
  json_results(json, resumed, sizeof resumed);
  assert_string_equal(straight, resumed);
  /* Another seed's checkpoint is refused. */
  const char *other[] = {QUICK_RUN, "--seed", "9", "--resume", checkpoint,
                         NULL};
  expect_usage_error(other, "--seed 1");
  unlink(checkpoint);
}

static void test_compare_resumes_each_method(void **state) {
  (void)state;
  char checkpoint[512], ce[600], le[600];
  scratch_path(checkpoint, sizeof checkpoint, "pair.ckpt");
  snprintf(ce, sizeof ce, "%s.ce", checkpoint);
  snprintf(le, sizeof le, "%s.le", checkpoint);
  const char *args[] = {QUICK_RUN, "--epochs", "1", "--compare", "ce,le",
                        "--checkpoint", checkpoint, NULL};
  assert_int_equal(run(args)->exit_code, 0);
  struct stat about;
  assert_int_equal(stat(ce, &about), 0);
  assert_int_equal(unlink(le), 0);
  /* As if stopped before le began: ce resumes at its end, le starts anew. */
  const char *again[] = {QUICK_RUN, "--epochs", "1", "--compare", "ce,le",
                         "--resume", checkpoint, NULL};
  run_output *r = run(again);
  if (r->exit_code != 0)
    fail_msg("exit %d: %s", r->exit_code, r->err);
  assert_non_null(strstr(r->err, "le starts from the beginning"));
  assert_null(strstr(r->err, "[ce] epoch"));
  assert_non_null(strstr(r->err, "[le] epoch 1/1"));
  unlink(ce);
}

/* A folder of mixed sizes, formats and colour: 3 classes of 12 images, most
 * 10x10 gray PNG, some RGB JPEG and 13x9 PNG, and one file that is no
 * image. With no further flag the trainer picks 10x10 gray, skips the bad
 * file and trains. */
static void test_folder_with_defaults(void **state) {
  (void)state;
  char root[512], path[1024];
  scratch_path(root, sizeof root, "photos");
  assert_int_equal(mkdir(root, 0755), 0);
  const char *classes[3] = {"ant", "bee", "cat"};
  for (int k = 0; k < 3; k++) {
    snprintf(path, sizeof path, "%s/%s", root, classes[k]);
    assert_int_equal(mkdir(path, 0755), 0);
    for (int i = 0; i < 12; i++) {
      uint8_t pixels[13 * 10 * 3];
      for (int p = 0; p < (int)sizeof pixels; p++)
        pixels[p] = (uint8_t)(k * 80 + (p * (i + 3)) % 60);
      snprintf(path, sizeof path, "%s/%s/%02d.img", root, classes[k], i);
      int written = i % 4 == 1   ? lbt_write_jpeg(path, pixels, 10, 10, 3, 90)
                    : i % 4 == 2 ? lbt_write_png(path, pixels, 13, 9, 1, 8)
                                 : lbt_write_png(path, pixels, 10, 10, 1, 8);
      assert_int_equal(written, 0);
    }
  }
  snprintf(path, sizeof path, "%s/bee/notes.txt", root);
  assert_int_equal(lbt_write_bytes(path, "not an image", 12), 0);
  char flag[600];
  snprintf(flag, sizeof flag, "--data=folder:%s", root);
  const char *args[] = {flag, "--epochs", "1", "--width", "2", "--batch", "8",
                        "--progress", "always", NULL};
  run_output *r = run(args);
  if (r->exit_code != 0)
    fail_msg("exit %d: %s", r->exit_code, r->err);
  assert_non_null(strstr(r->out, "3 classes, 1x10x10 images"));
  /* 12 per class, 2 held out for the test (a fifth of the smallest, bee,
   * which has 12 images once the text file is left out). */
  assert_non_null(strstr(r->out, "ant=10 bee=10 cat=10"));
  assert_non_null(strstr(r->err, "left out 1 files"));
  /* --progress always draws the live line. */
  assert_non_null(strstr(r->err, "\r\033[K[le] epoch 1/1 batch"));
  for (int k = 0; k < 3; k++)
    for (int i = 0; i < 12; i++) {
      snprintf(path, sizeof path, "%s/%s/%02d.img", root, classes[k], i);
      unlink(path);
    }
  snprintf(path, sizeof path, "%s/bee/notes.txt", root);
  unlink(path);
  for (int k = 0; k < 3; k++) {
    snprintf(path, sizeof path, "%s/%s", root, classes[k]);
    rmdir(path);
  }
  assert_int_equal(rmdir(root), 0);
}

static void test_interrupt_leaves_a_checkpoint(void **state) {
  (void)state;
  char checkpoint[512];
  scratch_path(checkpoint, sizeof checkpoint, "stop.ckpt");
  const char *args[] = {QUICK_RUN, "--epochs", "400", "--checkpoint",
                        checkpoint, NULL};
  pid_t pid = start(args);
  /* Wait for the first epoch's checkpoint, so training is under way. */
  struct stat about;
  for (int tries = 0; tries < 600 && stat(checkpoint, &about) != 0; tries++) {
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  assert_int_equal(stat(checkpoint, &about), 0);
  assert_int_equal(kill(pid, SIGINT), 0);
  run_output r;
  finish(pid, &r);
  assert_int_equal(r.exit_code, 130);
  assert_non_null(strstr(r.err, "run again with --resume"));
  /* It resumes to the end. */
  const char *rest[] = {QUICK_RUN, "--epochs", "400", "--resume", checkpoint,
                        NULL};
  run_output *resumed = run(rest);
  if (resumed->exit_code != 0)
    fail_msg("exit %d: %s", resumed->exit_code, resumed->err);
  assert_non_null(strstr(resumed->err, "epoch 400/400"));
  unlink(checkpoint);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_help),
      cmocka_unit_test(test_bad_flags),
      cmocka_unit_test(test_missing_or_unsuitable_data),
      cmocka_unit_test(test_compare_writes_table_json_and_plots),
      cmocka_unit_test(test_resume_continues_exactly),
      cmocka_unit_test(test_compare_resumes_each_method),
      cmocka_unit_test(test_folder_with_defaults),
      cmocka_unit_test(test_interrupt_leaves_a_checkpoint),
  };
  return cmocka_run_group_tests(tests, make_data, remove_data);
}
