/*
 * A small, strict JSON scanner for file headers (safetensors). Never
 * installed.
 *
 * It works in two steps so that neither needs to allocate:
 *  1. lb_json_validate() checks the whole text once: one value surrounded by
 *     whitespace, made only of objects, arrays, strings and integers, strings
 *     valid UTF-8 with valid escapes, nesting at most LB_JSON_MAX_DEPTH deep.
 *     true, false, null and numbers with a fraction or an exponent are
 *     rejected: no header we read uses them.
 *  2. The navigation functions below walk text that step 1 accepted. They
 *     assume it is valid and never fail, which keeps the callers that
 *     interpret the document free of syntax errors.
 *
 * Values are named by the byte offset of their first character in the text.
 */
#ifndef LOSSBAL_NN_JSON_H
#define LOSSBAL_NN_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deep enough for any header; bounds the validator's recursion so that a
 * hostile "[[[[..." cannot exhaust the stack. */
#define LB_JSON_MAX_DEPTH 32

typedef enum lb_json_kind {
  LB_JSON_OBJECT,
  LB_JSON_ARRAY,
  LB_JSON_STRING,
  LB_JSON_INTEGER
} lb_json_kind;

/* Where and why validation stopped. `reason` is a static string. */
typedef struct lb_json_error {
  size_t offset;
  const char *reason;
} lb_json_error;

/* Step 1. True when text[0, length) is acceptable; otherwise false with
 * *error describing the first problem. On success *root is the offset of the
 * document's value (after leading whitespace). */
bool lb_json_validate(const char *text, size_t length, size_t *root,
                      lb_json_error *error);

/* True when the bytes are valid UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF). Used by writers that must only produce text the
 * validator accepts. */
bool lb_json_utf8_valid(const char *bytes, size_t length);

/* ---- step 2: navigation over validated text ------------------------------ */

/* These read past a scalar until its closing delimiter, so a scalar may only
 * be navigated inside a container (the root itself may be anything for
 * lb_json_kind_at()). */

lb_json_kind lb_json_kind_at(const char *text, size_t value);

/* Iterates the members of an object or the elements of an array. */
typedef struct lb_json_iter {
  const char *text;
  size_t position; /* the next member or element, or the closing bracket */
  bool object;     /* members have keys */
} lb_json_iter;

lb_json_iter lb_json_iter_begin(const char *text, size_t container);

/* Advances to the next member (objects: *key is its name, a string) or
 * element (arrays: *key is left alone) and sets *value; false at the end. */
bool lb_json_iter_next(lb_json_iter *iter, size_t *key, size_t *value);

/* Number of members or elements of a container. */
size_t lb_json_count(const char *text, size_t container);

/* The number of bytes the string value at `string` occupies between its
 * quotes. Its decoded form is never longer, so this plus one bounds the room
 * lb_json_string_decode() needs. */
size_t lb_json_string_raw_length(const char *text, size_t string);

/* Decodes the string value at `string` into out (escapes resolved, UTF-8,
 * NUL-terminated) and returns its length, which is less than the strlen() of
 * out when the string contains "\u0000". */
size_t lb_json_string_decode(const char *text, size_t string, char *out);

/* Reads the integer value at `integer`; false when it is negative or does not
 * fit in 64 bits. */
bool lb_json_integer_u64(const char *text, size_t integer, uint64_t *out);

#endif /* LOSSBAL_NN_JSON_H */
