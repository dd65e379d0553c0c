/* The strict JSON scanner: validation, then navigation over valid text. */
#include "json.h"

/* ---- shared by both steps ------------------------------------------------ */

static bool is_whitespace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool is_continuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

/* The length (1 to 4) of the well-formed UTF-8 sequence at s, of which
 * `available` bytes exist, or 0 when it is malformed. The ranges are those of
 * the Unicode standard's table of well-formed sequences, which excludes
 * overlong forms, UTF-16 surrogates and code points above U+10FFFF. */
static size_t utf8_sequence_length(const unsigned char *s, size_t available) {
  unsigned char lead = s[0];
  if (lead < 0x80) return 1;
  size_t length;
  unsigned char second_min = 0x80, second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;
    if (lead == 0xED) second_max = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;
    if (lead == 0xF4) second_max = 0x8F;
  } else {
    return 0;
  }
  if (available < length) return 0;
  if (s[1] < second_min || s[1] > second_max) return 0;
  for (size_t i = 2; i < length; i++)
    if (!is_continuation(s[i])) return 0;
  return length;
}

bool lb_json_utf8_valid(const char *bytes, size_t length) {
  const unsigned char *s = (const unsigned char *)bytes;
  size_t i = 0;
  while (i < length) {
    size_t step = utf8_sequence_length(s + i, length - i);
    if (step == 0) return false;
    i += step;
  }
  return true;
}

/* The value of the four hex digits at p, or -1 when one is not a hex digit. */
static int32_t hex4(const char *p) {
  int32_t value = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    int32_t digit;
    if (c >= '0' && c <= '9') digit = c - '0';
    else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    else return -1;
    value = value * 16 + digit;
  }
  return value;
}

static bool is_high_surrogate(int32_t unit) { return unit >= 0xD800 && unit <= 0xDBFF; }
static bool is_low_surrogate(int32_t unit) { return unit >= 0xDC00 && unit <= 0xDFFF; }

/* ---- step 1: validation -------------------------------------------------- */

typedef struct validator {
  const char *text;
  size_t length;
  size_t position;
  lb_json_error *error;
} validator;

static bool reject(validator *v, const char *reason) {
  v->error->offset = v->position;
  v->error->reason = reason;
  return false;
}

static bool at_end(const validator *v) { return v->position >= v->length; }

static char current(const validator *v) { return v->text[v->position]; }

static void skip_whitespace(validator *v) {
  while (!at_end(v) && is_whitespace(current(v))) v->position++;
}

/* Checks "\uXXXX" at the current position (the backslash) and, for a high
 * surrogate, the "\uXXXX" low surrogate that must follow it. */
static bool validate_unicode_escape(validator *v) {
  if (v->length - v->position < 6) return reject(v, "truncated \\u escape");
  int32_t unit = hex4(v->text + v->position + 2);
  if (unit < 0) return reject(v, "\\u must be followed by four hex digits");
  if (is_low_surrogate(unit)) return reject(v, "unpaired UTF-16 surrogate");
  v->position += 6;
  if (!is_high_surrogate(unit)) return true;
  if (v->length - v->position < 6 || v->text[v->position] != '\\' ||
      v->text[v->position + 1] != 'u' ||
      !is_low_surrogate(hex4(v->text + v->position + 2)))
    return reject(v, "unpaired UTF-16 surrogate");
  v->position += 6;
  return true;
}

static bool validate_escape(validator *v) {
  if (v->length - v->position < 2) return reject(v, "unterminated string");
  switch (v->text[v->position + 1]) {
  case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
    v->position += 2;
    return true;
  case 'u':
    return validate_unicode_escape(v);
  default:
    return reject(v, "invalid escape sequence");
  }
}

/* At the opening quote. */
static bool validate_string(validator *v) {
  v->position++;
  for (;;) {
    if (at_end(v)) return reject(v, "unterminated string");
    unsigned char c = (unsigned char)current(v);
    if (c == '"') {
      v->position++;
      return true;
    }
    if (c == '\\') {
      if (!validate_escape(v)) return false;
    } else if (c < 0x20) {
      return reject(v, "control character in a string");
    } else {
      size_t step = utf8_sequence_length((const unsigned char *)v->text + v->position,
                                         v->length - v->position);
      if (step == 0) return reject(v, "invalid UTF-8 in a string");
      v->position += step;
    }
  }
}

/* At the '-' or first digit. JSON's grammar: -?(0|[1-9][0-9]*). */
static bool validate_integer(validator *v) {
  if (current(v) == '-') v->position++;
  if (at_end(v) || !is_digit(current(v))) return reject(v, "expected a digit");
  bool leading_zero = current(v) == '0';
  v->position++;
  if (leading_zero && !at_end(v) && is_digit(current(v)))
    return reject(v, "a number must not start with 0");
  while (!at_end(v) && is_digit(current(v))) v->position++;
  if (!at_end(v) && (current(v) == '.' || current(v) == 'e' || current(v) == 'E'))
    return reject(v, "only integers are supported");
  return true;
}

static bool validate_value(validator *v, int depth);

/* At the '{'. `depth` counts the containers around this one. */
static bool validate_object(validator *v, int depth) {
  if (depth >= LB_JSON_MAX_DEPTH) return reject(v, "nested too deeply");
  v->position++;
  skip_whitespace(v);
  if (!at_end(v) && current(v) == '}') {
    v->position++;
    return true;
  }
  for (;;) {
    if (at_end(v) || current(v) != '"') return reject(v, "expected a string key");
    if (!validate_string(v)) return false;
    skip_whitespace(v);
    if (at_end(v) || current(v) != ':') return reject(v, "expected ':'");
    v->position++;
    skip_whitespace(v);
    if (!validate_value(v, depth + 1)) return false;
    skip_whitespace(v);
    if (at_end(v)) return reject(v, "unterminated object");
    if (current(v) == '}') {
      v->position++;
      return true;
    }
    if (current(v) != ',') return reject(v, "expected ',' or '}'");
    v->position++;
    skip_whitespace(v);
  }
}

/* At the '['. */
static bool validate_array(validator *v, int depth) {
  if (depth >= LB_JSON_MAX_DEPTH) return reject(v, "nested too deeply");
  v->position++;
  skip_whitespace(v);
  if (!at_end(v) && current(v) == ']') {
    v->position++;
    return true;
  }
  for (;;) {
    if (!validate_value(v, depth + 1)) return false;
    skip_whitespace(v);
    if (at_end(v)) return reject(v, "unterminated array");
    if (current(v) == ']') {
      v->position++;
      return true;
    }
    if (current(v) != ',') return reject(v, "expected ',' or ']'");
    v->position++;
    skip_whitespace(v);
  }
}

/* At the value's first character. */
static bool validate_value(validator *v, int depth) {
  if (at_end(v)) return reject(v, "unexpected end of text");
  char c = current(v);
  if (c == '{') return validate_object(v, depth);
  if (c == '[') return validate_array(v, depth);
  if (c == '"') return validate_string(v);
  if (c == '-' || is_digit(c)) return validate_integer(v);
  if (c == 't' || c == 'f' || c == 'n')
    return reject(v, "true, false and null are not supported");
  return reject(v, "expected a value");
}

bool lb_json_validate(const char *text, size_t length, size_t *root,
                      lb_json_error *error) {
  validator v = {text, length, 0, error};
  skip_whitespace(&v);
  if (at_end(&v)) return reject(&v, "no value");
  size_t start = v.position;
  if (!validate_value(&v, 0)) return false;
  skip_whitespace(&v);
  if (!at_end(&v)) return reject(&v, "unexpected text after the value");
  *root = start;
  return true;
}

/* ---- step 2: navigation -------------------------------------------------- */

/* Valid text never ends inside a container, so the scans below stop at a
 * delimiter before they could run past the end. */

static size_t skip_whitespace_at(const char *text, size_t position) {
  while (is_whitespace(text[position])) position++;
  return position;
}

/* The offset just past the string value at `string`. */
static size_t string_end(const char *text, size_t string) {
  size_t i = string + 1;
  while (text[i] != '"') i += text[i] == '\\' ? 2 : 1;
  return i + 1;
}

/* The offset just past the container at `container`, found by counting
 * brackets (strings are skipped whole, as they may hold brackets). */
static size_t container_end(const char *text, size_t container) {
  size_t depth = 0, i = container;
  for (;;) {
    char c = text[i];
    if (c == '"') {
      i = string_end(text, i);
      continue;
    }
    i++;
    if (c == '{' || c == '[') depth++;
    else if ((c == '}' || c == ']') && --depth == 0) return i;
  }
}

/* The offset just past the value at `value`, which is inside a container:
 * a delimiter always follows it, so an integer's digits end in the text. */
static size_t value_end(const char *text, size_t value) {
  switch (lb_json_kind_at(text, value)) {
  case LB_JSON_OBJECT:
  case LB_JSON_ARRAY:
    return container_end(text, value);
  case LB_JSON_STRING:
    return string_end(text, value);
  case LB_JSON_INTEGER:
    break;
  }
  size_t i = value + 1;
  while (is_digit(text[i])) i++;
  return i;
}

lb_json_kind lb_json_kind_at(const char *text, size_t value) {
  switch (text[value]) {
  case '{': return LB_JSON_OBJECT;
  case '[': return LB_JSON_ARRAY;
  case '"': return LB_JSON_STRING;
  default: return LB_JSON_INTEGER;
  }
}

lb_json_iter lb_json_iter_begin(const char *text, size_t container) {
  lb_json_iter iter = {text, skip_whitespace_at(text, container + 1),
                       text[container] == '{'};
  return iter;
}

bool lb_json_iter_next(lb_json_iter *iter, size_t *key, size_t *value) {
  const char *text = iter->text;
  size_t p = iter->position;
  if (text[p] == '}' || text[p] == ']') return false;
  if (iter->object) {
    *key = p;
    p = skip_whitespace_at(text, string_end(text, p)); /* at ':' */
    p = skip_whitespace_at(text, p + 1);
  }
  *value = p;
  p = skip_whitespace_at(text, value_end(text, p));
  if (text[p] == ',') p = skip_whitespace_at(text, p + 1);
  iter->position = p;
  return true;
}

size_t lb_json_count(const char *text, size_t container) {
  lb_json_iter iter = lb_json_iter_begin(text, container);
  size_t count = 0, key, value;
  while (lb_json_iter_next(&iter, &key, &value)) count++;
  return count;
}

size_t lb_json_string_raw_length(const char *text, size_t string) {
  return string_end(text, string) - string - 2;
}

/* Writes code point cp as UTF-8 at out and returns the number of bytes. */
static size_t utf8_encode(uint32_t cp, char *out) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Decodes the \uXXXX escape (or surrogate pair) at text + *i into out,
 * advancing *i past it; returns the number of bytes written. */
static size_t decode_unicode_escape(const char *text, size_t *i, char *out) {
  uint32_t cp = (uint32_t)hex4(text + *i + 2);
  *i += 6;
  if (is_high_surrogate((int32_t)cp)) {
    uint32_t low = (uint32_t)hex4(text + *i + 2);
    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    *i += 6;
  }
  return utf8_encode(cp, out);
}

static char simple_escape(char c) {
  switch (c) {
  case 'b': return '\b';
  case 'f': return '\f';
  case 'n': return '\n';
  case 'r': return '\r';
  case 't': return '\t';
  default: return c; /* '"', '\\' and '/' stand for themselves */
  }
}

size_t lb_json_string_decode(const char *text, size_t string, char *out) {
  size_t i = string + 1, length = 0;
  while (text[i] != '"') {
    if (text[i] != '\\') {
      out[length++] = text[i++];
    } else if (text[i + 1] == 'u') {
      length += decode_unicode_escape(text, &i, out + length);
    } else {
      out[length++] = simple_escape(text[i + 1]);
      i += 2;
    }
  }
  out[length] = '\0';
  return length;
}

bool lb_json_integer_u64(const char *text, size_t integer, uint64_t *out) {
  if (text[integer] == '-') return false;
  uint64_t value = 0;
  for (size_t i = integer; is_digit(text[i]); i++) {
    uint64_t digit = (uint64_t)(text[i] - '0');
    if (value > (UINT64_MAX - digit) / 10) return false;
    value = value * 10 + digit;
  }
  *out = value;
  return true;
}
