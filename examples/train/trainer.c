/*
 * The training loop of lossbal-train, over the public API only: sampler ->
 * batch (normalised, augmented) -> forward -> criterion -> backward -> SGD
 * step at the schedule's learning rate; then an evaluation on the test
 * split into an lb_metrics.
 *
 * Everything random derives from --seed: the model's initialisation, the
 * sampler's epochs and each batch's augmentation seed (from the seed and
 * the global step), so a run resumed from a checkpoint continues exactly
 * as the uninterrupted run would have.
 */
#include "trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

volatile sig_atomic_t stop_requested = 0;

#define EVAL_BATCH 256

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int failed(char *error, size_t error_size, const char *what) {
  return train_error(error, error_size, RUN_FAILED, "%s: %s", what,
                lb_last_error());
}

void checkpoint_path_for(const train_options *o, const train_method *method,
                         const char *base, char *path, size_t capacity) {
  if (o->method_count > 1)
    snprintf(path, capacity, "%s.%s", base, method->name);
  else
    snprintf(path, capacity, "%s", base);
}

/* ---- the objects of a run ------------------------------------------------- */

typedef struct run_state {
  lb_model *model;
  lb_optimizer *optimizer;
  lb_criterion *criterion;
  lb_sampler *sampler;
  lb_lr_schedule schedule;
  int64_t *positions;  /* one epoch of positions into the training split */
  int64_t *indices;    /* one batch of dataset indices */
  int32_t *labels;     /* one batch of labels */
  lb_tensor *images;   /* one full batch */
  float *logits;
  float *grad_logits;
  int64_t steps_per_epoch;
  int64_t batch_capacity;
} run_state;

static void free_state(run_state *s) {
  lb_optimizer_free(s->optimizer);
  lb_model_free(s->model);
  lb_criterion_free(s->criterion);
  lb_sampler_free(s->sampler);
  lb_tensor_free(s->images);
  free(s->positions);
  free(s->indices);
  free(s->labels);
  free(s->logits);
  free(s->grad_logits);
}

static lb_status create_model(const train_options *o, const prepared_data *d,
                              run_state *s) {
  lb_resnet_config config = {sizeof(lb_resnet_config), o->depth, d->classes,
                             d->channels, o->width,
                             /* small images keep their resolution */
                             d->height < 64 || d->width < 64};
  lb_status status = lb_resnet_create(&config, o->seed, &s->model);
  if (status == LB_OK)
    status = lb_sgd_create(s->model, &s->optimizer);
  if (status == LB_OK)
    status = lb_optimizer_set_param(s->optimizer, LB_SGD_MOMENTUM,
                                    o->momentum);
  if (status == LB_OK)
    status = lb_optimizer_set_param(s->optimizer, LB_SGD_WEIGHT_DECAY,
                                    o->weight_decay);
  if (status == LB_OK)
    status = lb_optimizer_set_param(s->optimizer, LB_SGD_LEARNING_RATE, o->lr);
  return status;
}

static lb_status create_criterion(const prepared_data *d,
                                  const train_method *method, run_state *s) {
  lb_status status =
      lb_criterion_create(method->loss, d->classes, &s->criterion);
  /* Every kind takes the counts; the ones that need them use them. */
  if (status == LB_OK)
    status = lb_criterion_set_class_counts(s->criterion, d->train_counts,
                                           d->classes);
  return status;
}

static void set_schedule(const train_options *o, int64_t total_steps,
                         lb_lr_schedule *schedule) {
  memset(schedule, 0, sizeof *schedule);
  schedule->struct_size = sizeof *schedule;
  schedule->base_lr = o->lr;
  switch (o->schedule) {
  case SCHEDULE_COSINE:
    schedule->kind = LB_LR_COSINE;
    schedule->total_steps = total_steps;
    break;
  case SCHEDULE_STEP:
    schedule->kind = LB_LR_MULTISTEP;
    schedule->gamma = 0.1;
    schedule->milestones[0] = total_steps / 2;
    schedule->milestones[1] = total_steps * 3 / 4;
    schedule->milestone_count =
        schedule->milestones[1] > schedule->milestones[0] ? 2 : 1;
    break;
  case SCHEDULE_CONSTANT:
    schedule->kind = LB_LR_CONSTANT;
    break;
  }
}

static int allocate_buffers(const train_options *o, const prepared_data *d,
                            run_state *s) {
  int64_t epoch_length = lb_sampler_epoch_length(s->sampler);
  s->batch_capacity = o->batch > EVAL_BATCH ? o->batch : EVAL_BATCH;
  s->steps_per_epoch = (epoch_length + o->batch - 1) / o->batch;
  int64_t shape[4] = {s->batch_capacity, d->channels, d->height, d->width};
  size_t logit_bytes = (size_t)(s->batch_capacity * d->classes) * sizeof(float);
  s->positions = malloc((size_t)epoch_length * sizeof *s->positions);
  s->indices = malloc((size_t)s->batch_capacity * sizeof *s->indices);
  s->labels = malloc((size_t)s->batch_capacity * sizeof *s->labels);
  s->logits = malloc(logit_bytes);
  s->grad_logits = malloc(logit_bytes);
  return lb_tensor_create(4, shape, &s->images) == LB_OK && s->positions &&
         s->indices && s->labels && s->logits && s->grad_logits;
}

static int create_run(const train_options *o, const prepared_data *d,
                      const train_method *method, run_state *s, char *error,
                      size_t error_size) {
  memset(s, 0, sizeof *s);
  if (create_model(o, d, s) != LB_OK)
    return failed(error, error_size, "creating the model");
  if (create_criterion(d, method, s) != LB_OK)
    return failed(error, error_size, "creating the criterion");
  if (lb_sampler_create(method->sampler, lb_split_labels(d->train),
                        lb_split_size(d->train), d->classes, NULL, o->seed,
                        &s->sampler) != LB_OK)
    return failed(error, error_size, "creating the sampler");
  if (!allocate_buffers(o, d, s))
    return train_error(error, error_size, RUN_FAILED, "out of memory");
  set_schedule(o, s->steps_per_epoch * o->epochs, &s->schedule);
  return RUN_OK;
}

/* ---- checkpoints ---------------------------------------------------------- */

static int save_checkpoint(const train_options *o, const train_method *method,
                           run_state *s, int64_t epochs_done, int64_t step,
                           char *error, size_t error_size) {
  if (!o->checkpoint_path[0])
    return RUN_OK;
  char path[TRAIN_PATH_MAX + 40];
  checkpoint_path_for(o, method, o->checkpoint_path, path, sizeof path);
  if (lb_checkpoint_save(path, s->model, s->optimizer, epochs_done, step,
                         o->seed) != LB_OK)
    return failed(error, error_size, "saving the checkpoint");
  return RUN_OK;
}

/* Loads --resume's checkpoint; *step receives the global step to go on
 * from. */
static int resume(const train_options *o, const train_method *method,
                  run_state *s, int64_t *step, char *error,
                  size_t error_size) {
  *step = 0;
  if (!o->resume_path[0])
    return RUN_OK;
  char path[TRAIN_PATH_MAX + 40];
  checkpoint_path_for(o, method, o->resume_path, path, sizeof path);
  /* A comparison stopped during one method has no checkpoint for the
   * methods after it: they start from the beginning. */
  FILE *exists = fopen(path, "rb");
  if (!exists && o->method_count > 1) {
    fprintf(stderr, "lossbal-train: no %s; %s starts from the beginning\n",
            path, method->name);
    return RUN_OK;
  }
  if (exists)
    fclose(exists);
  int64_t epoch = 0;
  uint64_t seed = 0;
  lb_status status =
      lb_checkpoint_load(path, s->model, s->optimizer, &epoch, step, &seed);
  if (status != LB_OK)
    return train_error(error, error_size,
                  status == LB_ENOMEM ? RUN_FAILED : RUN_BAD_INPUT,
                  "--resume: %s", lb_last_error());
  if (seed != o->seed)
    return train_error(error, error_size, RUN_BAD_INPUT,
                  "--resume: %s was made with --seed %llu; resume with the "
                  "flags of that run", path, (unsigned long long)seed);
  if (*step > s->steps_per_epoch * o->epochs)
    return train_error(error, error_size, RUN_BAD_INPUT,
                  "--resume: %s is at step %lld, beyond the %lld steps of "
                  "--epochs %d", path, (long long)*step,
                  (long long)(s->steps_per_epoch * o->epochs), (int)o->epochs);
  return RUN_OK;
}

/* ---- progress ------------------------------------------------------------- */

static void format_duration(double seconds, char *text, size_t capacity) {
  long total = seconds > 0 && seconds < 1e7 ? (long)(seconds + 0.5) : 0;
  if (total >= 3600)
    snprintf(text, capacity, "%ldh%02ldm", total / 3600, total / 60 % 60);
  else
    snprintf(text, capacity, "%ldm%02lds", total / 60, total % 60);
}

typedef struct progress_line {
  int live;          /* redraw one line on a terminal */
  double started;    /* when this run's training began */
  int64_t first_step;
  int64_t total_steps;
  double last_draw;
} progress_line;

static void draw_progress(progress_line *p, const train_method *method,
                          const train_options *o, int64_t epoch,
                          int64_t batch, int64_t batches, int64_t step,
                          int64_t images, double loss) {
  double now = now_seconds();
  if (!p->live || (now - p->last_draw < 0.25 && batch + 1 < batches))
    return;
  p->last_draw = now;
  double elapsed = now - p->started;
  int64_t done = step + 1 - p->first_step;
  char eta[32];
  format_duration(elapsed / (double)done * (double)(p->total_steps - step - 1),
                  eta, sizeof eta);
  fprintf(stderr, "\r\033[K[%s] epoch %lld/%d batch %lld/%lld %.0f img/s "
          "loss %.4f ETA %s", method->name, (long long)epoch + 1,
          (int)o->epochs, (long long)batch + 1, (long long)batches,
          (double)images / (elapsed > 0 ? elapsed : 1e-9), loss, eta);
  fflush(stderr);
}

static void print_epoch(const progress_line *p, const train_method *method,
                        const train_options *o, int64_t epoch,
                        const epoch_record *record, int64_t images) {
  if (p->live)
    fprintf(stderr, "\r\033[K");
  fprintf(stderr, "[%s] epoch %lld/%d loss %.4f %.1f s %.0f img/s\n",
          method->name, (long long)epoch + 1, (int)o->epochs,
          record->mean_loss, record->seconds,
          (double)images / (record->seconds > 0 ? record->seconds : 1e-9));
}

/* ---- one step ------------------------------------------------------------- */

/* A distinct augmentation seed for every global step. */
static uint64_t batch_seed(uint64_t seed, int64_t step) {
  return seed ^ ((uint64_t)step + 1) * 0x9E3779B97F4A7C15ull;
}

/* Trains on positions[first .. first + count) of the epoch; *loss receives
 * the batch loss. */
static int train_batch(const train_options *o, const prepared_data *d,
                       run_state *s, int64_t first, int64_t count,
                       int64_t step, double *loss, char *error,
                       size_t error_size) {
  const int64_t *split_indices = lb_split_indices(d->train);
  for (int64_t i = 0; i < count; i++)
    s->indices[i] = split_indices[s->positions[first + i]];
  int64_t shape[4] = {count, d->channels, d->height, d->width};
  lb_tensor *images = NULL;
  if (lb_tensor_wrap(4, shape, lb_tensor_data(s->images), &images) != LB_OK)
    return failed(error, error_size, "wrapping the batch");
  lb_augment augment = {o->crop_padding, o->flip};
  lb_status status = lb_dataset_batch(d->train_set, s->indices, count,
                                      &augment, batch_seed(o->seed, step),
                                      images, s->labels);
  lb_tensor_free(images);
  if (status != LB_OK)
    return failed(error, error_size, "making a batch");
  double lr = 0.0;
  if (lb_lr_at(&s->schedule, step, &lr) != LB_OK ||
      lb_optimizer_set_param(s->optimizer, LB_SGD_LEARNING_RATE, lr) != LB_OK)
    return failed(error, error_size, "setting the learning rate");
  if (lb_model_forward(s->model, lb_tensor_data(s->images), count, d->height,
                       d->width, s->logits) != LB_OK)
    return failed(error, error_size, "the forward pass");
  status = lb_criterion_compute(s->criterion, s->logits, s->labels, count,
                                loss, s->grad_logits);
  if (status == LB_ENONFINITE)
    return train_error(error, error_size, RUN_FAILED,
                  "training diverged at step %lld (%s); try a smaller --lr",
                  (long long)step, lb_last_error());
  if (status != LB_OK)
    return failed(error, error_size, "the criterion");
  if (lb_model_backward(s->model, s->grad_logits) != LB_OK)
    return failed(error, error_size, "the backward pass");
  if (lb_optimizer_step(s->optimizer) != LB_OK)
    return failed(error, error_size, "the optimizer step");
  return RUN_OK;
}

/* ---- epochs --------------------------------------------------------------- */

/* Draws the sampler's next epoch into s->positions. (A resumed run draws
 * the epochs it skips too, so it sees the epochs the uninterrupted run
 * would have.) */
static int draw_epoch(run_state *s, char *error, size_t error_size) {
  if (lb_sampler_next_epoch(s->sampler, s->positions,
                            lb_sampler_epoch_length(s->sampler)) != LB_OK)
    return failed(error, error_size, "drawing an epoch");
  return RUN_OK;
}

static int train_epochs(const train_options *o, const prepared_data *d,
                        const train_method *method, int progress,
                        run_state *s, int64_t start_step, method_result *r,
                        char *error, size_t error_size) {
  const int64_t epoch_length = lb_sampler_epoch_length(s->sampler);
  const int64_t start_epoch = start_step / s->steps_per_epoch;
  progress_line line = {progress, now_seconds(), start_step,
                        s->steps_per_epoch * o->epochs, 0.0};
  r->first_epoch = (int32_t)start_epoch;
  for (int64_t e = 0; e < start_epoch; e++)
    if (draw_epoch(s, error, error_size))
      return RUN_FAILED;
  int64_t step = start_step;
  for (int64_t epoch = start_epoch; epoch < o->epochs; epoch++) {
    if (draw_epoch(s, error, error_size))
      return RUN_FAILED;
    double epoch_start = now_seconds(), loss_sum = 0.0;
    int64_t images = 0;
    for (int64_t b = step % s->steps_per_epoch; b < s->steps_per_epoch;
         b++, step++) {
      int64_t first = b * o->batch;
      int64_t count = epoch_length - first < o->batch ? epoch_length - first
                                                      : o->batch;
      double loss = 0.0;
      int code = train_batch(o, d, s, first, count, step, &loss, error,
                             error_size);
      if (code)
        return code;
      loss_sum += loss * (double)count;
      images += count;
      r->images_seen += count;
      draw_progress(&line, method, o, epoch, b, s->steps_per_epoch, step,
                    r->images_seen, loss);
      if (stop_requested) {
        if (line.live)
          fprintf(stderr, "\n");
        code = save_checkpoint(o, method, s, epoch, step + 1, error,
                               error_size);
        return code ? code : RUN_INTERRUPTED;
      }
    }
    epoch_record *record = &r->epochs[r->epochs_done++];
    record->mean_loss = loss_sum / (double)(images ? images : 1);
    record->seconds = now_seconds() - epoch_start;
    r->train_seconds += record->seconds;
    print_epoch(&line, method, o, epoch, record, images);
    int code = save_checkpoint(o, method, s, epoch + 1, step, error,
                               error_size);
    if (code)
      return code;
  }
  return RUN_OK;
}

/* ---- evaluation ----------------------------------------------------------- */

static int evaluate(const prepared_data *d, run_state *s, method_result *r,
                    char *error, size_t error_size) {
  double started = now_seconds();
  if (lb_metrics_create(d->classes, &r->metrics) != LB_OK ||
      lb_metrics_set_train_counts(r->metrics, d->train_counts, d->classes) !=
          LB_OK)
    return failed(error, error_size, "creating the metrics");
  if (lb_model_set_training(s->model, 0) != LB_OK)
    return failed(error, error_size, "switching to evaluation");
  const int64_t total = lb_split_size(d->test);
  const int64_t *indices = lb_split_indices(d->test);
  for (int64_t first = 0; first < total; first += s->batch_capacity) {
    int64_t count = total - first < s->batch_capacity ? total - first
                                                      : s->batch_capacity;
    int64_t shape[4] = {count, d->channels, d->height, d->width};
    lb_tensor *images = NULL;
    lb_status status =
        lb_tensor_wrap(4, shape, lb_tensor_data(s->images), &images);
    if (status == LB_OK)
      status = lb_dataset_batch(d->test_set, indices + first, count, NULL, 0,
                                images, s->labels);
    lb_tensor_free(images);
    if (status == LB_OK)
      status = lb_model_predict(s->model, lb_tensor_data(s->images), count,
                                d->height, d->width, s->logits);
    if (status == LB_OK)
      status = lb_metrics_add_logits(r->metrics, s->logits, s->labels, count);
    if (status != LB_OK)
      return failed(error, error_size, "evaluating");
  }
  r->eval_seconds = now_seconds() - started;
  return RUN_OK;
}

int run_method(const train_options *o, const prepared_data *d,
               const train_method *method, int progress, method_result *r,
               char *error, size_t error_size) {
  memset(r, 0, sizeof *r);
  r->method = *method;
  r->epochs = calloc((size_t)o->epochs, sizeof *r->epochs);
  if (!r->epochs)
    return train_error(error, error_size, RUN_FAILED, "out of memory");
  run_state s;
  int code = create_run(o, d, method, &s, error, error_size);
  int64_t start_step = 0;
  if (code == RUN_OK) {
    r->epoch_length = lb_sampler_epoch_length(s.sampler);
    code = resume(o, method, &s, &start_step, error, error_size);
  }
  if (code == RUN_OK)
    code = train_epochs(o, d, method, progress, &s, start_step, r, error,
                        error_size);
  if (code == RUN_OK)
    code = evaluate(d, &s, r, error, error_size);
  free_state(&s);
  return code;
}

void free_method_result(method_result *r) {
  lb_metrics_free(r->metrics);
  free(r->epochs);
  memset(r, 0, sizeof *r);
}
