/*
 * Embedding the loss-balance criterion in your own trainer.
 *
 * This program is a user's tiny trainer: softmax regression (a linear layer)
 * on a synthetic 3-class problem whose training set is imbalanced 100:10:1.
 * Its model, its SGD and its data are its own; from liblossbal it calls only
 * the criterion, for the loss and the gradient of the logits. It trains the
 * same model twice, once with plain cross-entropy (CE) and once with the
 * per-mini-batch loss balance (LE), and prints the recall of every class on a
 * balanced test set: the minority class is the one LE helps.
 *
 * Usage: embed_criterion [seed]
 */
#include <lossbal/lossbal.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  NUM_CLASSES = 3,
  NUM_FEATURES = 2,
  BATCH = 64,
  EPOCHS = 30,
  TEST_PER_CLASS = 1000
};

/* The imbalance: 2000 samples of class 0, 200 of class 1, 20 of class 2. */
static const int train_counts[NUM_CLASSES] = {2000, 200, 20};
/* Class centres on a line with overlapping clouds, so where the decision
 * boundary sits (and so which class pays for the overlap) matters. */
static const float class_centres[NUM_CLASSES][NUM_FEATURES] = {
    {0.0f, 0.0f}, {2.0f, 1.0f}, {4.0f, 0.0f}};
static const float CLOUD_SPREAD = 1.0f;
static const float LEARNING_RATE = 0.5f;

/* ---- the user's own data and random numbers -------------------------- */

typedef struct dataset {
  float *features; /* [count][NUM_FEATURES] */
  int32_t *labels;
  int count;
} dataset;

/* xorshift64*: small, deterministic, good enough for an example. */
static uint64_t random_state;

static double uniform01(void) {
  random_state ^= random_state >> 12;
  random_state ^= random_state << 25;
  random_state ^= random_state >> 27;
  uint64_t bits = random_state * 0x2545F4914F6CDD1DULL;
  return ((double)(bits >> 11) + 0.5) / 9007199254740992.0;
}

static double standard_normal(void) {
  return sqrt(-2.0 * log(uniform01())) * cos(6.283185307179586 * uniform01());
}

static int dataset_make(dataset *set, const int per_class[NUM_CLASSES]) {
  set->count = 0;
  for (int c = 0; c < NUM_CLASSES; c++) set->count += per_class[c];
  set->features = malloc((size_t)set->count * NUM_FEATURES * sizeof(float));
  set->labels = malloc((size_t)set->count * sizeof(int32_t));
  if (!set->features || !set->labels) return -1;
  int row = 0;
  for (int c = 0; c < NUM_CLASSES; c++)
    for (int i = 0; i < per_class[c]; i++, row++) {
      for (int f = 0; f < NUM_FEATURES; f++)
        set->features[row * NUM_FEATURES + f] =
            class_centres[c][f] + CLOUD_SPREAD * (float)standard_normal();
      set->labels[row] = c;
    }
  return 0;
}

static void dataset_free(dataset *set) {
  free(set->features);
  free(set->labels);
}

static void shuffle(int *order, int count) {
  for (int i = count - 1; i > 0; i--) {
    int j = (int)(uniform01() * (i + 1));
    int kept = order[i];
    order[i] = order[j];
    order[j] = kept;
  }
}

/* ---- the user's own model: logits = x W^T + b ------------------------- */

typedef struct linear_model {
  float weight[NUM_CLASSES][NUM_FEATURES];
  float bias[NUM_CLASSES];
} linear_model;

static void model_forward(const linear_model *model, const float *x,
                          float *logits) {
  for (int c = 0; c < NUM_CLASSES; c++) {
    logits[c] = model->bias[c];
    for (int f = 0; f < NUM_FEATURES; f++)
      logits[c] += model->weight[c][f] * x[f];
  }
}

/* One SGD step from the gradient of the loss with respect to the logits,
 * which is all the criterion hands back. */
static void model_sgd_step(linear_model *model, const float *batch_x,
                           const float *grad_logits, int rows) {
  for (int c = 0; c < NUM_CLASSES; c++) {
    float grad_bias = 0.0f, grad_weight[NUM_FEATURES] = {0};
    for (int i = 0; i < rows; i++) {
      float g = grad_logits[i * NUM_CLASSES + c];
      grad_bias += g;
      for (int f = 0; f < NUM_FEATURES; f++)
        grad_weight[f] += g * batch_x[i * NUM_FEATURES + f];
    }
    model->bias[c] -= LEARNING_RATE * grad_bias;
    for (int f = 0; f < NUM_FEATURES; f++)
      model->weight[c][f] -= LEARNING_RATE * grad_weight[f];
  }
}

static int model_predict(const linear_model *model, const float *x) {
  float logits[NUM_CLASSES];
  model_forward(model, x, logits);
  int best = 0;
  for (int c = 1; c < NUM_CLASSES; c++)
    if (logits[c] > logits[best]) best = c;
  return best;
}

/* ---- training with a liblossbal criterion ----------------------------- */

static lb_status train(lb_loss_kind kind, const dataset *train_set,
                       linear_model *model) {
  lb_criterion *criterion = NULL;
  lb_status status = lb_criterion_create(kind, NUM_CLASSES, &criterion);
  if (status != LB_OK) return status;

  int *order = malloc((size_t)train_set->count * sizeof(int));
  if (!order) {
    lb_criterion_free(criterion);
    return LB_ENOMEM;
  }
  for (int i = 0; i < train_set->count; i++) order[i] = i;
  memset(model, 0, sizeof *model);

  float batch_x[BATCH * NUM_FEATURES], logits[BATCH * NUM_CLASSES];
  float grad_logits[BATCH * NUM_CLASSES];
  int32_t batch_labels[BATCH];
  for (int epoch = 0; epoch < EPOCHS && status == LB_OK; epoch++) {
    shuffle(order, train_set->count);
    for (int start = 0; start < train_set->count && status == LB_OK;
         start += BATCH) {
      int rows = train_set->count - start < BATCH ? train_set->count - start
                                                  : BATCH;
      for (int i = 0; i < rows; i++) {
        int sample = order[start + i];
        memcpy(&batch_x[i * NUM_FEATURES],
               &train_set->features[sample * NUM_FEATURES],
               NUM_FEATURES * sizeof(float));
        batch_labels[i] = train_set->labels[sample];
        model_forward(model, &batch_x[i * NUM_FEATURES],
                      &logits[i * NUM_CLASSES]);
      }
      double loss = 0.0;
      status = lb_criterion_compute(criterion, logits, batch_labels, rows,
                                    &loss, grad_logits);
      if (status == LB_OK) model_sgd_step(model, batch_x, grad_logits, rows);
    }
  }
  free(order);
  lb_criterion_free(criterion);
  return status;
}

static void report_recall(const char *name, const linear_model *model,
                          const dataset *test_set) {
  int correct[NUM_CLASSES] = {0}, total[NUM_CLASSES] = {0}, all_correct = 0;
  for (int i = 0; i < test_set->count; i++) {
    int truth = test_set->labels[i];
    int hit = model_predict(model, &test_set->features[i * NUM_FEATURES]) == truth;
    total[truth]++;
    correct[truth] += hit;
    all_correct += hit;
  }
  printf("%-26s", name);
  for (int c = 0; c < NUM_CLASSES; c++)
    printf("  %6.1f%%", 100.0 * correct[c] / total[c]);
  printf("  %8.1f%%\n", 100.0 * all_correct / test_set->count);
}

int main(int argc, char **argv) {
  random_state = argc > 1 ? strtoull(argv[1], NULL, 10) : 2019;
  if (random_state == 0) random_state = 1;

  static const int test_counts[NUM_CLASSES] = {TEST_PER_CLASS, TEST_PER_CLASS,
                                               TEST_PER_CLASS};
  dataset train_set = {0}, test_set = {0};
  if (dataset_make(&train_set, train_counts) != 0 ||
      dataset_make(&test_set, test_counts) != 0) {
    fprintf(stderr, "embed_criterion: out of memory\n");
    dataset_free(&train_set);
    dataset_free(&test_set);
    return 1;
  }

  printf("liblossbal %s: softmax regression, train counts %d/%d/%d, "
         "balanced test set\n\n",
         lb_version_string(), train_counts[0], train_counts[1],
         train_counts[2]);
  printf("%-26s  %7s  %7s  %7s  %9s\n", "recall on the test set", "class 0",
         "class 1", "class 2", "accuracy");

  static const struct {
    lb_loss_kind kind;
    const char *name;
  } runs[] = {{LB_LOSS_CE, "CE (cross-entropy)"},
              {LB_LOSS_BATCH_BALANCED, "LE (batch loss balance)"}};
  int exit_code = 0;
  for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
    linear_model model;
    lb_status status = train(runs[r].kind, &train_set, &model);
    if (status != LB_OK) {
      fprintf(stderr, "training with %s failed: %s (%s)\n", runs[r].name,
              lb_status_string(status), lb_last_error());
      exit_code = 1;
      break;
    }
    report_recall(runs[r].name, &model, &test_set);
  }
  dataset_free(&train_set);
  dataset_free(&test_set);
  return exit_code;
}
