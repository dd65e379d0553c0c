/* The text writers: every metric as JSON or as long-form CSV, into a
 * caller's buffer with snprintf's contract (write what fits, always
 * terminate, report the full length). */
#include "metrics_internal.h"

#include "../core/core_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the output buffer --------------------------------------------------- */

/* Text goes to buffer while it fits, leaving room for the terminating
 * zero; length counts every byte, written or not. */
typedef struct text_sink {
  char *buffer;
  size_t capacity;
  size_t length;
} text_sink;

static void sink_bytes(text_sink *sink, const char *bytes, size_t count) {
  size_t usable = sink->capacity > 0 ? sink->capacity - 1 : 0;
  if (sink->length < usable) {
    size_t room = usable - sink->length;
    memcpy(sink->buffer + sink->length, bytes, count < room ? count : room);
  }
  sink->length += count;
}

static void sink_text(text_sink *sink, const char *text) {
  sink_bytes(sink, text, strlen(text));
}

static void sink_char(text_sink *sink, char c) { sink_bytes(sink, &c, 1); }

static void sink_int(text_sink *sink, int64_t value) {
  char digits[24];
  snprintf(digits, sizeof digits, "%lld", (long long)value);
  sink_text(sink, digits);
}

/* Zero-terminates what was written: after the text, or at the last byte
 * when the text was cut. */
static void sink_finish(text_sink *sink) {
  if (sink->capacity == 0) return;
  size_t end = sink->length < sink->capacity ? sink->length
                                             : sink->capacity - 1;
  sink->buffer[end] = '\0';
}

/* ---- numbers ------------------------------------------------------------- */

/* printf writes the locale's decimal point (a comma in many locales), but
 * JSON and our CSV need '.'. Everything in %g output of a finite number
 * other than digits, signs and the exponent's 'e' is the decimal point, so
 * that run is replaced by '.'. */
static void use_period_as_decimal_point(char *text) {
  char *out = text;
  bool in_point = false;
  for (const char *in = text; *in != '\0'; in++) {
    if (strchr("0123456789+-e", *in) != NULL) {
      *out++ = *in;
      in_point = false;
    } else if (!in_point) {
      *out++ = '.';
      in_point = true;
    }
  }
  *out = '\0';
}

/* The shortest %g text, of 15 to 17 digits, that reads back as exactly
 * `value` (17 always does), so 0.1 stays "0.1" and nothing is lost. The
 * read-back happens before the decimal point is changed, in the same
 * locale as the writing. value is finite. */
static void format_double(double value, char *text, size_t capacity) {
  for (int digits = 15; digits <= 17; digits++) {
    snprintf(text, capacity, "%.*g", digits, value);
    if (strtod(text, NULL) == value) break;
  }
  use_period_as_decimal_point(text);
}

/* A finite value as a number; NaN (or any non-finite value) as
 * `missing`, which is "null" in JSON and "" in CSV. */
static void sink_double(text_sink *sink, double value, const char *missing) {
  if (!isfinite(value)) {
    sink_text(sink, missing);
    return;
  }
  char text[40];
  format_double(value, text, sizeof text);
  sink_text(sink, text);
}

/* ---- arguments and names ------------------------------------------------- */

static lb_status check_export_arguments(const char *who, const lb_metrics *m,
                                        const char *const *class_names,
                                        const char *buffer, size_t capacity,
                                        const size_t *length) {
  if (!m) return lb_fail(LB_EINVAL, "%s: m is NULL", who);
  if (!length) return lb_fail(LB_EINVAL, "%s: length is NULL", who);
  if (!buffer && capacity > 0)
    return lb_fail(LB_EINVAL, "%s: buffer is NULL but capacity is %zu", who,
                   capacity);
  for (int32_t c = 0; class_names && c < m->num_classes; c++)
    if (!class_names[c])
      return lb_fail(LB_EINVAL, "%s: class_names[%d] is NULL", who, (int)c);
  return LB_OK;
}

/* The name of class c: the caller's, or its index in decimal, written into
 * `scratch`. */
static const char *class_name(const char *const *class_names, int32_t c,
                              char *scratch, size_t scratch_capacity) {
  if (class_names) return class_names[c];
  snprintf(scratch, scratch_capacity, "%d", (int)c);
  return scratch;
}

/* The per-class metrics by the names both writers use. */
static const char *const class_metric_names[LB_CLASS_METRIC_COUNT] = {
    [LB_CLASS_PRECISION] = "precision", [LB_CLASS_RECALL] = "recall",
    [LB_CLASS_F1] = "f1", [LB_CLASS_SUPPORT] = "support"};

/* Which scalars a writer reports: those that need the training counts only
 * when they are set. */
static bool scalar_is_reported(const lb_metrics *m, lb_metric which) {
  return m->has_train_counts || !lb_metrics_needs_train_counts(which);
}

/* ---- JSON ---------------------------------------------------------------- */

/* A JSON string: quote, backslash and control characters escaped; every
 * other byte, UTF-8 included, as it is. */
static void sink_json_string(text_sink *sink, const char *text) {
  sink_char(sink, '"');
  for (const unsigned char *p = (const unsigned char *)text; *p != '\0';
       p++) {
    switch (*p) {
      case '"': sink_text(sink, "\\\""); break;
      case '\\': sink_text(sink, "\\\\"); break;
      case '\b': sink_text(sink, "\\b"); break;
      case '\f': sink_text(sink, "\\f"); break;
      case '\n': sink_text(sink, "\\n"); break;
      case '\r': sink_text(sink, "\\r"); break;
      case '\t': sink_text(sink, "\\t"); break;
      default:
        if (*p < 0x20) {
          char escape[8];
          snprintf(escape, sizeof escape, "\\u%04x", (unsigned)*p);
          sink_text(sink, escape);
        } else {
          sink_char(sink, (char)*p);
        }
    }
  }
  sink_char(sink, '"');
}

static void sink_json_key(text_sink *sink, const char *key) {
  sink_json_string(sink, key);
  sink_text(sink, ": ");
}

static void json_scalars(text_sink *sink, const lb_metrics *m) {
  for (int which = 0; which < LB_METRIC_COUNT; which++) {
    if (!scalar_is_reported(m, (lb_metric)which)) continue;
    sink_text(sink, "  ");
    sink_json_key(sink, lb_metrics_scalar_name((lb_metric)which));
    sink_double(sink, lb_metrics_scalar_value(m, (lb_metric)which), "null");
    sink_text(sink, ",\n");
  }
  sink_text(sink, "  ");
  sink_json_key(sink, "total");
  sink_int(sink, m->total);
  sink_text(sink, ",\n");
}

/* One object per class, one class per line. */
static void json_classes(text_sink *sink, const lb_metrics *m,
                         const char *const *class_names) {
  char scratch[16];
  sink_text(sink, "  \"classes\": [\n");
  for (int32_t c = 0; c < m->num_classes; c++) {
    sink_text(sink, "    {");
    sink_json_key(sink, "name");
    sink_json_string(sink,
                     class_name(class_names, c, scratch, sizeof scratch));
    for (int which = 0; which < LB_CLASS_METRIC_COUNT; which++) {
      sink_text(sink, ", ");
      sink_json_key(sink, class_metric_names[which]);
      if (which == LB_CLASS_SUPPORT)
        sink_int(sink, m->true_count[c]);
      else
        sink_double(sink,
                    lb_metrics_class_value(m, (lb_class_metric)which, c),
                    "null");
    }
    if (m->has_train_counts) {
      sink_text(sink, ", ");
      sink_json_key(sink, "train_count");
      sink_int(sink, m->train_counts[c]);
    }
    sink_text(sink, c + 1 < m->num_classes ? "},\n" : "}\n");
  }
  sink_text(sink, "  ],\n");
}

/* One array per row of the matrix, one row per line. */
static void json_confusion(text_sink *sink, const lb_metrics *m) {
  size_t k = (size_t)m->num_classes;
  sink_text(sink, "  \"confusion\": [\n");
  for (size_t row = 0; row < k; row++) {
    sink_text(sink, "    [");
    for (size_t col = 0; col < k; col++) {
      if (col > 0) sink_text(sink, ", ");
      sink_int(sink, m->confusion[row * k + col]);
    }
    sink_text(sink, row + 1 < k ? "],\n" : "]\n");
  }
  sink_text(sink, "  ]\n");
}

lb_status lb_metrics_to_json(const lb_metrics *m,
                             const char *const *class_names, char *buffer,
                             size_t capacity, size_t *length) {
  lb_status status = check_export_arguments("lb_metrics_to_json", m,
                                            class_names, buffer, capacity,
                                            length);
  if (status != LB_OK) return status;
  text_sink sink = {buffer, capacity, 0};
  sink_text(&sink, "{\n");
  json_scalars(&sink, m);
  json_classes(&sink, m, class_names);
  json_confusion(&sink, m);
  sink_text(&sink, "}\n");
  sink_finish(&sink);
  *length = sink.length;
  return LB_OK;
}

/* ---- CSV ----------------------------------------------------------------- */

/* A field as RFC 4180 asks: quoted, with quotes doubled, when it holds a
 * comma, a quote or a line break; as it is otherwise. */
static void sink_csv_field(text_sink *sink, const char *text) {
  if (strpbrk(text, ",\"\r\n") == NULL) {
    sink_text(sink, text);
    return;
  }
  sink_char(sink, '"');
  for (const char *p = text; *p != '\0'; p++) {
    if (*p == '"') sink_char(sink, '"');
    sink_char(sink, *p);
  }
  sink_char(sink, '"');
}

/* One line `metric,class,` before its value; the class may be empty. */
static void sink_csv_line_start(text_sink *sink, const char *metric,
                                const char *class_field) {
  sink_text(sink, metric);
  sink_char(sink, ',');
  sink_csv_field(sink, class_field);
  sink_char(sink, ',');
}

static void csv_scalars(text_sink *sink, const lb_metrics *m) {
  for (int which = 0; which < LB_METRIC_COUNT; which++) {
    if (!scalar_is_reported(m, (lb_metric)which)) continue;
    sink_csv_line_start(sink, lb_metrics_scalar_name((lb_metric)which), "");
    sink_double(sink, lb_metrics_scalar_value(m, (lb_metric)which), "");
    sink_text(sink, "\r\n");
  }
}

static void csv_class(text_sink *sink, const lb_metrics *m, int32_t c,
                      const char *name) {
  for (int which = 0; which < LB_CLASS_METRIC_COUNT; which++) {
    sink_csv_line_start(sink, class_metric_names[which], name);
    if (which == LB_CLASS_SUPPORT)
      sink_int(sink, m->true_count[c]);
    else
      sink_double(sink, lb_metrics_class_value(m, (lb_class_metric)which, c),
                  "");
    sink_text(sink, "\r\n");
  }
  if (m->has_train_counts) {
    sink_csv_line_start(sink, "train_count", name);
    sink_int(sink, m->train_counts[c]);
    sink_text(sink, "\r\n");
  }
}

lb_status lb_metrics_to_csv(const lb_metrics *m,
                            const char *const *class_names, char *buffer,
                            size_t capacity, size_t *length) {
  lb_status status = check_export_arguments("lb_metrics_to_csv", m,
                                            class_names, buffer, capacity,
                                            length);
  if (status != LB_OK) return status;
  text_sink sink = {buffer, capacity, 0};
  char scratch[16];
  sink_text(&sink, "metric,class,value\r\n");
  csv_scalars(&sink, m);
  for (int32_t c = 0; c < m->num_classes; c++)
    csv_class(&sink, m, c,
              class_name(class_names, c, scratch, sizeof scratch));
  sink_finish(&sink);
  *length = sink.length;
  return LB_OK;
}
