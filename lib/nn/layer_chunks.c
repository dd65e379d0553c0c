/* The work split of the layer kernels (see layer_chunks.h). */
#include "layer_chunks.h"

#include "lossbal/lossbal.h"

int32_t lb_layer_chunks(int64_t items, int64_t item_elements) {
  /* Items are whole tensors' parts, so items * item_elements fits. */
  int64_t by_size = items * item_elements / LB_LAYER_MIN_CHUNK_ELEMENTS;
  int64_t chunks = lb_get_num_threads();
  if (chunks > by_size) chunks = by_size;
  if (chunks > items) chunks = items;
  return chunks < 1 ? 1 : (int32_t)chunks;
}

int64_t lb_layer_chunk_begin(int64_t items, int32_t chunk, int32_t chunks) {
  /* The first items % chunks ranges get one item more. Written without
   * items * chunk, which could overflow. */
  int64_t base = items / chunks, extra = items % chunks;
  return base * chunk + (chunk < extra ? chunk : extra);
}
