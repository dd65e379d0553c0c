/* Per-layer-kind timing of a model (see profile.h). */
#include "profile.h"

#include <string.h>
#include <time.h>

static int64_t clock_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

void lb_profile_enable(lb_profile *p, bool enabled) {
  if (enabled)
    memset(p->counters, 0, sizeof p->counters);
  p->enabled = enabled;
}

int64_t lb_profile_start(const lb_profile *p) {
  return p->enabled ? clock_ns() : 0;
}

void lb_profile_stop(lb_profile *p, lb_layer_kind kind, lb_pass pass,
                     int64_t start, double flops) {
  if (!p->enabled)
    return;
  lb_profile_counter *counter = &p->counters[kind][pass];
  counter->nanoseconds += clock_ns() - start;
  counter->calls++;
  counter->flops += flops;
}

lb_layer_kind lb_profile_conv_kind(const lb_conv2d_geometry *g) {
  if (g->kernel_h == 3 && g->kernel_w == 3)
    return LB_LAYER_CONV3X3;
  if (g->kernel_h == 1 && g->kernel_w == 1)
    return LB_LAYER_CONV1X1;
  return LB_LAYER_CONV_OTHER;
}

double lb_profile_conv_flops(const lb_conv2d_geometry *g) {
  return 2.0 * (double)g->batch * (double)g->out_channels *
         (double)g->out_h * (double)g->out_w * (double)g->in_channels *
         (double)g->kernel_h * (double)g->kernel_w;
}

void lb_profile_read(const lb_profile *p, lb_layer_kind kind,
                     lb_layer_profile *out) {
  const lb_profile_counter *forward = &p->counters[kind][LB_PASS_FORWARD];
  const lb_profile_counter *backward = &p->counters[kind][LB_PASS_BACKWARD];
  out->forward_seconds = 1e-9 * (double)forward->nanoseconds;
  out->backward_seconds = 1e-9 * (double)backward->nanoseconds;
  out->forward_calls = forward->calls;
  out->backward_calls = backward->calls;
  out->forward_flops = forward->flops;
  out->backward_flops = backward->flops;
}
