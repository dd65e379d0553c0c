/* Placeholder until this module lands. */
typedef int lb_placeholder_image_jpeg;
