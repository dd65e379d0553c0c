/*
 * Parsing lossbal-train's flags: `--name value` or `--name=value`, each
 * checked for range as it is read, so that a mistake is reported as one
 * line naming the flag.
 */
#include "options.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: lossbal-train [options]\n"
    "\n"
    "Trains a ResNet on an imbalanced split and reports the metrics of\n"
    "imbalanced classification; --compare trains several methods on the same\n"
    "split and prints them side by side.\n"
    "\n"
    "data:\n"
    "  --data fashion-mnist[:DIR] | mnist:DIR | folder:DIR\n"
    "                         IDX files (plain or .gz), or an image folder\n"
    "                         root/<class>/<image> of PNG and JPEG files\n"
    "                         (default fashion-mnist from\n"
    "                         " LB_FASHION_MNIST_DIR ")\n"
    "  --image-size N         folder: resize every image to N x N (default:\n"
    "                         the most common size)\n"
    "  --channels 1|3         folder: gray or colour (default: what most\n"
    "                         images are)\n"
    "  --profile caltech|part1|part2|N,N,...\n"
    "                         training images per class: the paper's Table 1\n"
    "                         profiles or your own counts for classes 0, 1, ...\n"
    "  --long-tail exp:RHO | step:RHO\n"
    "                         long-tailed profile over all classes with\n"
    "                         imbalance ratio RHO (largest / smallest)\n"
    "                         (default: every training image)\n"
    "  --test-per-class N     balanced test images per class (default: the\n"
    "                         profile's; else every test image, or 1/5 of the\n"
    "                         smallest class of a folder, held out of it)\n"
    "\n"
    "model and training:\n"
    "  --arch resnet18|resnet34|resnet50|resnet101|resnet152 (default resnet18)\n"
    "  --width N              base width, 64 in torchvision (default 16)\n"
    "  --loss ce|pe|le|focal|cb|la|ldam   (default le)\n"
    "  --sampler random|oversample|undersample|class-balanced|sqrt\n"
    "                         (default random)\n"
    "  --compare M,M,...      methods side by side, each a name of\n"
    "                         ce (CE), os (CE + oversampling), us (CE +\n"
    "                         undersampling), pe (prior-weighted CE), le (loss\n"
    "                         balance), focal, cb, la, ldam, cbs (CE +\n"
    "                         class-balanced sampling), sqrt (CE + square-root\n"
    "                         sampling); e.g. --compare ce,os,pe,le\n"
    "  --epochs N             (default 15)\n"
    "  --batch N              (default 64)\n"
    "  --lr X                 base learning rate (default 0.05)\n"
    "  --momentum X           (default 0.9)\n"
    "  --weight-decay X       (default 5e-4)\n"
    "  --schedule cosine|step|constant\n"
    "                         per-step cosine to 0, or x0.1 at 1/2 and 3/4 of\n"
    "                         the steps (default cosine)\n"
    "  --augment none|crop:P|flip|crop:P,flip\n"
    "                         random crop with P pixels of padding and/or\n"
    "                         horizontal flip (default none)\n"
    "  --seed N               seeds the split, sampler, augmentation and\n"
    "                         initialisation (default 1)\n"
    "  --threads N            (default: one per CPU)\n"
    "\n"
    "output:\n"
    "  --json FILE            configuration, per-epoch loss and time, metrics\n"
    "  --plots DIR            PNG figures: confusion matrices, per-class F1 by\n"
    "                         method, training loss curves\n"
    "  --checkpoint FILE      save model and optimizer after every epoch and\n"
    "                         on Ctrl-C (FILE.<method> with --compare)\n"
    "  --resume FILE          continue from a checkpoint of the same flags\n"
    "  --progress auto|always|never\n"
    "                         a live progress line on stderr (default auto: on\n"
    "                         a terminal; one summary line per epoch otherwise)\n"
    "  --help                 this text\n"
    "\n"
    "Exit status: 0 done, 1 a failure while running, 2 a bad flag or missing\n"
    "or unsuitable data, 130 stopped by Ctrl-C (after the current batch, with\n"
    "a checkpoint when --checkpoint was given).\n";

void print_usage(FILE *out) { fputs(usage_text, out); }

const char *loss_name(lb_loss_kind loss) {
  switch (loss) {
  case LB_LOSS_CE: return "ce";
  case LB_LOSS_PRIOR_WEIGHTED: return "pe";
  case LB_LOSS_BATCH_BALANCED: return "le";
  case LB_LOSS_FOCAL: return "focal";
  case LB_LOSS_CLASS_BALANCED: return "cb";
  case LB_LOSS_LOGIT_ADJUSTED: return "la";
  case LB_LOSS_LDAM: return "ldam";
  }
  return "?";
}

const char *sampler_name(lb_sampler_kind sampler) {
  switch (sampler) {
  case LB_SAMPLER_SEQUENTIAL: return "sequential";
  case LB_SAMPLER_SHUFFLE: return "random";
  case LB_SAMPLER_OVERSAMPLE: return "oversample";
  case LB_SAMPLER_UNDERSAMPLE: return "undersample";
  case LB_SAMPLER_CLASS_BALANCED: return "class-balanced";
  case LB_SAMPLER_POWER: return "sqrt";
  case LB_SAMPLER_WEIGHTED: return "weighted";
  }
  return "?";
}

const char *schedule_name(schedule_kind schedule) {
  switch (schedule) {
  case SCHEDULE_COSINE: return "cosine";
  case SCHEDULE_STEP: return "step";
  case SCHEDULE_CONSTANT: return "constant";
  }
  return "?";
}

/* ---- values --------------------------------------------------------------- */

typedef struct parser {
  char *error;
  size_t error_size;
} parser;

int train_error(char *error, size_t error_size, int code, const char *fmt,
                ...) {
  va_list args;
  va_start(args, fmt);
  vsnprintf(error, error_size, fmt, args);
  va_end(args);
  return code;
}

#define reject(p, ...) train_error((p)->error, (p)->error_size, -1, __VA_ARGS__)

static int parse_integer(parser *p, const char *flag, const char *text,
                         long long low, long long high, long long *value) {
  char *end = NULL;
  errno = 0;
  long long parsed = strtoll(text, &end, 10);
  if (errno || end == text || *end != '\0' || parsed < low || parsed > high)
    return reject(p, "%s: '%s' is not a whole number from %lld to %lld", flag,
                  text, low, high);
  *value = parsed;
  return 0;
}

static int parse_int32(parser *p, const char *flag, const char *text,
                       long long low, long long high, int32_t *value) {
  long long parsed = 0;
  if (parse_integer(p, flag, text, low, high, &parsed))
    return -1;
  *value = (int32_t)parsed;
  return 0;
}

static int parse_real(parser *p, const char *flag, const char *text,
                      double low, double high, double *value) {
  char *end = NULL;
  errno = 0;
  double parsed = strtod(text, &end);
  if (errno || end == text || *end != '\0' || !isfinite(parsed) ||
      parsed < low || parsed > high)
    return reject(p, "%s: '%s' is not a number from %g to %g", flag, text,
                  low, high);
  *value = parsed;
  return 0;
}

static int copy_path(parser *p, const char *flag, const char *text,
                     char *target) {
  size_t length = strlen(text);
  if (length == 0 || length >= TRAIN_PATH_MAX)
    return reject(p, "%s: the path is empty or too long", flag);
  memcpy(target, text, length + 1);
  return 0;
}

/* ---- compound values ------------------------------------------------------ */

static int parse_data(parser *p, const char *text, train_options *o) {
  const char *colon = strchr(text, ':');
  size_t kind_length = colon ? (size_t)(colon - text) : strlen(text);
  const char *dir = colon ? colon + 1 : "";
  if (kind_length == 13 && strncmp(text, "fashion-mnist", 13) == 0)
    o->data = DATA_FASHION_MNIST;
  else if (kind_length == 5 && strncmp(text, "mnist", 5) == 0)
    o->data = DATA_MNIST;
  else if (kind_length == 6 && strncmp(text, "folder", 6) == 0)
    o->data = DATA_FOLDER;
  else
    return reject(p, "--data: '%s' is not fashion-mnist[:DIR], mnist:DIR or "
                  "folder:DIR", text);
  if (o->data != DATA_FASHION_MNIST && dir[0] == '\0')
    return reject(p, "--data: '%s' needs a directory after the colon", text);
  if (dir[0] == '\0') {
    o->data_dir[0] = '\0';
    return 0;
  }
  return copy_path(p, "--data", dir, o->data_dir);
}

static int parse_counts(parser *p, const char *text, train_options *o) {
  o->count_classes = 0;
  const char *cursor = text;
  for (;;) {
    char *end = NULL;
    errno = 0;
    long long count = strtoll(cursor, &end, 10);
    if (errno || end == cursor || count < 1 || count > INT32_MAX)
      return reject(p, "--profile: '%s' is not caltech, part1, part2 or a "
                    "list of counts of at least 1 like 500,100,20", text);
    if (o->count_classes == TRAIN_MAX_CLASSES)
      return reject(p, "--profile: more than %d counts", TRAIN_MAX_CLASSES);
    o->counts[o->count_classes++] = count;
    if (*end == '\0')
      break;
    if (*end != ',')
      return reject(p, "--profile: unexpected '%c' in '%s'", *end, text);
    cursor = end + 1;
  }
  if (o->count_classes < 2)
    return reject(p, "--profile: give counts for at least 2 classes");
  o->profile = PROFILE_COUNTS;
  return 0;
}

static int parse_profile(parser *p, const char *text, train_options *o) {
  int32_t classes = 0;
  if (lb_profile_counts(text, NULL, 0, &classes, NULL) == LB_OK) {
    o->profile = PROFILE_NAMED;
    snprintf(o->profile_name, sizeof o->profile_name, "%s", text);
    return 0;
  }
  return parse_counts(p, text, o);
}

static int parse_long_tail(parser *p, const char *text, train_options *o) {
  if (strncmp(text, "exp:", 4) == 0)
    o->long_tail = LB_LONG_TAIL_EXP;
  else if (strncmp(text, "step:", 5) == 0)
    o->long_tail = LB_LONG_TAIL_STEP;
  else
    return reject(p, "--long-tail: '%s' is not exp:RHO or step:RHO", text);
  o->profile = PROFILE_LONG_TAIL;
  return parse_real(p, "--long-tail", strchr(text, ':') + 1, 1.0, 1e9,
                    &o->rho);
}

static int parse_arch(parser *p, const char *text, train_options *o) {
  static const int32_t depths[] = {18, 34, 50, 101, 152};
  for (size_t i = 0; i < sizeof depths / sizeof *depths; i++) {
    char name[16];
    snprintf(name, sizeof name, "resnet%d", (int)depths[i]);
    if (strcmp(text, name) == 0) {
      o->depth = depths[i];
      return 0;
    }
  }
  return reject(p, "--arch: '%s' is not resnet18, resnet34, resnet50, "
                "resnet101 or resnet152", text);
}

static int lookup_loss(const char *text, lb_loss_kind *loss) {
  for (int kind = LB_LOSS_CE; kind <= LB_LOSS_LDAM; kind++)
    if (strcmp(text, loss_name((lb_loss_kind)kind)) == 0) {
      *loss = (lb_loss_kind)kind;
      return 0;
    }
  return -1;
}

static int lookup_sampler(const char *text, lb_sampler_kind *sampler) {
  for (int kind = LB_SAMPLER_SEQUENTIAL; kind <= LB_SAMPLER_WEIGHTED; kind++)
    if (kind != LB_SAMPLER_WEIGHTED &&
        strcmp(text, sampler_name((lb_sampler_kind)kind)) == 0) {
      *sampler = (lb_sampler_kind)kind;
      return 0;
    }
  return -1;
}

/* The methods of --compare: a loss name alone (with random sampling), or
 * one of the sampling methods of the paper's comparison. */
static int lookup_method(const char *name, train_method *method) {
  static const struct {
    const char *name;
    lb_loss_kind loss;
    lb_sampler_kind sampler;
  } sampling_methods[] = {
      {"os", LB_LOSS_CE, LB_SAMPLER_OVERSAMPLE},
      {"us", LB_LOSS_CE, LB_SAMPLER_UNDERSAMPLE},
      {"cbs", LB_LOSS_CE, LB_SAMPLER_CLASS_BALANCED},
      {"sqrt", LB_LOSS_CE, LB_SAMPLER_POWER},
  };
  snprintf(method->name, sizeof method->name, "%s", name);
  method->sampler = LB_SAMPLER_SHUFFLE;
  if (lookup_loss(name, &method->loss) == 0)
    return 0;
  for (size_t i = 0; i < sizeof sampling_methods / sizeof *sampling_methods;
       i++)
    if (strcmp(name, sampling_methods[i].name) == 0) {
      method->loss = sampling_methods[i].loss;
      method->sampler = sampling_methods[i].sampler;
      return 0;
    }
  return -1;
}

static int parse_compare(parser *p, const char *text, train_options *o) {
  char list[256];
  if (strlen(text) >= sizeof list)
    return reject(p, "--compare: the list is too long");
  snprintf(list, sizeof list, "%s", text);
  o->method_count = 0;
  char *save = NULL;
  for (char *name = strtok_r(list, ",", &save); name;
       name = strtok_r(NULL, ",", &save)) {
    if (o->method_count == TRAIN_MAX_METHODS)
      return reject(p, "--compare: more than %d methods", TRAIN_MAX_METHODS);
    train_method *method = &o->methods[o->method_count];
    if (lookup_method(name, method))
      return reject(p, "--compare: '%s' is not a method (ce, os, us, pe, le, "
                    "focal, cb, la, ldam, cbs, sqrt)", name);
    for (int32_t i = 0; i < o->method_count; i++)
      if (strcmp(o->methods[i].name, name) == 0)
        return reject(p, "--compare: '%s' is listed twice", name);
    o->method_count++;
  }
  if (o->method_count == 0)
    return reject(p, "--compare: no method given");
  return 0;
}

static int parse_augment(parser *p, const char *text, train_options *o) {
  o->crop_padding = 0;
  o->flip = 0;
  if (strcmp(text, "none") == 0)
    return 0;
  char list[64];
  if (strlen(text) >= sizeof list)
    return reject(p, "--augment: '%s' is too long", text);
  snprintf(list, sizeof list, "%s", text);
  char *save = NULL;
  for (char *item = strtok_r(list, ",", &save); item;
       item = strtok_r(NULL, ",", &save)) {
    if (strcmp(item, "flip") == 0) {
      o->flip = 1;
    } else if (strncmp(item, "crop:", 5) == 0) {
      if (parse_int32(p, "--augment crop", item + 5, 1, 1024,
                      &o->crop_padding))
        return -1;
    } else {
      return reject(p, "--augment: '%s' is not none, crop:P or flip", item);
    }
  }
  return 0;
}

static int parse_choice(parser *p, const char *flag, const char *text,
                        const char *const *choices, int count, int *value) {
  for (int i = 0; i < count; i++)
    if (strcmp(text, choices[i]) == 0) {
      *value = i;
      return 0;
    }
  return reject(p, "%s: '%s' is not one of the documented values (see "
                "--help)", flag, text);
}

/* ---- the flags ------------------------------------------------------------ */

static void set_defaults(train_options *o) {
  memset(o, 0, sizeof *o);
  o->data = DATA_FASHION_MNIST;
  o->profile = PROFILE_NONE;
  o->depth = 18;
  o->width = 16;
  o->methods[0] = (train_method){"le", LB_LOSS_BATCH_BALANCED,
                                 LB_SAMPLER_SHUFFLE};
  o->method_count = 1;
  o->epochs = 15;
  o->batch = 64;
  o->lr = 0.05;
  o->momentum = 0.9;
  o->weight_decay = 5e-4;
  o->schedule = SCHEDULE_COSINE;
  o->seed = 1;
  o->progress = -1;
}

/* Applies one flag with its value; returns 0, or -1 with the error set. */
static int apply_flag(parser *p, const char *flag, const char *value,
                      train_options *o, int *loss_set, int *sampler_set,
                      int *compare_set) {
  long long seed = 0;
  if (strcmp(flag, "--data") == 0)
    return parse_data(p, value, o);
  if (strcmp(flag, "--image-size") == 0)
    /* Square images: N x N must stay within LB_IMAGE_MAX_PIXELS. */
    return parse_int32(p, flag, value, 1, 16384, &o->image_size);
  if (strcmp(flag, "--channels") == 0) {
    if (strcmp(value, "1") && strcmp(value, "3"))
      return reject(p, "--channels: '%s' is not 1 or 3", value);
    o->channels = value[0] - '0';
    return 0;
  }
  if (strcmp(flag, "--profile") == 0)
    return parse_profile(p, value, o);
  if (strcmp(flag, "--long-tail") == 0)
    return parse_long_tail(p, value, o);
  if (strcmp(flag, "--test-per-class") == 0) {
    long long n = 0;
    if (parse_integer(p, flag, value, 1, INT32_MAX, &n))
      return -1;
    o->test_per_class = n;
    return 0;
  }
  if (strcmp(flag, "--arch") == 0)
    return parse_arch(p, value, o);
  if (strcmp(flag, "--width") == 0)
    return parse_int32(p, flag, value, 1, 4096, &o->width);
  if (strcmp(flag, "--loss") == 0) {
    *loss_set = 1;
    if (lookup_loss(value, &o->methods[0].loss))
      return reject(p, "--loss: '%s' is not ce, pe, le, focal, cb, la or "
                    "ldam", value);
    return 0;
  }
  if (strcmp(flag, "--sampler") == 0) {
    *sampler_set = 1;
    if (lookup_sampler(value, &o->methods[0].sampler))
      return reject(p, "--sampler: '%s' is not random, oversample, "
                    "undersample, class-balanced or sqrt", value);
    return 0;
  }
  if (strcmp(flag, "--compare") == 0) {
    *compare_set = 1;
    return parse_compare(p, value, o);
  }
  if (strcmp(flag, "--epochs") == 0)
    return parse_int32(p, flag, value, 1, 100000, &o->epochs);
  if (strcmp(flag, "--batch") == 0)
    return parse_int32(p, flag, value, 1, 65536, &o->batch);
  if (strcmp(flag, "--lr") == 0)
    return parse_real(p, flag, value, 1e-12, 100.0, &o->lr);
  if (strcmp(flag, "--momentum") == 0)
    return parse_real(p, flag, value, 0.0, 0.999999, &o->momentum);
  if (strcmp(flag, "--weight-decay") == 0)
    return parse_real(p, flag, value, 0.0, 1.0, &o->weight_decay);
  if (strcmp(flag, "--schedule") == 0) {
    static const char *const names[] = {"cosine", "step", "constant"};
    int choice = 0;
    if (parse_choice(p, flag, value, names, 3, &choice))
      return -1;
    o->schedule = (schedule_kind)choice;
    return 0;
  }
  if (strcmp(flag, "--augment") == 0)
    return parse_augment(p, value, o);
  if (strcmp(flag, "--seed") == 0) {
    if (parse_integer(p, flag, value, 0, INT64_MAX, &seed))
      return -1;
    o->seed = (uint64_t)seed;
    return 0;
  }
  if (strcmp(flag, "--threads") == 0)
    return parse_int32(p, flag, value, 1, 1024, &o->threads);
  if (strcmp(flag, "--json") == 0)
    return copy_path(p, flag, value, o->json_path);
  if (strcmp(flag, "--plots") == 0)
    return copy_path(p, flag, value, o->plots_dir);
  if (strcmp(flag, "--checkpoint") == 0)
    return copy_path(p, flag, value, o->checkpoint_path);
  if (strcmp(flag, "--resume") == 0)
    return copy_path(p, flag, value, o->resume_path);
  if (strcmp(flag, "--progress") == 0) {
    static const char *const names[] = {"never", "always", "auto"};
    int choice = 0;
    if (parse_choice(p, flag, value, names, 3, &choice))
      return -1;
    o->progress = choice == 2 ? -1 : choice;
    return 0;
  }
  return reject(p, "unknown flag '%s' (see --help)", flag);
}

/* Checks that flags which go together were given together. */
static int check_combination(parser *p, const train_options *o, int loss_set,
                             int sampler_set, int compare_set,
                             int profile_flags) {
  if (compare_set && (loss_set || sampler_set))
    return reject(p, "--compare names whole methods; drop --loss and "
                  "--sampler");
  if (profile_flags > 1)
    return reject(p, "give one of --profile and --long-tail");
  if (o->data != DATA_FOLDER && (o->image_size || o->channels))
    return reject(p, "--image-size and --channels apply to --data folder:DIR");
  return 0;
}

parse_result parse_options(int argc, char **argv, train_options *options,
                           char *error, size_t error_size) {
  parser p = {error, error_size};
  set_defaults(options);
  int loss_set = 0, sampler_set = 0, compare_set = 0, profile_flags = 0;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
      return PARSE_HELP;
    if (strncmp(arg, "--", 2) != 0) {
      reject(&p, "unexpected argument '%s' (flags start with --)", arg);
      return PARSE_ERROR;
    }
    char flag[64];
    const char *value = NULL;
    const char *equals = strchr(arg, '=');
    if (equals) {
      size_t length = (size_t)(equals - arg);
      if (length >= sizeof flag) {
        reject(&p, "unknown flag '%s' (see --help)", arg);
        return PARSE_ERROR;
      }
      memcpy(flag, arg, length);
      flag[length] = '\0';
      value = equals + 1;
    } else {
      snprintf(flag, sizeof flag, "%s", arg);
      if (i + 1 >= argc) {
        reject(&p, "%s needs a value (see --help)", flag);
        return PARSE_ERROR;
      }
      value = argv[++i];
    }
    profile_flags += strcmp(flag, "--profile") == 0 ||
                     strcmp(flag, "--long-tail") == 0;
    if (apply_flag(&p, flag, value, options, &loss_set, &sampler_set,
                   &compare_set))
      return PARSE_ERROR;
  }
  if (!compare_set)
    snprintf(options->methods[0].name, sizeof options->methods[0].name,
             options->methods[0].sampler == LB_SAMPLER_SHUFFLE ? "%s"
                                                               : "%s+%s",
             loss_name(options->methods[0].loss),
             sampler_name(options->methods[0].sampler));
  if (check_combination(&p, options, loss_set, sampler_set, compare_set,
                        profile_flags))
    return PARSE_ERROR;
  return PARSE_RUN;
}
