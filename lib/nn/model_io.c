/* lb_model's safetensors input and output, by torchvision name. Loading
 * checks every tensor before it copies any, so a file that does not match
 * leaves the model as it was. */
#include "model_internal.h"

#include "../core/core_internal.h"

#include <stdio.h>
#include <string.h>

/* Files are little-endian; so are the hosts the library is built for. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "lossbal's safetensors model I/O assumes a little-endian host"
#endif

static void format_shape(const int64_t *shape, int32_t ndim, char *text,
                         size_t capacity) {
  size_t used = 0;
  used += (size_t)snprintf(text, capacity, "[");
  for (int32_t i = 0; i < ndim && used < capacity; i++)
    used += (size_t)snprintf(text + used, capacity - used, "%s%lld",
                             i ? ", " : "", (long long)shape[i]);
  if (used < capacity)
    snprintf(text + used, capacity - used, "]");
}

static lb_status check_tensor(const lb_model_tensor *t, const lb_st_tensor *f,
                              const char *who, const char *label) {
  lb_st_dtype want = t->count ? LB_ST_I64 : LB_ST_F32;
  if (f->dtype != want)
    return lb_fail(
        LB_EFORMAT, "%s: %s: tensor \"%s\" has dtype %s, expected %s", who,
        label, t->name, lb_st_dtype_name(f->dtype), lb_st_dtype_name(want));
  bool same = f->ndim == t->ndim;
  for (int32_t i = 0; same && i < t->ndim; i++)
    same = f->shape[i] == t->shape[i];
  if (!same) {
    char have[160], expected[160];
    format_shape(f->shape, f->ndim, have, sizeof have);
    format_shape(t->shape, t->ndim, expected, sizeof expected);
    return lb_fail(LB_EFORMAT,
                   "%s: %s: tensor \"%s\" has shape %s, the model's is %s", who,
                   label, t->name, have, expected);
  }
  return LB_OK;
}

lb_status lb_model_load_st(lb_model *m, const lb_st_file *file,
                           bool ignore_extra, const char *who) {
  const char *label = "file";
  for (int32_t i = 0; i < m->tensor_count; i++) {
    const lb_model_tensor *t = &m->tensors[i];
    const lb_st_tensor *f = lb_st_find(file, t->name);
    if (!f)
      return lb_fail(LB_EFORMAT, "%s: %s: tensor \"%s\" is missing", who, label,
                     t->name);
    lb_status s = check_tensor(t, f, who, label);
    if (s != LB_OK)
      return s;
  }
  if (!ignore_extra) {
    for (size_t i = 0; i < lb_st_count(file); i++) {
      const lb_st_tensor *f = lb_st_at(file, i);
      if (!lb_model_find_tensor(m, f->name))
        return lb_fail(LB_EFORMAT,
                       "%s: %s: tensor \"%s\" is not a tensor of the model",
                       who, label, f->name);
    }
  }
  for (int32_t i = 0; i < m->tensor_count; i++) {
    const lb_model_tensor *t = &m->tensors[i];
    const lb_st_tensor *f = lb_st_find(file, t->name);
    if (t->count)
      memcpy(t->count, f->data, sizeof(int64_t));
    else
      memcpy(t->data, f->data, (size_t)t->numel * sizeof(float));
  }
  lb_model_parameters_changed(m);
  m->forward_valid = false;
  return LB_OK;
}

lb_status lb_model_load_safetensors(lb_model *m, const char *path) {
  const char *who = "lb_model_load_safetensors";
  if (!m)
    return lb_fail(LB_EINVAL, "%s: m is NULL", who);
  if (!path)
    return lb_fail(LB_EINVAL, "%s: path is NULL", who);
  lb_st_file *file = NULL;
  lb_status s = lb_st_read_file(path, &file);
  if (s != LB_OK)
    return s;
  s = lb_model_load_st(m, file, false, who);
  lb_st_free(file);
  return s;
}

void lb_model_describe_tensors(const lb_model *m, lb_st_tensor *list) {
  for (int32_t i = 0; i < m->tensor_count; i++) {
    const lb_model_tensor *t = &m->tensors[i];
    lb_st_tensor *f = &list[i];
    f->name = t->name;
    f->ndim = t->ndim;
    for (int32_t k = 0; k < t->ndim; k++)
      f->shape[k] = t->shape[k];
    if (t->count) {
      f->dtype = LB_ST_I64;
      f->data = t->count;
      f->bytes = sizeof(int64_t);
    } else {
      f->dtype = LB_ST_F32;
      f->data = t->data;
      f->bytes = (size_t)t->numel * sizeof(float);
    }
  }
}

lb_status lb_model_save_safetensors(const lb_model *m, const char *path) {
  const char *who = "lb_model_save_safetensors";
  if (!m)
    return lb_fail(LB_EINVAL, "%s: m is NULL", who);
  if (!path)
    return lb_fail(LB_EINVAL, "%s: path is NULL", who);
  lb_st_tensor *list = lb_alloc_zeroed((size_t)m->tensor_count * sizeof *list);
  if (!list)
    return LB_ENOMEM;
  lb_model_describe_tensors(m, list);
  lb_st_pair meta[1] = {{"format", "pt"}};
  lb_status s = lb_st_write_file(path, list, (size_t)m->tensor_count, meta, 1);
  lb_free(list);
  return s;
}
