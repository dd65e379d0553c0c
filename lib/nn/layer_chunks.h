/*
 * How the layer kernels cut their work for lb_parallel_for: into ranges of
 * independent items (channels, planes or elements), one range per chunk.
 * Internal to lib/nn.
 */
#ifndef LOSSBAL_NN_LAYER_CHUNKS_H
#define LOSSBAL_NN_LAYER_CHUNKS_H

#include <stdint.h>

/* The fewest floats worth a chunk of their own: tens of microseconds of
 * work, well above the cost of handing it to a waiting thread. */
#define LB_LAYER_MIN_CHUNK_ELEMENTS 32768

/* How many chunks `items` items of `item_elements` floats each are worth:
 * one per library thread, but none smaller than LB_LAYER_MIN_CHUNK_ELEMENTS
 * floats, and never more than items. At least 1. */
int32_t lb_layer_chunks(int64_t items, int64_t item_elements);

/* The first item of `chunk` when `items` items are cut into `chunks` ranges
 * as even as can be; chunk `chunks` gives `items`, so chunk i covers
 * [lb_layer_chunk_begin(i), lb_layer_chunk_begin(i + 1)). */
int64_t lb_layer_chunk_begin(int64_t items, int32_t chunk, int32_t chunks);

#endif /* LOSSBAL_NN_LAYER_CHUNKS_H */
