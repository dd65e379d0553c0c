/*
 * Image folders in torchvision's ImageFolder layout, root/<class>/<file>.
 *
 * Loading runs in three steps: list the files (sorted, so the labels and
 * the sample order are the same on every file system), read the headers
 * when the shape is to be chosen from the images, then decode every image
 * straight into its slot of the dataset. The two per-file steps run on the
 * library's threads; each thread holds one full-size image at a time.
 */
#include "dataset_internal.h"
#include "image_internal.h"

#include "../core/core_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct folder_file {
  char *path;
  int32_t label;
  lb_status status;     /* of the last step that looked at the file */
  lb_image_info info;   /* from the header step */
} folder_file;

typedef struct folder_listing {
  char **class_names;
  int32_t class_count;
  folder_file *files;
  int64_t file_count;
  int64_t file_capacity;
} folder_listing;

lb_folder_options lb_folder_options_default(void) {
  lb_folder_options options;
  memset(&options, 0, sizeof options);
  options.struct_size = sizeof options;
  return options;
}

static void free_listing(folder_listing *listing) {
  for (int32_t k = 0; k < listing->class_count; k++)
    lb_free(listing->class_names[k]);
  lb_free(listing->class_names);
  for (int64_t i = 0; i < listing->file_count; i++)
    lb_free(listing->files[i].path);
  lb_free(listing->files);
  memset(listing, 0, sizeof *listing);
}

/* ---- listing -------------------------------------------------------------- */

static char *join_path(const char *directory, const char *name) {
  size_t a = strlen(directory), b = strlen(name);
  char *path = lb_alloc(a + b + 2);
  if (!path)
    return NULL;
  memcpy(path, directory, a);
  path[a] = '/';
  memcpy(path + a + 1, name, b + 1);
  return path;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct name_list {
  char **names;
  int64_t count, capacity;
} name_list;

static void free_names(name_list *list) {
  for (int64_t i = 0; i < list->count; i++)
    lb_free(list->names[i]);
  lb_free(list->names);
  memset(list, 0, sizeof *list);
}

static int append_name(name_list *list, const char *name) {
  if (list->count == list->capacity) {
    int64_t grown = list->capacity ? list->capacity * 2 : 64;
    char **bigger = lb_alloc((size_t)grown * sizeof *bigger);
    if (!bigger)
      return 0;
    if (list->count)
      memcpy(bigger, list->names, (size_t)list->count * sizeof *bigger);
    lb_free(list->names);
    list->names = bigger;
    list->capacity = grown;
  }
  list->names[list->count] = lb_strdup(name);
  if (!list->names[list->count])
    return 0;
  list->count++;
  return 1;
}

/* The names of the visible entries of `directory` that are directories
 * (want_directories) or regular files (otherwise), sorted. Symbolic links
 * are followed, as torchvision does. */
static lb_status list_entries(const char *who, const char *directory,
                              int want_directories, name_list *list) {
  memset(list, 0, sizeof *list);
  errno = 0;
  DIR *dir = opendir(directory);
  if (!dir)
    return lb_fail(LB_EIO, "%s: cannot read the directory '%s': %s", who,
                   directory, strerror(errno));
  lb_status status = LB_OK;
  for (;;) {
    errno = 0;
    struct dirent *entry = readdir(dir);
    if (!entry) {
      if (errno)
        status = lb_fail(LB_EIO, "%s: cannot read the directory '%s': %s",
                         who, directory, strerror(errno));
      break;
    }
    if (entry->d_name[0] == '.')
      continue;
    char *path = join_path(directory, entry->d_name);
    if (!path) {
      status = lb_fail(LB_ENOMEM, "%s: out of memory", who);
      break;
    }
    struct stat about;
    /* An entry that cannot be examined is kept as a file, so that reading
     * it reports the problem (or skips it) like any unreadable file. */
    int examined = stat(path, &about) == 0;
    lb_free(path);
    int is_directory = examined && S_ISDIR(about.st_mode);
    int is_file = !examined || S_ISREG(about.st_mode);
    if (want_directories ? !is_directory : !is_file)
      continue;
    if (!append_name(list, entry->d_name)) {
      status = lb_fail(LB_ENOMEM, "%s: out of memory", who);
      break;
    }
  }
  closedir(dir);
  if (status != LB_OK) {
    free_names(list);
    return status;
  }
  if (list->count > 1)
    qsort(list->names, (size_t)list->count, sizeof *list->names,
          compare_names);
  return LB_OK;
}

static lb_status add_file(const char *who, folder_listing *listing,
                          char *path, int32_t label) {
  if (listing->file_count == listing->file_capacity) {
    int64_t grown = listing->file_capacity ? listing->file_capacity * 2 : 256;
    folder_file *bigger = lb_alloc((size_t)grown * sizeof *bigger);
    if (!bigger) {
      lb_free(path);
      return lb_fail(LB_ENOMEM, "%s: out of memory", who);
    }
    if (listing->file_count)
      memcpy(bigger, listing->files,
             (size_t)listing->file_count * sizeof *bigger);
    lb_free(listing->files);
    listing->files = bigger;
    listing->file_capacity = grown;
  }
  folder_file *file = &listing->files[listing->file_count++];
  memset(file, 0, sizeof *file);
  file->path = path;
  file->label = label;
  return LB_OK;
}

static lb_status list_class(const char *who, const char *class_directory,
                            int32_t label, folder_listing *listing) {
  name_list files;
  lb_status status = list_entries(who, class_directory, 0, &files);
  if (status != LB_OK)
    return status;
  if (files.count == 0)
    status = lb_fail(LB_EFORMAT, "%s: the class directory '%s' holds no "
                     "file", who, class_directory);
  for (int64_t i = 0; status == LB_OK && i < files.count; i++) {
    char *path = join_path(class_directory, files.names[i]);
    status = path ? add_file(who, listing, path, label)
                  : lb_fail(LB_ENOMEM, "%s: out of memory", who);
  }
  free_names(&files);
  return status;
}

static lb_status list_folder(const char *who, const char *root,
                             folder_listing *listing) {
  memset(listing, 0, sizeof *listing);
  name_list classes;
  lb_status status = list_entries(who, root, 1, &classes);
  if (status != LB_OK)
    return status;
  if (classes.count == 0) {
    free_names(&classes);
    return lb_fail(LB_EFORMAT, "%s: '%s' holds no class directory", who,
                   root);
  }
  if (classes.count > INT32_MAX / 2) {
    free_names(&classes);
    return lb_fail(LB_EFORMAT, "%s: '%s' holds too many class directories",
                   who, root);
  }
  /* The listing takes the class names over from the name list. */
  listing->class_names = classes.names;
  listing->class_count = (int32_t)classes.count;
  for (int32_t k = 0; status == LB_OK && k < listing->class_count; k++) {
    char *class_directory = join_path(root, listing->class_names[k]);
    status = class_directory
                 ? list_class(who, class_directory, k, listing)
                 : lb_fail(LB_ENOMEM, "%s: out of memory", who);
    lb_free(class_directory);
  }
  if (status != LB_OK)
    free_listing(listing);
  return status;
}

/* ---- per-file steps on the thread pool ------------------------------------ */

typedef struct file_step {
  const char *who;
  folder_listing *listing;
  lb_dataset *ds;       /* decode step: the dataset being filled */
  int64_t *slot_of;     /* decode step: sample index of each file, or -1 */
  atomic_llong next_file; /* the next file a thread takes */
} file_step;

/* The next file for the calling thread, or -1 when none is left. Threads
 * take files one at a time, so a slow file (a large JPEG) holds up only
 * its own thread. */
static int64_t take_file(file_step *step) {
  int64_t i = (int64_t)atomic_fetch_add(&step->next_file, 1);
  return i < step->listing->file_count ? i : -1;
}

/* One chunk per thread of the library's setting: the memory promise (one
 * full-size image per thread) and lb_set_num_threads() both hold. */
static int32_t file_chunks(int64_t file_count) {
  int64_t threads = lb_get_num_threads();
  return (int32_t)(threads < file_count ? threads : file_count);
}

static lb_status probe_file(const char *who, folder_file *file) {
  uint8_t *bytes = NULL;
  size_t size = 0;
  lb_status status =
      lb_read_file(who, file->path, LB_IMAGE_MAX_FILE_BYTES, &bytes, &size);
  if (status == LB_OK)
    status = lb_image_probe_bytes(who, file->path, bytes, size, &file->info);
  lb_free(bytes);
  return status;
}

static void probe_chunk(void *context, int32_t chunk) {
  (void)chunk;
  file_step *step = context;
  for (int64_t i = take_file(step); i >= 0; i = take_file(step)) {
    folder_file *file = &step->listing->files[i];
    if (file->status == LB_OK)
      file->status = probe_file(step->who, file);
  }
}

/* Rounds a [0, 1] float to the nearest byte, as converting a resized
 * image back to 8 bits does. */
static uint8_t to_byte(float value) {
  float scaled = value * 255.0f;
  if (!(scaled > 0.0f))
    return 0;
  if (scaled >= 255.0f)
    return 255;
  /* Half up, in plain arithmetic: the result must not depend on a
   * thread's floating-point rounding mode. */
  return (uint8_t)(scaled + 0.5f);
}

static lb_status decode_file(const char *who, const lb_dataset *ds,
                             const folder_file *file, uint8_t *slot) {
  uint8_t *bytes = NULL;
  size_t size = 0;
  lb_status status =
      lb_read_file(who, file->path, LB_IMAGE_MAX_FILE_BYTES, &bytes, &size);
  float *pixels = NULL;
  int32_t channels = 0, height = 0, width = 0;
  if (status == LB_OK)
    status = lb_image_decode_bytes(who, file->path, bytes, size, ds->channels,
                                   ds->height, ds->width, &pixels, &channels,
                                   &height, &width);
  lb_free(bytes);
  if (status != LB_OK)
    return status;
  for (int64_t k = 0; k < ds->sample_bytes; k++)
    slot[k] = to_byte(pixels[k]);
  lb_free(pixels);
  return LB_OK;
}

static void decode_chunk(void *context, int32_t chunk) {
  (void)chunk;
  file_step *step = context;
  for (int64_t i = take_file(step); i >= 0; i = take_file(step)) {
    folder_file *file = &step->listing->files[i];
    int64_t slot = step->slot_of[i];
    if (slot >= 0)
      file->status =
          decode_file(step->who, step->ds, file,
                      step->ds->samples + slot * step->ds->sample_bytes);
  }
}

/* After a step: without skipping, the first failed file (in listing order)
 * fails the load; it is processed again on this thread to get its message,
 * because the worker that failed it kept the message in its own
 * thread-local error. */
static lb_status first_failure(const char *who, folder_listing *listing,
                               const lb_dataset *ds) {
  for (int64_t i = 0; i < listing->file_count; i++) {
    folder_file *file = &listing->files[i];
    if (file->status == LB_OK)
      continue;
    if (file->status == LB_ENOMEM)
      return lb_fail(LB_ENOMEM, "%s: out of memory", who);
    if (!ds) {
      lb_status status = probe_file(who, file);
      return status != LB_OK ? status
                             : lb_fail(LB_EIO, "%s: reading '%s' failed once",
                                       who, file->path);
    }
    uint8_t *scratch = lb_alloc((size_t)ds->sample_bytes);
    if (!scratch)
      return lb_fail(LB_ENOMEM, "%s: out of memory", who);
    lb_status status = decode_file(who, ds, file, scratch);
    lb_free(scratch);
    /* The file may have become readable since; it failed once, so the
     * load still fails. */
    return status != LB_OK ? status
                           : lb_fail(LB_EIO, "%s: reading '%s' failed once",
                                     who, file->path);
  }
  return LB_OK;
}

/* Under skip_bad_files every class must keep one image. */
static lb_status check_classes_kept(const char *who, const char *root,
                                    const folder_listing *listing) {
  for (int32_t k = 0; k < listing->class_count; k++) {
    int64_t kept = 0;
    for (int64_t i = 0; i < listing->file_count; i++)
      if (listing->files[i].label == k && listing->files[i].status == LB_OK)
        kept++;
    if (kept == 0)
      return lb_fail(LB_EFORMAT, "%s: the class directory '%s/%s' holds no "
                     "image that can be read", who, root,
                     listing->class_names[k]);
  }
  return LB_OK;
}

/* After a step with skip_bad_files: running out of memory is not a bad
 * file, so it fails the load; otherwise every class must keep an image. */
static lb_status check_skipping(const char *who, const char *root,
                                const folder_listing *listing) {
  for (int64_t i = 0; i < listing->file_count; i++)
    if (listing->files[i].status == LB_ENOMEM)
      return lb_fail(LB_ENOMEM, "%s: out of memory", who);
  return check_classes_kept(who, root, listing);
}

static lb_status run_probe_step(const char *who, const char *root,
                                folder_listing *listing, int skip_bad) {
  file_step step = {who, listing, NULL, NULL, 0};
  lb_parallel_for(probe_chunk, &step, file_chunks(listing->file_count));
  return skip_bad ? check_skipping(who, root, listing)
                  : first_failure(who, listing, NULL);
}

/* ---- choosing the shape --------------------------------------------------- */

static int32_t stored_colour_channels(const lb_image_info *info) {
  return info->channels <= 2 ? 1 : 3;
}

/* The most common size among the readable images; the first in listing
 * order wins a tie. Quadratic in the number of distinct sizes only. */
static void most_common_size(const folder_listing *listing, int32_t *height,
                             int32_t *width) {
  int64_t best_votes = 0;
  for (int64_t i = 0; i < listing->file_count; i++) {
    const folder_file *candidate = &listing->files[i];
    if (candidate->status != LB_OK)
      continue;
    int seen_before = 0;
    for (int64_t j = 0; j < i && !seen_before; j++)
      seen_before = listing->files[j].status == LB_OK &&
                    listing->files[j].info.height == candidate->info.height &&
                    listing->files[j].info.width == candidate->info.width;
    if (seen_before)
      continue;
    int64_t votes = 0;
    for (int64_t j = i; j < listing->file_count; j++)
      votes += listing->files[j].status == LB_OK &&
               listing->files[j].info.height == candidate->info.height &&
               listing->files[j].info.width == candidate->info.width;
    if (votes > best_votes) {
      best_votes = votes;
      *height = candidate->info.height;
      *width = candidate->info.width;
    }
  }
}

static int32_t most_common_channels(const folder_listing *listing) {
  int64_t gray = 0, colour = 0;
  for (int64_t i = 0; i < listing->file_count; i++) {
    if (listing->files[i].status != LB_OK)
      continue;
    if (stored_colour_channels(&listing->files[i].info) == 1)
      gray++;
    else
      colour++;
  }
  return gray > colour ? 1 : 3;
}

/* ---- the load ------------------------------------------------------------- */

static lb_status check_options(const char *who, const lb_folder_options *o) {
  if (o->struct_size < sizeof(lb_folder_options))
    return lb_fail(LB_EINVAL, "%s: options->struct_size = %zu is smaller "
                   "than sizeof(lb_folder_options) = %zu", who,
                   o->struct_size, sizeof(lb_folder_options));
  if (o->channels != 0 && o->channels != 1 && o->channels != 3)
    return lb_fail(LB_EINVAL, "%s: options->channels = %d; it must be 0, 1 "
                   "or 3", who, (int)o->channels);
  if ((o->height == 0) != (o->width == 0))
    return lb_fail(LB_EINVAL, "%s: options->height = %d and width = %d; "
                   "set both or neither", who, (int)o->height, (int)o->width);
  if (o->height < 0 || o->height > LB_IMAGE_MAX_SIDE || o->width < 0 ||
      o->width > LB_IMAGE_MAX_SIDE)
    return lb_fail(LB_EINVAL, "%s: options->height = %d and width = %d must "
                   "be 1 to %d", who, (int)o->height, (int)o->width,
                   LB_IMAGE_MAX_SIDE);
  if ((int64_t)o->height * o->width > LB_IMAGE_MAX_PIXELS)
    return lb_fail(LB_EINVAL, "%s: options->height x width = %d x %d is more "
                   "than LB_IMAGE_MAX_PIXELS", who, (int)o->height,
                   (int)o->width);
  return LB_OK;
}

/* Gives each file that is still good its sample index; returns how many. */
static int64_t assign_slots(const folder_listing *listing, int64_t *slot_of) {
  int64_t next = 0;
  for (int64_t i = 0; i < listing->file_count; i++)
    slot_of[i] = listing->files[i].status == LB_OK ? next++ : -1;
  return next;
}

/* Moves the samples of files that decoded to the front, in listing order,
 * and records their labels and paths (taken over from the listing). */
static void keep_decoded(folder_listing *listing, const int64_t *slot_of,
                         lb_dataset *ds) {
  int64_t kept = 0;
  for (int64_t i = 0; i < listing->file_count; i++) {
    folder_file *file = &listing->files[i];
    if (slot_of[i] < 0)
      continue;
    if (file->status != LB_OK) {
      ds->skipped_files++;
      continue;
    }
    if (kept != slot_of[i])
      memmove(ds->samples + kept * ds->sample_bytes,
              ds->samples + slot_of[i] * ds->sample_bytes,
              (size_t)ds->sample_bytes);
    ds->labels[kept] = file->label;
    ds->paths[kept] = file->path;
    file->path = NULL;
    kept++;
  }
  ds->count = kept;
}

static lb_status name_classes(const char *who, const folder_listing *listing,
                              lb_dataset *ds) {
  for (int32_t k = 0; k < listing->class_count; k++) {
    lb_status status =
        lb_dataset_rename_class(who, ds, k, listing->class_names[k]);
    if (status != LB_OK)
      return status;
  }
  return LB_OK;
}

static lb_status decode_all(const char *who, const char *root,
                            folder_listing *listing,
                            const lb_folder_options *o, int32_t channels,
                            int32_t height, int32_t width, lb_dataset **out) {
  int64_t *slot_of = lb_alloc((size_t)listing->file_count * sizeof(int64_t));
  if (!slot_of)
    return lb_fail(LB_ENOMEM, "%s: out of memory", who);
  int64_t readable = assign_slots(listing, slot_of);
  int64_t skipped_before = listing->file_count - readable;
  lb_dataset *ds = NULL;
  lb_status status = lb_dataset_new(who, readable, channels, height, width,
                                    listing->class_count, &ds);
  if (status == LB_OK) {
    ds->paths = lb_alloc_zeroed((size_t)readable * sizeof(char *));
    status = ds->paths ? name_classes(who, listing, ds)
                       : lb_fail(LB_ENOMEM, "%s: out of memory", who);
  }
  if (status == LB_OK) {
    file_step step = {who, listing, ds, slot_of, 0};
    lb_parallel_for(decode_chunk, &step, file_chunks(listing->file_count));
    status = o->skip_bad_files ? check_skipping(who, root, listing)
                               : first_failure(who, listing, ds);
  }
  if (status == LB_OK) {
    keep_decoded(listing, slot_of, ds);
    ds->skipped_files += skipped_before;
    *out = ds;
  } else {
    lb_dataset_free(ds);
  }
  lb_free(slot_of);
  return status;
}

lb_status lb_dataset_load_folder(const char *root,
                                 const lb_folder_options *options,
                                 lb_dataset **out) {
  const char *who = "lb_dataset_load_folder";
  if (!root || !out)
    return lb_fail(LB_EINVAL, "%s: %s is NULL", who, !root ? "root" : "out");
  *out = NULL;
  lb_folder_options defaults = lb_folder_options_default();
  const lb_folder_options *o = options ? options : &defaults;
  lb_status status = check_options(who, o);
  if (status != LB_OK)
    return status;
  folder_listing listing;
  status = list_folder(who, root, &listing);
  if (status != LB_OK)
    return status;
  int32_t channels = o->channels, height = o->height, width = o->width;
  if (channels == 0 || height == 0)
    status = run_probe_step(who, root, &listing, o->skip_bad_files);
  if (status == LB_OK) {
    if (height == 0)
      most_common_size(&listing, &height, &width);
    if (channels == 0)
      channels = most_common_channels(&listing);
    status = decode_all(who, root, &listing, o, channels, height, width, out);
  }
  free_listing(&listing);
  return status;
}
