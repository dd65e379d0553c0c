/* Learning-rate schedules in closed form: PyTorch's StepLR, MultiStepLR and
 * CosineAnnealingLR, times LinearLR's factor during a warm-up. */
#include "lossbal/nn.h"

#include "../core/core_internal.h"

#include <math.h>
#include <stdint.h>

#define LB_PI 3.14159265358979323846

lb_status lb_lr_schedule_validate(const lb_lr_schedule *s) {
  const char *who = "lb_lr_schedule_validate";
  if (!s)
    return lb_fail(LB_EINVAL, "%s: s is NULL", who);
  if (s->struct_size < sizeof(lb_lr_schedule))
    return lb_fail(LB_EINVAL, "%s: struct_size %zu is smaller than %zu", who,
                   s->struct_size, sizeof(lb_lr_schedule));
  if (s->kind < LB_LR_CONSTANT || s->kind > LB_LR_COSINE)
    return lb_fail(LB_EINVAL, "%s: kind %d is not a schedule kind", who,
                   (int)s->kind);
  if (!(isfinite(s->base_lr) && s->base_lr > 0))
    return lb_fail(LB_EINVAL, "%s: base_lr %g is not > 0", who, s->base_lr);
  if ((s->kind == LB_LR_STEP || s->kind == LB_LR_MULTISTEP) &&
      !(isfinite(s->gamma) && s->gamma > 0))
    return lb_fail(LB_EINVAL, "%s: gamma %g is not > 0", who, s->gamma);
  if (s->kind == LB_LR_STEP && s->step_size < 1)
    return lb_fail(LB_EINVAL, "%s: step_size %lld is not >= 1", who,
                   (long long)s->step_size);
  if (s->kind == LB_LR_MULTISTEP) {
    if (s->milestone_count < 0 || s->milestone_count > 16)
      return lb_fail(LB_EINVAL, "%s: milestone_count %d is outside [0, 16]",
                     who, (int)s->milestone_count);
    for (int32_t i = 0; i < s->milestone_count; i++) {
      if (s->milestones[i] < 0)
        return lb_fail(LB_EINVAL, "%s: milestones[%d] = %lld is negative", who,
                       (int)i, (long long)s->milestones[i]);
      if (i > 0 && s->milestones[i] <= s->milestones[i - 1])
        return lb_fail(LB_EINVAL,
                       "%s: milestones[%d] = %lld does not increase on "
                       "milestones[%d] = %lld",
                       who, (int)i, (long long)s->milestones[i], (int)(i - 1),
                       (long long)s->milestones[i - 1]);
    }
  }
  if (s->kind == LB_LR_COSINE) {
    if (s->total_steps < 1)
      return lb_fail(LB_EINVAL, "%s: total_steps %lld is not >= 1", who,
                     (long long)s->total_steps);
    if (!(isfinite(s->min_lr) && s->min_lr >= 0))
      return lb_fail(LB_EINVAL, "%s: min_lr %g is not >= 0", who, s->min_lr);
  }
  if (s->warmup_steps < 0)
    return lb_fail(LB_EINVAL, "%s: warmup_steps %lld is negative", who,
                   (long long)s->warmup_steps);
  if (s->warmup_steps > 0 &&
      !(s->warmup_start_factor > 0 && s->warmup_start_factor <= 1))
    return lb_fail(LB_EINVAL, "%s: warmup_start_factor %g is outside (0, 1]",
                   who, s->warmup_start_factor);
  return LB_OK;
}

lb_status lb_lr_at(const lb_lr_schedule *s, int64_t step, double *lr) {
  const char *who = "lb_lr_at";
  if (!lr)
    return lb_fail(LB_EINVAL, "%s: lr is NULL", who);
  lb_status status = lb_lr_schedule_validate(s);
  if (status != LB_OK)
    return status;
  if (step < 0)
    return lb_fail(LB_EINVAL, "%s: step %lld is negative", who,
                   (long long)step);
  double v = s->base_lr;
  switch (s->kind) {
  case LB_LR_STEP:
    v = s->base_lr * pow(s->gamma, (double)(step / s->step_size));
    break;
  case LB_LR_MULTISTEP: {
    int32_t passed = 0;
    while (passed < s->milestone_count && s->milestones[passed] <= step)
      passed++;
    v = s->base_lr * pow(s->gamma, (double)passed);
    break;
  }
  case LB_LR_COSINE: {
    /* the cosine's period is 2 * total_steps: reduce first, so huge steps
     * keep their precision */
    int64_t t =
        s->total_steps <= INT64_MAX / 2 ? step % (2 * s->total_steps) : step;
    v = s->min_lr + (s->base_lr - s->min_lr) *
                        (1 + cos(LB_PI * (double)t / (double)s->total_steps)) /
                        2;
    break;
  }
  default:
    break;
  }
  if (step < s->warmup_steps)
    v *= s->warmup_start_factor +
         (1 - s->warmup_start_factor) * (double)step / (double)s->warmup_steps;
  *lr = v;
  return LB_OK;
}
