/* Blocks of images shared out among a convolution call's threads (see
 * block_claims.h). */
#include "block_claims.h"

#include "../core/core_internal.h"

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* See lb_block_claims_rotate_for_tests(); one relaxed load a claim. */
static atomic_int rotation_for_tests;

void lb_block_claims_rotate_for_tests(int32_t rotation) {
  atomic_store(&rotation_for_tests, rotation);
}

static int64_t range_begin(int64_t batch, int32_t ranges, int32_t range) {
  return lb_chunk_begin(batch, range, ranges);
}

static int64_t range_blocks(int64_t batch, int32_t ranges, int32_t range,
                            int64_t block) {
  int64_t images = range_begin(batch, ranges, range + 1) -
                   range_begin(batch, ranges, range);
  return ceil_div(images, block);
}

static int64_t range_units(const lb_block_claims *claims, int32_t range) {
  return ceil_div(
      range_blocks(claims->batch, claims->ranges, range, claims->block),
      claims->blocks_per_unit);
}

/* The units of a batch in `ranges` ranges, blocks of `block` images and
 * `per_unit` blocks a unit (the last of a range may have fewer). */
static int64_t units_of(int64_t batch, int32_t ranges, int64_t block,
                        int64_t per_unit) {
  int64_t units = 0;
  for (int32_t range = 0; range < ranges; range++)
    units += ceil_div(range_blocks(batch, ranges, range, block), per_unit);
  return units;
}

void lb_block_claims_start(lb_block_claims *claims, int64_t batch,
                           int32_t ranges, int64_t block,
                           int64_t blocks_per_unit) {
  claims->batch = batch;
  claims->block = block;
  claims->blocks_per_unit = blocks_per_unit;
  claims->ranges = ranges;
  for (int32_t range = 0; range < LB_CONV_MAX_SLOTS; range++)
    atomic_init(&claims->next_unit[range], 0);
}

void lb_block_claims_start_summing(lb_block_claims *claims, int64_t batch,
                                   int32_t ranges, int64_t block,
                                   int64_t room) {
  lb_block_claims_start(claims, batch, ranges, block,
                        lb_blocks_per_unit(batch, ranges, block, room));
}

int64_t lb_block_units(const lb_block_claims *claims) {
  return units_of(claims->batch, claims->ranges, claims->block,
                  claims->blocks_per_unit);
}

/* Unit `unit` of range `range`, which has one. */
static lb_block_unit unit_at(const lb_block_claims *claims, int32_t range,
                             int64_t unit) {
  int64_t begin = range_begin(claims->batch, claims->ranges, range),
          end = range_begin(claims->batch, claims->ranges, range + 1),
          images = claims->blocks_per_unit * claims->block;
  lb_block_unit u = {begin + unit * images, images, unit};
  if (u.first + u.images > end)
    u.images = end - u.first;
  for (int32_t before = 0; before < range; before++)
    u.index += range_units(claims, before);
  return u;
}

bool lb_block_claim(lb_block_claims *claims, int32_t range, int32_t *turn,
                    lb_block_unit *unit) {
  int32_t start =
      range + atomic_load_explicit(&rotation_for_tests, memory_order_relaxed);
  for (; *turn < claims->ranges; ++*turn) {
    int32_t from = (start + *turn) % claims->ranges;
    int64_t next = atomic_fetch_add_explicit(&claims->next_unit[from], 1,
                                             memory_order_relaxed);
    if (next < range_units(claims, from)) {
      *unit = unit_at(claims, from, next);
      return true;
    }
  }
  return false;
}

float *lb_block_unit_gradient(float *sum, float *parts, int64_t part_floats,
                              int64_t unit) {
  return unit == 0 ? sum : parts + (unit - 1) * part_floats;
}

void lb_block_add_parts(const lb_block_claims *claims, float *sum,
                        const float *parts, int64_t part_floats) {
  const float *each[LB_BLOCK_MAX_PARTS];
  int64_t count = lb_block_units(claims) - 1;
  for (int64_t part = 0; part < count; part++)
    each[part] = parts + part * part_floats;
  lb_add_parts(sum, each, (int32_t)count, part_floats);
}

int64_t lb_block_parts_room(int64_t batch, int64_t slots, int64_t block,
                            int64_t part_floats) {
  int32_t ranges = (int32_t)(slots < batch ? slots : batch);
  if (ranges <= 1)
    return 0; /* a single range sums into the gradient itself */
  int64_t room = units_of(batch, ranges, block, 1) - 1;
  if (room > LB_BLOCK_MAX_PARTS - 1)
    room = LB_BLOCK_MAX_PARTS - 1;
  if (part_floats > 0 && room > LB_BLOCK_PARTS_FLOATS / part_floats)
    room = LB_BLOCK_PARTS_FLOATS / part_floats;
  return room > ranges - 1 ? room : ranges - 1;
}

int64_t lb_blocks_per_unit(int64_t batch, int32_t ranges, int64_t block,
                           int64_t room) {
  /* Range 0 is the largest (lb_chunk_begin): at its block count every
   * range is one unit. */
  int64_t most = range_blocks(batch, ranges, 0, block), per_unit = 1;
  while (per_unit < most && units_of(batch, ranges, block, per_unit) - 1 > room)
    per_unit++;
  return per_unit;
}
