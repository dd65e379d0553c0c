/*
 * imbalanced_data: the data side of liblossbal in one program.
 *
 * Loads Fashion-MNIST (Debian's dataset-fashion-mnist, or the IDX files in
 * the directory given as the first argument), cuts the paper's `part1`
 * imbalanced training split and a balanced test split out of it, prints how
 * long an epoch is under each sampler (oversampling's extra cost is one of
 * the paper's points), then classifies the test split with a nearest-class-
 * mean classifier fitted on the imbalanced split and prints the metrics
 * people report for imbalanced problems, with the JSON export.
 *
 *   imbalanced_data [FASHION_MNIST_DIR]
 */
#include <lossbal/lossbal.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CLASSES 16

static int fail(const char *what) {
  fprintf(stderr, "imbalanced_data: %s: %s\n", what, lb_last_error());
  return 1;
}

/* Renders the samples `indices` of ds into one float tensor. */
static lb_tensor *render(const lb_dataset *ds, const int64_t *indices,
                         int64_t count) {
  int32_t c = 0, h = 0, w = 0;
  lb_dataset_sample_shape(ds, &c, &h, &w);
  int64_t shape[4] = {count, c, h, w};
  lb_tensor *images = NULL;
  if (lb_tensor_create(4, shape, &images) != LB_OK ||
      lb_dataset_batch(ds, indices, count, NULL, 0, images, NULL) != LB_OK) {
    lb_tensor_free(images);
    return NULL;
  }
  return images;
}

/* The mean image of each class of the training split. */
static void class_means(const float *images, const int32_t *labels,
                        int64_t count, int64_t pixels, int32_t classes,
                        double *means) {
  int64_t members[MAX_CLASSES] = {0};
  memset(means, 0, (size_t)(classes * pixels) * sizeof *means);
  for (int64_t i = 0; i < count; i++) {
    members[labels[i]]++;
    for (int64_t p = 0; p < pixels; p++)
      means[labels[i] * pixels + p] += images[i * pixels + p];
  }
  for (int32_t k = 0; k < classes; k++)
    for (int64_t p = 0; p < pixels; p++)
      means[k * pixels + p] /= (double)(members[k] ? members[k] : 1);
}

static int32_t nearest_mean(const float *image, const double *means,
                            int64_t pixels, int32_t classes) {
  int32_t best = 0;
  double best_distance = INFINITY;
  for (int32_t k = 0; k < classes; k++) {
    double distance = 0.0;
    for (int64_t p = 0; p < pixels; p++) {
      double d = image[p] - means[k * pixels + p];
      distance += d * d;
    }
    if (distance < best_distance) {
      best_distance = distance;
      best = k;
    }
  }
  return best;
}

static void print_sampler_lengths(const lb_split *train) {
  static const struct {
    lb_sampler_kind kind;
    const char *name;
  } kinds[] = {{LB_SAMPLER_SHUFFLE, "random shuffle"},
               {LB_SAMPLER_OVERSAMPLE, "random oversampling"},
               {LB_SAMPLER_UNDERSAMPLE, "random undersampling"},
               {LB_SAMPLER_CLASS_BALANCED, "class-balanced"},
               {LB_SAMPLER_POWER, "square-root"}};
  printf("\nepoch length by sampler (training images per epoch):\n");
  for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
    lb_sampler *s = NULL;
    if (lb_sampler_create(kinds[i].kind, lb_split_labels(train),
                          lb_split_size(train), lb_split_num_classes(train),
                          NULL, 1, &s) != LB_OK) {
      fail("lb_sampler_create");
      continue;
    }
    printf("  %-22s %6lld\n", kinds[i].name,
           (long long)lb_sampler_epoch_length(s));
    lb_sampler_free(s);
  }
}

static int report(lb_metrics *metrics, const lb_dataset *ds, int32_t classes) {
  static const struct {
    lb_metric which;
    const char *name;
  } scalars[] = {{LB_METRIC_ACCURACY, "accuracy"},
                 {LB_METRIC_MACRO_F1, "macro-F1"},
                 {LB_METRIC_BALANCED_ACCURACY, "balanced accuracy"},
                 {LB_METRIC_GMEAN, "G-mean"},
                 {LB_METRIC_S1_F1, "S1-F1 (rarest class)"},
                 {LB_METRIC_S2_F1, "S2-F1 (second rarest)"}};
  printf("\nnearest class mean on the balanced test split:\n");
  for (size_t i = 0; i < sizeof scalars / sizeof *scalars; i++) {
    double value = 0.0;
    if (lb_metrics_get(metrics, scalars[i].which, &value) != LB_OK)
      return fail("lb_metrics_get");
    printf("  %-22s %5.1f%%\n", scalars[i].name, 100.0 * value);
  }
  const char *names[MAX_CLASSES];
  for (int32_t k = 0; k < classes; k++)
    names[k] = lb_dataset_class_name(ds, k);
  size_t length = 0;
  if (lb_metrics_to_json(metrics, names, NULL, 0, &length) != LB_OK)
    return fail("lb_metrics_to_json");
  char *json = malloc(length + 1);
  if (!json)
    return 1;
  lb_metrics_to_json(metrics, names, json, length + 1, &length);
  printf("\nthe same as JSON (lb_metrics_to_json), first 300 bytes:\n%.300s"
         "...\n", json);
  free(json);
  return 0;
}

static int evaluate(const lb_dataset *train_set, const lb_split *train,
                    const lb_dataset *test_set, const lb_split *test) {
  int32_t classes = lb_split_num_classes(train);
  int32_t c = 0, h = 0, w = 0;
  lb_dataset_sample_shape(train_set, &c, &h, &w);
  int64_t pixels = (int64_t)c * h * w;
  lb_tensor *train_images =
      render(train_set, lb_split_indices(train), lb_split_size(train));
  lb_tensor *test_images =
      render(test_set, lb_split_indices(test), lb_split_size(test));
  double *means = malloc((size_t)(classes * pixels) * sizeof *means);
  lb_metrics *metrics = NULL;
  int64_t train_counts[MAX_CLASSES];
  int result = 1;
  if (!train_images || !test_images || !means ||
      lb_metrics_create(classes, &metrics) != LB_OK ||
      lb_split_class_counts(train, train_counts, MAX_CLASSES) != LB_OK ||
      lb_metrics_set_train_counts(metrics, train_counts, classes) != LB_OK) {
    fail("preparing the evaluation");
    goto done;
  }
  class_means(lb_tensor_data(train_images), lb_split_labels(train),
              lb_split_size(train), pixels, classes, means);
  for (int64_t i = 0; i < lb_split_size(test); i++) {
    int32_t predicted = nearest_mean(lb_tensor_data(test_images) + i * pixels,
                                     means, pixels, classes);
    if (lb_metrics_add(metrics, &lb_split_labels(test)[i], &predicted, 1) !=
        LB_OK) {
      fail("lb_metrics_add");
      goto done;
    }
  }
  result = report(metrics, train_set, classes);
done:
  lb_metrics_free(metrics);
  free(means);
  lb_tensor_free(train_images);
  lb_tensor_free(test_images);
  return result;
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : NULL;
  lb_dataset *train_set = NULL, *test_set = NULL;
  if (lb_dataset_load_fashion_mnist(dir, 1, &train_set) != LB_OK ||
      lb_dataset_load_fashion_mnist(dir, 0, &test_set) != LB_OK)
    return fail("loading Fashion-MNIST");

  int64_t counts[MAX_CLASSES], test_per_class = 0;
  int32_t classes = 0;
  lb_profile_counts("part1", counts, MAX_CLASSES, &classes, &test_per_class);
  int64_t test_counts[MAX_CLASSES];
  for (int32_t k = 0; k < classes; k++)
    test_counts[k] = test_per_class;
  lb_split *train = NULL, *test = NULL;
  int result = 1;
  if (lb_split_by_counts(lb_dataset_labels(train_set),
                         lb_dataset_size(train_set), counts, classes, NULL, 1,
                         &train) != LB_OK ||
      lb_split_by_counts(lb_dataset_labels(test_set),
                         lb_dataset_size(test_set), test_counts, classes,
                         NULL, 1, &test) != LB_OK) {
    fail("building the splits");
    goto done;
  }
  printf("Fashion-MNIST, profile part1: %lld training images, %lld test\n",
         (long long)lb_split_size(train), (long long)lb_split_size(test));
  for (int32_t k = 0; k < classes; k++)
    printf("  %-12s %5lld train %4lld test\n",
           lb_dataset_class_name(train_set, k), (long long)counts[k],
           (long long)test_per_class);
  print_sampler_lengths(train);
  result = evaluate(train_set, train, test_set, test);
done:
  lb_split_free(train);
  lb_split_free(test);
  lb_dataset_free(train_set);
  lb_dataset_free(test_set);
  return result;
}
