/*
 * Blocks of images shared out among the threads of a convolution call as
 * they go. Internal (hidden, never installed).
 *
 * A convolution on several threads cuts the batch into ranges of images,
 * one per thread, and each range into blocks of `block` images (conv2d.c,
 * conv_winograd.c). With ranges fixed in advance, every call ends when its
 * slowest thread does; on a machine whose cores run at different speeds
 * (a shared virtual machine, a processor with big and little cores) the
 * others wait. Here every thread starts on its own range and, when that is
 * done, takes the blocks still left in the others, so a thread waits for
 * at most about one block of another in the forward, one unit (below) in
 * the backward. Where a range is one block (small images) or one unit
 * (gradient parts too large to have more than one per range: 256 and more
 * channels), there is nothing to share and the wait is what it was.
 *
 * The results stay the same bits whoever computes what: a block's output
 * and input gradient depend only on its images, and the weight gradient (a
 * sum over the batch) is summed by units, runs of `blocks_per_unit`
 * consecutive blocks of one range that one thread claims together, each
 * with a gradient part of its own, added in unit order afterwards. The
 * units follow from the batch, the ranges and the block size alone.
 */
#ifndef LOSSBAL_NN_BLOCK_CLAIMS_H
#define LOSSBAL_NN_BLOCK_CLAIMS_H

#include "conv2d.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* The most gradient parts a convolution call sums (a bound for the list of
 * parts it adds up), and the most floats its parts beyond one per slot
 * take (4 MB): enough for a part per block of the large-image layers,
 * whose gradients are small, where sharing blocks out pays. */
#define LB_BLOCK_MAX_PARTS 128
#define LB_BLOCK_PARTS_FLOATS (INT64_C(1) << 20)

/* One part per range always fits. */
_Static_assert(LB_CONV_MAX_SLOTS <= LB_BLOCK_MAX_PARTS,
               "a call of LB_CONV_MAX_SLOTS ranges has that many parts");

typedef struct lb_block_claims {
  int64_t batch;           /* images */
  int64_t block;           /* images per block (the last of a range fewer) */
  int64_t blocks_per_unit; /* blocks claimed together */
  int32_t ranges;          /* at most LB_CONV_MAX_SLOTS */
  /* Per range; on a cache line of their own, as every thread writes them. */
  _Alignas(64) atomic_int_fast64_t next_unit[LB_CONV_MAX_SLOTS];
} lb_block_claims;

/* What a claim hands out: images [first, first + images) of one range, in
 * blocks of `block` images, and the unit's place among all the call's
 * units (range by range, each range's in order). */
typedef struct lb_block_unit {
  int64_t first, images, index;
} lb_block_unit;

/* Readies the claims of one call, nothing claimed yet. */
void lb_block_claims_start(lb_block_claims *claims, int64_t batch,
                           int32_t ranges, int64_t block,
                           int64_t blocks_per_unit);

/* Readies the claims of a call that sums a gradient per unit, with room
 * for `room` parts beyond the first: units of lb_blocks_per_unit() blocks,
 * so that the call's units never need more parts than that. */
void lb_block_claims_start_summing(lb_block_claims *claims, int64_t batch,
                                   int32_t ranges, int64_t block,
                                   int64_t room);

/* Tests only: the thread of range r starts on range (r + rotation) %
 * ranges instead of its own, so that a test can have a thread go from a
 * narrow range to a wider one. 0 (the library's use) until set. */
void lb_block_claims_rotate_for_tests(int32_t rotation);

/* The call's units: as many gradient parts as it sums. */
int64_t lb_block_units(const lb_block_claims *claims);

/* The next unit for the thread of range `range`: its own range's first,
 * then the other ranges' in turn. *turn starts at 0 and is the thread's
 * own cursor across calls. False when every unit is taken. Safe to call
 * from the call's threads at once. */
bool lb_block_claim(lb_block_claims *claims, int32_t range, int32_t *turn,
                    lb_block_unit *unit);

/* Where unit `unit` sums its gradient: the first unit into `sum` itself,
 * unit u >= 1 into part u - 1 of the `part_floats`-float parts laid one
 * after the other from `parts`. */
float *lb_block_unit_gradient(float *sum, float *parts, int64_t part_floats,
                              int64_t unit);

/* sum += parts 0, 1, ... of the call's units beyond the first (laid out as
 * above), in unit order, so the bits do not depend on which thread summed
 * which unit. */
void lb_block_add_parts(const lb_block_claims *claims, float *sum,
                        const float *parts, int64_t part_floats);

/* How many gradient parts beyond the first a workspace keeps for `slots`
 * ranges of a batch in blocks of `block` images, each part of
 * `part_floats` floats: one per block, but no more than LB_BLOCK_MAX_PARTS
 * in all and no more floats than LB_BLOCK_PARTS_FLOATS, unless one per
 * slot needs more (which it always gets); none for a single range. */
int64_t lb_block_parts_room(int64_t batch, int64_t slots, int64_t block,
                            int64_t part_floats);

/* The fewest blocks per unit that give `ranges` ranges no more than
 * `room` gradient parts beyond the first; one unit per range (as many
 * blocks as the largest range has) when room < ranges. */
int64_t lb_blocks_per_unit(int64_t batch, int32_t ranges, int64_t block,
                           int64_t room);

#endif /* LOSSBAL_NN_BLOCK_CLAIMS_H */
