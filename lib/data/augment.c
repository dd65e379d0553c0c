/*
 * Turning one stored 8-bit sample into a normalised float image, with the
 * training augmentations (random crop with padding, horizontal flip) folded
 * into the same pass: each output pixel reads the source pixel it comes
 * from, so no padded or flipped copy is ever made.
 */
#include "dataset_internal.h"

#include "../core/random.h"

/* Where the window of a random crop starts, relative to the unpadded image,
 * and whether it is mirrored. The order of the draws (row offset, column
 * offset, flip) is part of the reproducibility contract. */
typedef struct sample_geometry {
  int32_t row_offset;
  int32_t column_offset;
  int flip;
} sample_geometry;

static sample_geometry draw_geometry(const lb_augment *augment,
                                     uint64_t random_state) {
  sample_geometry g = {0, 0, 0};
  if (!augment)
    return g;
  int32_t padding = augment->crop_padding;
  if (padding > 0) {
    uint64_t choices = 2 * (uint64_t)padding + 1;
    g.row_offset = (int32_t)lb_random_below(&random_state, choices) - padding;
    g.column_offset =
        (int32_t)lb_random_below(&random_state, choices) - padding;
  }
  if (augment->horizontal_flip)
    g.flip = (int)lb_random_below(&random_state, 2);
  return g;
}

void lb_dataset_render_sample(const lb_dataset *ds, int64_t index,
                              const lb_augment *augment,
                              uint64_t random_state, float *image) {
  const int32_t height = ds->height, width = ds->width;
  const int64_t plane = (int64_t)height * width;
  const uint8_t *sample = ds->samples + index * ds->sample_bytes;
  sample_geometry g = draw_geometry(augment, random_state);
  for (int32_t c = 0; c < ds->channels; c++) {
    /* x / 255 then (x - mean) / std, as ToTensor and Normalize do, folded
     * into one multiply-add per pixel. */
    const float scale = 1.0f / (255.0f * ds->std[c]);
    const float shift = -ds->mean[c] / ds->std[c];
    const uint8_t *source = sample + c * plane;
    float *target = image + c * plane;
    for (int32_t y = 0; y < height; y++) {
      int32_t source_y = y + g.row_offset;
      int row_inside = source_y >= 0 && source_y < height;
      for (int32_t x = 0; x < width; x++) {
        int32_t cropped_x = g.flip ? width - 1 - x : x;
        int32_t source_x = cropped_x + g.column_offset;
        /* Padding is a black pixel, 0 before normalisation, as
         * RandomCrop(padding=p) on the image before ToTensor. */
        uint8_t value = 0;
        if (row_inside && source_x >= 0 && source_x < width)
          value = source[(int64_t)source_y * width + source_x];
        target[(int64_t)y * width + x] = (float)value * scale + shift;
      }
    }
  }
}
