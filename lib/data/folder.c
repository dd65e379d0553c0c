/* Placeholder until this module lands. */
typedef int lb_placeholder_folder;
