/*
 * Results of lossbal-train: a table on stdout, a JSON file and PNG plots.
 */
#include "report.h"

#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A metric of a finished method, NaN when it cannot be had. */
static double metric(const method_result *r, lb_metric which) {
  double value = NAN;
  if (!r->metrics || lb_metrics_get(r->metrics, which, &value) != LB_OK)
    return NAN;
  return value;
}

/* The classes with the smallest and second-smallest training count (ties
 * to the lower index), as S1-F1 and S2-F1 read them. */
static void rarest_classes(const prepared_data *d, int32_t *first,
                           int32_t *second) {
  *first = 0;
  for (int32_t k = 1; k < d->classes; k++)
    if (d->train_counts[k] < d->train_counts[*first])
      *first = k;
  *second = *first == 0 ? 1 : 0;
  for (int32_t k = 0; k < d->classes; k++)
    if (k != *first && d->train_counts[k] < d->train_counts[*second])
      *second = k;
}

/* ---- the table ------------------------------------------------------------ */

void print_split(FILE *out, const train_options *o, const prepared_data *d) {
  int64_t train_total = lb_split_size(d->train);
  fprintf(out, "data: %d classes, %dx%dx%d images; %lld training images, "
          "%lld test (%lld per class)\n", (int)d->classes, (int)d->channels,
          (int)d->height, (int)d->width, (long long)train_total,
          (long long)lb_split_size(d->test), (long long)d->test_per_class);
  fprintf(out, "training images per class:");
  for (int32_t k = 0; k < d->classes; k++)
    fprintf(out, " %s=%lld", d->class_names[k], (long long)d->train_counts[k]);
  fprintf(out, "\nmodel: resnet%d width %d, %d epochs, batch %d, lr %g %s, "
          "seed %llu\n", (int)o->depth, (int)o->width, (int)o->epochs,
          (int)o->batch, o->lr, schedule_name(o->schedule),
          (unsigned long long)o->seed);
}

static void print_percent(FILE *out, double value) {
  if (isnan(value))
    fprintf(out, " %8s", "-");
  else
    fprintf(out, " %8.1f", 100.0 * value);
}

void print_table(FILE *out, const prepared_data *d,
                 const method_result *results, int32_t count) {
  int32_t s1 = 0, s2 = 0;
  rarest_classes(d, &s1, &s2);
  fprintf(out, "\nS1 = %s (%lld training images), S2 = %s (%lld); "
          "percentages on the balanced test split\n\n", d->class_names[s1],
          (long long)d->train_counts[s1], d->class_names[s2],
          (long long)d->train_counts[s2]);
  fprintf(out, "%-14s %8s %8s %8s %8s %8s %8s %10s %8s\n", "method",
          "accuracy", "macro-F1", "bal-acc", "G-mean", "S1-F1", "S2-F1",
          "img/epoch", "train s");
  static const lb_metric columns[] = {
      LB_METRIC_ACCURACY, LB_METRIC_MACRO_F1, LB_METRIC_BALANCED_ACCURACY,
      LB_METRIC_GMEAN,    LB_METRIC_S1_F1,    LB_METRIC_S2_F1};
  for (int32_t i = 0; i < count; i++) {
    const method_result *r = &results[i];
    fprintf(out, "%-14s", r->method.name);
    for (size_t c = 0; c < sizeof columns / sizeof *columns; c++)
      print_percent(out, metric(r, columns[c]));
    fprintf(out, " %10lld %8.1f\n", (long long)r->epoch_length,
            r->train_seconds);
  }
}

/* ---- JSON ----------------------------------------------------------------- */

static void json_string(FILE *f, const char *text) {
  fputc('"', f);
  for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
    if (*c == '"' || *c == '\\')
      fprintf(f, "\\%c", *c);
    else if (*c < 0x20)
      fprintf(f, "\\u%04x", *c);
    else
      fputc(*c, f);
  }
  fputc('"', f);
}

static void json_number(FILE *f, double value) {
  if (isfinite(value))
    fprintf(f, "%.17g", value);
  else
    fputs("null", f);
}

static const char *data_name(data_source data) {
  switch (data) {
  case DATA_FASHION_MNIST: return "fashion-mnist";
  case DATA_MNIST: return "mnist";
  case DATA_FOLDER: return "folder";
  }
  return "?";
}

static void json_profile(FILE *f, const train_options *o) {
  fputs("  \"profile\": ", f);
  switch (o->profile) {
  case PROFILE_NONE: fputs("\"all\"", f); break;
  case PROFILE_NAMED: json_string(f, o->profile_name); break;
  case PROFILE_COUNTS: fputs("\"counts\"", f); break;
  case PROFILE_LONG_TAIL:
    fprintf(f, "\"%s:%g\"", o->long_tail == LB_LONG_TAIL_EXP ? "exp" : "step",
            o->rho);
    break;
  }
  fputs(",\n", f);
}

static void json_config(FILE *f, const train_options *o,
                        const prepared_data *d) {
  fprintf(f, "  \"lossbal_version\": \"%s\",\n", lb_version_string());
  fprintf(f, "  \"data\": \"%s\",\n  \"data_dir\": ", data_name(o->data));
  json_string(f, o->data_dir[0] ? o->data_dir : LB_FASHION_MNIST_DIR);
  fputs(",\n", f);
  json_profile(f, o);
  fprintf(f, "  \"image_shape\": [%d, %d, %d],\n", (int)d->channels,
          (int)d->height, (int)d->width);
  fputs("  \"class_names\": [", f);
  for (int32_t k = 0; k < d->classes; k++) {
    json_string(f, d->class_names[k]);
    fputs(k + 1 < d->classes ? ", " : "],\n", f);
  }
  fputs("  \"train_counts\": [", f);
  for (int32_t k = 0; k < d->classes; k++)
    fprintf(f, "%lld%s", (long long)d->train_counts[k],
            k + 1 < d->classes ? ", " : "],\n");
  fprintf(f, "  \"test_per_class\": %lld,\n", (long long)d->test_per_class);
  fprintf(f, "  \"arch\": \"resnet%d\",\n  \"width\": %d,\n  \"epochs\": %d,\n"
          "  \"batch\": %d,\n  \"lr\": ", (int)o->depth, (int)o->width,
          (int)o->epochs, (int)o->batch);
  json_number(f, o->lr);
  fputs(",\n  \"momentum\": ", f);
  json_number(f, o->momentum);
  fputs(",\n  \"weight_decay\": ", f);
  json_number(f, o->weight_decay);
  fprintf(f, ",\n  \"schedule\": \"%s\",\n  \"augment\": {\"crop_padding\": "
          "%d, \"flip\": %s},\n  \"seed\": %llu,\n  \"threads\": %d,\n",
          schedule_name(o->schedule), (int)o->crop_padding,
          o->flip ? "true" : "false", (unsigned long long)o->seed,
          (int)lb_get_num_threads());
}

static void json_method_metrics(FILE *f, const method_result *r,
                                const prepared_data *d) {
  static const struct {
    const char *name;
    lb_metric which;
  } scalars[] = {{"accuracy", LB_METRIC_ACCURACY},
                 {"macro_f1", LB_METRIC_MACRO_F1},
                 {"balanced_accuracy", LB_METRIC_BALANCED_ACCURACY},
                 {"gmean", LB_METRIC_GMEAN},
                 {"s1_f1", LB_METRIC_S1_F1},
                 {"s2_f1", LB_METRIC_S2_F1}};
  for (size_t i = 0; i < sizeof scalars / sizeof *scalars; i++) {
    fprintf(f, "      \"%s\": ", scalars[i].name);
    json_number(f, metric(r, scalars[i].which));
    fputs(",\n", f);
  }
  double f1[TRAIN_MAX_CLASSES];
  int have_f1 = r->metrics && lb_metrics_get_per_class(
                                  r->metrics, LB_CLASS_F1, f1,
                                  TRAIN_MAX_CLASSES) == LB_OK;
  fputs("      \"per_class_f1\": {", f);
  for (int32_t k = 0; k < d->classes; k++) {
    json_string(f, d->class_names[k]);
    fputs(": ", f);
    json_number(f, have_f1 ? f1[k] : NAN);
    fputs(k + 1 < d->classes ? ", " : "},\n", f);
  }
}

/* lb_metrics_to_json()'s object, which has everything, confusion included. */
static void json_full_metrics(FILE *f, const method_result *r,
                              const prepared_data *d) {
  fputs("      \"metrics\": ", f);
  size_t length = 0;
  char *text = NULL;
  if (r->metrics &&
      lb_metrics_to_json(r->metrics, d->class_names, NULL, 0, &length) ==
          LB_OK &&
      (text = malloc(length + 1)) != NULL &&
      lb_metrics_to_json(r->metrics, d->class_names, text, length + 1,
                         &length) == LB_OK) {
    /* Trim the final newline so the object sits inside this one. */
    while (length > 0 && text[length - 1] == '\n')
      text[--length] = '\0';
    fputs(text, f);
  } else {
    fputs("null", f);
  }
  free(text);
  fputs("\n", f);
}

static void json_method(FILE *f, const method_result *r,
                        const prepared_data *d) {
  fputs("    {\n      \"name\": ", f);
  json_string(f, r->method.name);
  fprintf(f, ",\n      \"loss\": \"%s\",\n      \"sampler\": \"%s\",\n"
          "      \"epoch_length\": %lld,\n      \"epochs\": [",
          loss_name(r->method.loss), sampler_name(r->method.sampler),
          (long long)r->epoch_length);
  for (int32_t e = 0; e < r->epochs_done; e++) {
    fprintf(f, "%s{\"epoch\": %d, \"loss\": ", e ? ", " : "",
            (int)(r->first_epoch + e + 1));
    json_number(f, r->epochs[e].mean_loss);
    fprintf(f, ", \"seconds\": %.3f}", r->epochs[e].seconds);
  }
  fprintf(f, "],\n      \"train_images_seen\": %lld,\n"
          "      \"train_seconds\": %.3f,\n      \"eval_seconds\": %.3f,\n",
          (long long)r->images_seen, r->train_seconds, r->eval_seconds);
  json_method_metrics(f, r, d);
  json_full_metrics(f, r, d);
  fputs("    }", f);
}

int write_json(const char *path, const train_options *o,
               const prepared_data *d, const method_result *results,
               int32_t count, char *error, size_t error_size) {
  char temporary[TRAIN_PATH_MAX + 16];
  snprintf(temporary, sizeof temporary, "%s.tmp", path);
  FILE *f = fopen(temporary, "w");
  if (!f)
    return train_error(error, error_size, -1, "cannot write '%s': %s", temporary,
                        strerror(errno));
  fputs("{\n", f);
  json_config(f, o, d);
  fputs("  \"methods\": [\n", f);
  for (int32_t i = 0; i < count; i++) {
    json_method(f, &results[i], d);
    fputs(i + 1 < count ? ",\n" : "\n", f);
  }
  fputs("  ]\n}\n", f);
  int write_failed = ferror(f);
  if (fclose(f) != 0 || write_failed) {
    remove(temporary);
    return train_error(error, error_size, -1, "cannot write '%s'", temporary);
  }
  /* The finished file replaces any old one in one step. */
  if (rename(temporary, path) != 0) {
    int saved = errno;
    remove(temporary);
    return train_error(error, error_size, -1, "cannot write '%s': %s", path,
                        strerror(saved));
  }
  return 0;
}

/* ---- plots ---------------------------------------------------------------- */

static int plot_confusions(const char *dir, const prepared_data *d,
                           const method_result *results, int32_t count,
                           char *error, size_t error_size) {
  size_t cells = (size_t)d->classes * (size_t)d->classes;
  int64_t *matrix = malloc(cells * sizeof *matrix);
  if (!matrix)
    return train_error(error, error_size, -1, "out of memory");
  int result = 0;
  for (int32_t i = 0; i < count && result == 0; i++) {
    const method_result *r = &results[i];
    if (!r->metrics)
      continue;
    char path[TRAIN_PATH_MAX + 64], title[128];
    snprintf(path, sizeof path, "%s/confusion_%s.png", dir, r->method.name);
    snprintf(title, sizeof title, "Confusion matrix (recall %%), %s",
             r->method.name);
    lb_metrics_confusion(r->metrics, matrix, (int64_t)cells);
    result = plot_confusion(path, title, matrix, d->classes, d->class_names,
                            error, error_size);
  }
  free(matrix);
  return result;
}

static int plot_f1_bars(const char *dir, const prepared_data *d,
                        const method_result *results, int32_t count,
                        char *error, size_t error_size) {
  double *values = malloc((size_t)count * (size_t)d->classes * sizeof *values);
  const char *names[TRAIN_MAX_METHODS];
  if (!values)
    return train_error(error, error_size, -1, "out of memory");
  for (int32_t i = 0; i < count; i++) {
    names[i] = results[i].method.name;
    double *row = values + (size_t)i * (size_t)d->classes;
    if (!results[i].metrics ||
        lb_metrics_get_per_class(results[i].metrics, LB_CLASS_F1, row,
                                 d->classes) != LB_OK)
      for (int32_t k = 0; k < d->classes; k++)
        row[k] = 0.0;
  }
  char path[TRAIN_PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/f1_by_class.png", dir);
  int result = plot_grouped_bars(path, "F1 by class and method (%)",
                                 "F1 (%)", d->class_names, d->classes, names,
                                 count, values, error, error_size);
  free(values);
  return result;
}

static int plot_loss_curves(const char *dir, const method_result *results,
                            int32_t count, char *error, size_t error_size) {
  const char *names[TRAIN_MAX_METHODS];
  const double *series[TRAIN_MAX_METHODS];
  int32_t lengths[TRAIN_MAX_METHODS];
  double *losses[TRAIN_MAX_METHODS] = {NULL};
  int result = 0;
  for (int32_t i = 0; i < count; i++) {
    int32_t n = results[i].epochs_done > 0 ? results[i].epochs_done : 1;
    losses[i] = malloc((size_t)n * sizeof *losses[i]);
    if (!losses[i]) {
      result = train_error(error, error_size, -1, "out of memory");
      break;
    }
    losses[i][0] = NAN;
    for (int32_t e = 0; e < results[i].epochs_done; e++)
      losses[i][e] = results[i].epochs[e].mean_loss;
    names[i] = results[i].method.name;
    series[i] = losses[i];
    lengths[i] = n;
  }
  if (result == 0) {
    char path[TRAIN_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/loss_curves.png", dir);
    result = plot_lines(path, "Training loss per epoch", "epoch",
                        "mean training loss", names, count, series, lengths,
                        error, error_size);
  }
  for (int32_t i = 0; i < count; i++)
    free(losses[i]);
  return result;
}

int write_plots(const char *dir, const prepared_data *d,
                const method_result *results, int32_t count, char *error,
                size_t error_size) {
  if (mkdir(dir, 0777) != 0 && errno != EEXIST)
    return train_error(error, error_size, -1, "cannot create '%s': %s", dir,
                        strerror(errno));
  if (plot_confusions(dir, d, results, count, error, error_size) ||
      plot_f1_bars(dir, d, results, count, error, error_size) ||
      plot_loss_curves(dir, results, count, error, error_size))
    return -1;
  return 0;
}
