/*
 * liblossbal data: images (PNG, JPEG), datasets (IDX files, image folders),
 * imbalanced splits, samplers and training augmentations.
 */
#ifndef LOSSBAL_DATA_H
#define LOSSBAL_DATA_H

#include "lossbal/lossbal.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Declared again (C11 and C++ allow a repeated identical typedef) so this
 * header works whichever public header a program includes first. */
typedef struct lb_tensor lb_tensor;

/** @defgroup images Images: PNG and JPEG decoding
 *
 * Images are decoded with libpng and libjpeg-turbo. The format is chosen by
 * the first bytes of the data, never by a file name. Every colour type is
 * read: gray, gray + alpha, RGB, RGBA, palette, 1 to 16 bits per sample
 * (PNG); gray, YCbCr, RGB, CMYK and YCCK, baseline or progressive (JPEG).
 * Alpha is dropped. Colour becomes gray with the ITU-R 601 luma weights
 * `0.299 R + 0.587 G + 0.114 B`: for 8-bit RGB samples exactly as Pillow's
 * `convert("L")` computes it, `(19595 R + 38470 G + 7471 B + 32768) >> 16`
 * on the bytes, otherwise in float; gray becomes colour by repeating it. CMYK is converted with `R = (1 - C)(1 - K)`, and
 * Adobe's inverted CMYK (the common kind in JPEG files) is recognised.
 *
 * Decoded images are `[channels][height][width]` floats in [0, 1] (sample /
 * 255, or / 65535 for 16-bit PNG). Resizing is bilinear with half-pixel
 * centres; when an axis shrinks the filter widens to cover the source
 * pixels (antialiasing), which equals PyTorch's
 * `F.interpolate(x, size, mode="bilinear", align_corners=False,
 * antialias=True)`.
 *
 * Malformed data never crashes or aborts the process: a truncated or
 * corrupt file, data that is no image, a 0x0 image or one of more than
 * ::LB_IMAGE_MAX_PIXELS pixels gives ::LB_EFORMAT, and lb_last_error() names
 * the file. A JPEG that libjpeg decodes only with a warning about corrupt
 * or missing data is refused too (Pillow would show the damaged picture),
 * and so is a JPEG of more than 1000 scans. When libpng's or libjpeg's own
 * allocations fail the error is theirs, reported as ::LB_EFORMAT.
 *  @{ */

/** The largest image, in pixels (width times height), that is decoded:
 *  2^28. A header that declares more is refused before any pixel memory is
 *  allocated. */
#define LB_IMAGE_MAX_PIXELS (1L << 28)

/** The largest image side, in pixels. */
#define LB_IMAGE_MAX_SIDE 65535

/** Image container formats. Values are fixed and append-only. */
typedef enum lb_image_format {
  LB_IMAGE_PNG = 1, /**< PNG */
  LB_IMAGE_JPEG = 2 /**< JPEG (JFIF or Exif) */
} lb_image_format;

/** What an image's header says. */
typedef struct lb_image_info {
  int32_t format;    /**< an ::lb_image_format value */
  int32_t width;     /**< pixels */
  int32_t height;    /**< pixels */
  int32_t channels;  /**< as stored: 1 gray, 2 gray + alpha, 3 colour,
                          4 colour + alpha or CMYK; a palette PNG is 3, or 4
                          when it has transparency */
  int32_t bit_depth; /**< bits per sample as stored: 1, 2, 4, 8 or 16 */
} lb_image_info;

/**
 * Reads the header of an image in memory.
 *
 * @param data the encoded image.
 * @param size its size in bytes.
 * @param info receives the header's values.
 * @return ::LB_OK; ::LB_EINVAL when a pointer is NULL; ::LB_EFORMAT when the
 *         data is not a PNG or JPEG image or its header is malformed, empty
 *         or too large.
 */
LB_API lb_status lb_image_probe_memory(const void *data, size_t size,
                                       lb_image_info *info);

/**
 * Reads the header of an image file; see lb_image_probe_memory().
 *
 * @return as lb_image_probe_memory(), and ::LB_EIO when the file cannot be
 *         read. Messages name the path.
 */
LB_API lb_status lb_image_probe_file(const char *path, lb_image_info *info);

/**
 * Decodes an image in memory to a `[channels][height][width]` float tensor
 * in [0, 1], converting and resizing it as asked.
 *
 * @param data the encoded image.
 * @param size its size in bytes.
 * @param channels 1 (gray), 3 (colour) or 0 (as stored: 1 for a gray image,
 *        with or without alpha, 3 otherwise).
 * @param height, width the size of the result; both 0 keeps the stored size,
 *        otherwise both must be 1 to ::LB_IMAGE_MAX_SIDE and their product
 *        at most ::LB_IMAGE_MAX_PIXELS.
 * @param out receives the new tensor, released with lb_tensor_free().
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer or a bad channel count or
 *         size; ::LB_EFORMAT for malformed data; ::LB_ENOMEM.
 */
LB_API lb_status lb_image_decode_memory(const void *data, size_t size,
                                        int32_t channels, int32_t height,
                                        int32_t width, lb_tensor **out);

/**
 * Decodes an image file; see lb_image_decode_memory().
 *
 * @return as lb_image_decode_memory(), and ::LB_EIO when the file cannot be
 *         read. Messages name the path.
 */
LB_API lb_status lb_image_decode_file(const char *path, int32_t channels,
                                      int32_t height, int32_t width,
                                      lb_tensor **out);

/** @} */

/** @defgroup datasets Datasets: IDX files and image folders
 *
 * An ::lb_dataset is a labelled set of images of one shape, `[channels]
 * [height][width]`, kept in memory as 8-bit samples (the IDX data itself,
 * or folder images after decoding, conversion and resizing, rounded to the
 * nearest of 0..255 as torchvision's PIL pipeline does). lb_dataset_batch()
 * turns samples into normalised float tensors.
 *
 * Labels are 0 to num_classes - 1. Thread safety: a dataset is read-only
 * after it is loaded, apart from lb_dataset_set_normalization(); any number
 * of threads may call lb_dataset_batch() on one dataset at once.
 *  @{ */

/** Opaque dataset handle. */
typedef struct lb_dataset lb_dataset;

/** The directory lb_dataset_load_fashion_mnist() reads when given NULL:
 *  where Debian's `dataset-fashion-mnist` package installs the data. */
#define LB_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/**
 * Loads an IDX image file and its IDX label file (the MNIST format), plain
 * or gzip-compressed (detected from the content; bytes after the end of a
 * gzip stream are ignored, as zlib's gzread does).
 *
 * The image file must be an unsigned-byte IDX file of 3 dimensions (count,
 * rows, columns); the label file an unsigned-byte IDX file of 1 dimension
 * with the same count. The number of classes is the largest label plus 1.
 *
 * @param images_path the image file.
 * @param labels_path the label file.
 * @param out receives the dataset (1 channel), released with
 *        lb_dataset_free().
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer; ::LB_EIO when a file
 *         cannot be read; ::LB_EFORMAT for a wrong magic number, a wrong
 *         element type or dimension count, counts that disagree with each
 *         other or with the file size, or a corrupt gzip stream (the message
 *         names the file); ::LB_ENOMEM.
 */
LB_API lb_status lb_dataset_load_idx(const char *images_path,
                                     const char *labels_path,
                                     lb_dataset **out);

/**
 * Loads Fashion-MNIST (or MNIST, which uses the same file names) from a
 * directory holding `train-images-idx3-ubyte[.gz]`,
 * `train-labels-idx1-ubyte[.gz]`, `t10k-images-idx3-ubyte[.gz]` and
 * `t10k-labels-idx1-ubyte[.gz]`.
 *
 * @param dir the directory, or NULL for ::LB_FASHION_MNIST_DIR.
 * @param train 1 for the 60 000 training images, 0 for the 10 000 test
 *        images.
 * @param out receives the dataset; its class names are Fashion-MNIST's
 *        ("T-shirt/top", "Trouser", ...) when it has 10 classes.
 * @return as lb_dataset_load_idx(); when the files are missing the message
 *         names the directory and, for the default one, the Debian package.
 */
LB_API lb_status lb_dataset_load_fashion_mnist(const char *dir, int train,
                                               lb_dataset **out);

/** Options of lb_dataset_load_folder(). Start from
 *  lb_folder_options_default(), then change what you need. */
typedef struct lb_folder_options {
  size_t struct_size; /**< `sizeof(lb_folder_options)`; a smaller value is
                           refused, a larger one's extra bytes are ignored. */
  int32_t channels;   /**< 1, 3, or 0: the channel count most images have
                           (3 when as many are colour as gray). */
  int32_t height;     /**< rows of every image; 0 with width 0: the most
                           common size among the images (the first such
                           size in scan order on a tie). */
  int32_t width;      /**< columns of every image; see height. */
  int32_t skip_bad_files; /**< nonzero: a file that cannot be read or
                               decoded is left out and counted (see
                               lb_dataset_skipped_files()); 0: it fails the
                               load. */
} lb_folder_options;

/** The default folder options: channels, height and width 0 (chosen from
 *  the images), skip_bad_files 0. */
LB_API lb_folder_options lb_folder_options_default(void);

/**
 * Loads a folder of images in torchvision's ImageFolder layout:
 * `root/<class name>/<image file>`. Classes are the subdirectories of root
 * sorted by name (byte order), labelled 0, 1, ...; files are taken in name
 * order too, hidden entries (starting with '.') are ignored, and an image
 * may be PNG or JPEG whatever its name. Files in root itself are ignored.
 *
 * Headers are read first (to choose the size and channel count when asked),
 * then every image is decoded, converted and resized to the chosen shape, in
 * parallel on the library's threads; memory holds one full-size image per
 * thread at a time plus the resized 8-bit samples.
 *
 * @param root the folder.
 * @param options see ::lb_folder_options; NULL means the defaults.
 * @param out receives the dataset, released with lb_dataset_free().
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer or bad options; ::LB_EIO
 *         when root or a class directory cannot be read, or (without
 *         skip_bad_files) a file cannot be read; ::LB_EFORMAT when root has
 *         no class directory, a class directory has no image (after
 *         skipping), or (without skip_bad_files) a file is not a valid
 *         image; ::LB_ENOMEM. The message names the path.
 */
LB_API lb_status lb_dataset_load_folder(const char *root,
                                        const lb_folder_options *options,
                                        lb_dataset **out);

/**
 * Creates a dataset from 8-bit samples in memory (copied).
 *
 * @param samples `[count][channels][height][width]` bytes.
 * @param labels `count` labels, each 0 to num_classes - 1.
 * @param count number of samples, >= 1.
 * @param channels, height, width the sample shape, each >= 1.
 * @param num_classes >= 1.
 * @param out receives the dataset.
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer, a bad size or a label out
 *         of range (the message gives its index); ::LB_ENOMEM.
 */
LB_API lb_status lb_dataset_from_memory(const uint8_t *samples,
                                        const int32_t *labels, int64_t count,
                                        int32_t channels, int32_t height,
                                        int32_t width, int32_t num_classes,
                                        lb_dataset **out);

/** Releases a dataset. NULL is allowed. */
LB_API void lb_dataset_free(lb_dataset *ds);

/** Number of samples, or 0 when @p ds is NULL. */
LB_API int64_t lb_dataset_size(const lb_dataset *ds);

/** Number of classes, or 0 when @p ds is NULL. */
LB_API int32_t lb_dataset_num_classes(const lb_dataset *ds);

/**
 * The shape of one sample.
 *
 * @param ds the dataset.
 * @param channels, height, width receive the shape; each may be NULL.
 * @return ::LB_OK, or ::LB_EINVAL when @p ds is NULL.
 */
LB_API lb_status lb_dataset_sample_shape(const lb_dataset *ds,
                                         int32_t *channels, int32_t *height,
                                         int32_t *width);

/** The labels, `lb_dataset_size(ds)` of them, owned by the dataset; NULL
 *  when @p ds is NULL. */
LB_API const int32_t *lb_dataset_labels(const lb_dataset *ds);

/** The name of class @p label: the folder name for an image folder,
 *  Fashion-MNIST's names for Fashion-MNIST, the label in decimal otherwise.
 *  NULL when @p ds is NULL or @p label is out of range. Owned by the
 *  dataset. */
LB_API const char *lb_dataset_class_name(const lb_dataset *ds, int32_t label);

/**
 * Counts the samples of each class.
 *
 * @param ds the dataset.
 * @param counts receives num_classes counts.
 * @param capacity the length of @p counts, >= num_classes.
 * @return ::LB_OK, or ::LB_EINVAL for a NULL pointer or a short array.
 */
LB_API lb_status lb_dataset_class_counts(const lb_dataset *ds, int64_t *counts,
                                         int32_t capacity);

/** How many files lb_dataset_load_folder() left out under skip_bad_files;
 *  0 for other datasets or NULL. */
LB_API int64_t lb_dataset_skipped_files(const lb_dataset *ds);

/** The path of sample @p index for a folder dataset (owned by the dataset),
 *  NULL for other datasets or an index out of range. */
LB_API const char *lb_dataset_sample_path(const lb_dataset *ds, int64_t index);

/**
 * Sets the normalisation lb_dataset_batch() applies: `(x - mean[c]) /
 * std[c]` on samples scaled to [0, 1]. The default is mean 0, std 1.
 *
 * @param ds the dataset.
 * @param mean, std one value per channel; every std > 0 and finite.
 * @param channels the length of both arrays: the dataset's channel count.
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer, a wrong channel count, a
 *         non-positive std; ::LB_ENONFINITE for NaN or infinity.
 */
LB_API lb_status lb_dataset_set_normalization(lb_dataset *ds,
                                              const float *mean,
                                              const float *std,
                                              int32_t channels);

/**
 * Computes the per-channel mean and standard deviation (population) of the
 * samples scaled to [0, 1], over the given samples (for example a training
 * split) or over all samples.
 *
 * @param ds the dataset.
 * @param indices the samples to use, or NULL for all.
 * @param count the number of indices (ignored when @p indices is NULL).
 * @param mean, std receive one value per channel.
 * @param channels the length of both arrays: the dataset's channel count.
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer, a wrong channel count, no
 *         samples or an index out of range.
 */
LB_API lb_status lb_dataset_channel_stats(const lb_dataset *ds,
                                          const int64_t *indices,
                                          int64_t count, float *mean,
                                          float *std, int32_t channels);

/** Training augmentations applied by lb_dataset_batch(). Zero-initialise
 *  and set what you want; all zeros is no augmentation. */
typedef struct lb_augment {
  int32_t crop_padding;    /**< random crop: pad every side with this many
                                black pixels (0 before normalisation, as
                                torchvision's RandomCrop(size, padding) on
                                the image before ToTensor), then cut a
                                window of the original size at a uniformly
                                random offset; 0 is off, at most 1024. The
                                flip, when on, mirrors the cut window. */
  int32_t horizontal_flip; /**< nonzero: mirror left-right with probability
                                1/2. */
} lb_augment;

/**
 * Fills a batch: sample `indices[i]` goes to image i of @p images, scaled to
 * [0, 1], normalised, and augmented when @p augment is not NULL, and its
 * label to `labels[i]`.
 *
 * The random choices of sample i depend only on @p seed and i, so a batch
 * is the same on every machine and thread count. Give each batch its own
 * seed (for example one drawn from the epoch's generator).
 *
 * @param ds the dataset.
 * @param indices `count` sample indices, each 0 to size - 1.
 * @param count the batch size, >= 1.
 * @param augment the augmentations, or NULL for none.
 * @param seed seeds the augmentations.
 * @param images a `[count][channels][height][width]` float tensor (any
 *        tensor with that many elements is accepted; it is filled in that
 *        layout).
 * @param labels receives `count` labels; may be NULL.
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer, an index out of range
 *         (the message gives its position), a tensor of the wrong size or
 *         bad augmentation values.
 */
LB_API lb_status lb_dataset_batch(const lb_dataset *ds, const int64_t *indices,
                                  int64_t count, const lb_augment *augment,
                                  uint64_t seed, lb_tensor *images,
                                  int32_t *labels);

/** @} */

/** @defgroup splits Imbalanced splits
 *
 * An ::lb_split is a subset of a labelled set: which samples (their indices,
 * ascending) and their labels. Splits are built from per-class counts with a
 * seeded generator of the library's own, so a seed gives the same indices on
 * every machine. Counts for the first K classes make a K-class split:
 * samples of a label >= K are never chosen.
 *  @{ */

/** Opaque split handle. */
typedef struct lb_split lb_split;

/** The largest number of classes of a count profile. */
#define LB_PROFILE_MAX_CLASSES 65536

/**
 * The training counts of a named profile: the paper's Table 1 profiles
 * `caltech` (8 classes: 7 335 14 100 700 698 139 28), `part1` (9 classes:
 * 100 400 200 700 50 689 423 17 10) and `part2` (9 classes: 200 100 700 650
 * 400 1100 10 50 1000).
 *
 * @param name the profile's name.
 * @param counts receives the counts; may be NULL to ask only for the size.
 * @param capacity the length of @p counts.
 * @param num_classes receives the number of classes.
 * @param test_per_class receives the profile's test images per class (100
 *        for caltech, 150 for part1 and part2); may be NULL.
 * @return ::LB_OK; ::LB_EINVAL for a NULL name or num_classes, or a
 *         capacity below the class count; ::LB_EUNSUPPORTED for an unknown
 *         name (the message lists the known ones).
 */
LB_API lb_status lb_profile_counts(const char *name, int64_t *counts,
                                   int32_t capacity, int32_t *num_classes,
                                   int64_t *test_per_class);

/** Shapes of a long-tailed count profile. Values are fixed and
 *  append-only. */
typedef enum lb_long_tail_kind {
  LB_LONG_TAIL_EXP = 0, /**< `n_i = floor(n_max * (1/rho)^(i / (K - 1)))`,
                             as CIFAR-10-LT is built */
  LB_LONG_TAIL_STEP = 1 /**< the first ceil(K / 2) classes at n_max, the
                             others at floor(n_max / rho) */
} lb_long_tail_kind;

/**
 * The counts of a long-tailed profile of K classes.
 *
 * ::LB_LONG_TAIL_EXP: `n_i = floor(n_max * (1/rho)^(i / (K - 1)))` (n_max
 * for K = 1), computed in double exactly as the CIFAR-LT reference code
 * computes it (`pow(1/rho, i / (K - 1.0))`), so that the published counts
 * come out; where the exact value is a whole number the rounding of pow()
 * may give one less. ::LB_LONG_TAIL_STEP: the first `ceil(K / 2)` classes
 * get n_max, the others `floor(n_max / rho)`.
 *
 * @param kind the shape.
 * @param n_max the count of the largest class, >= 1.
 * @param rho the imbalance ratio n_max / n_min, >= 1 and finite.
 * @param num_classes K, 1 to ::LB_PROFILE_MAX_CLASSES.
 * @param counts receives K counts.
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer or a value out of range,
 *         or when a count would be 0 (the message names the class);
 *         ::LB_EUNSUPPORTED for an unknown kind.
 */
LB_API lb_status lb_long_tail_counts(lb_long_tail_kind kind, int64_t n_max,
                                     double rho, int32_t num_classes,
                                     int64_t *counts);

/**
 * Chooses, for each class c < num_classes, `counts[c]` of its samples at
 * random without replacement (a seeded partial Fisher-Yates shuffle of the
 * class's samples in index order).
 *
 * @param labels the labels of the whole set, `count` of them; labels below
 *        0 are never chosen.
 * @param count the number of labels.
 * @param counts how many samples of each class to take.
 * @param num_classes the length of @p counts: the split's class count.
 * @param exclude a split of the same set whose samples must not be chosen
 *        (to hold a test split out of the same folder), or NULL.
 * @param seed the seed; equal seeds give equal splits.
 * @param out receives the split, released with lb_split_free().
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer, a negative count, or a
 *         count larger than the samples class c has available (the message
 *         names the class and both numbers); ::LB_ENOMEM.
 */
LB_API lb_status lb_split_by_counts(const int32_t *labels, int64_t count,
                                    const int64_t *counts, int32_t num_classes,
                                    const lb_split *exclude, uint64_t seed,
                                    lb_split **out);

/** Releases a split. NULL is allowed. */
LB_API void lb_split_free(lb_split *split);

/** Number of samples in the split, or 0 for NULL. */
LB_API int64_t lb_split_size(const lb_split *split);

/** Number of classes of the split (the length of its counts), or 0. */
LB_API int32_t lb_split_num_classes(const lb_split *split);

/** The chosen samples' indices into the whole set, ascending,
 *  lb_split_size() of them; owned by the split. NULL for NULL. */
LB_API const int64_t *lb_split_indices(const lb_split *split);

/** The chosen samples' labels, in the order of lb_split_indices(); owned by
 *  the split. NULL for NULL. */
LB_API const int32_t *lb_split_labels(const lb_split *split);

/**
 * The number of samples of each class in the split.
 *
 * @return ::LB_OK, or ::LB_EINVAL for a NULL pointer or a capacity below
 *         lb_split_num_classes().
 */
LB_API lb_status lb_split_class_counts(const lb_split *split, int64_t *counts,
                                       int32_t capacity);

/** @} */

/** @defgroup samplers Samplers
 *
 * A sampler hands out one epoch of positions at a time: numbers 0 to n - 1
 * into the labels it was created with (for a split, map them through
 * lb_split_indices()). Epochs come from a seeded generator of the
 * library's own: a seed gives the same sequence of epochs on every machine.
 *  @{ */

/** Opaque sampler handle. */
typedef struct lb_sampler lb_sampler;

/** Sampling strategies. Values are fixed and append-only. */
typedef enum lb_sampler_kind {
  LB_SAMPLER_SEQUENTIAL = 0,     /**< 0, 1, ..., n - 1; epoch length n */
  LB_SAMPLER_SHUFFLE = 1,        /**< a random permutation; length n */
  LB_SAMPLER_OVERSAMPLE = 2,     /**< every class up to the largest count:
                                      all its samples plus draws with
                                      replacement, shuffled (imbalanced-learn's
                                      RandomOverSampler); length
                                      K_present * n_max */
  LB_SAMPLER_UNDERSAMPLE = 3,    /**< every class down to the smallest
                                      present count, drawn without
                                      replacement, shuffled; length
                                      K_present * n_min */
  LB_SAMPLER_CLASS_BALANCED = 4, /**< each draw: a present class uniformly,
                                      then one of its samples uniformly;
                                      length n unless set */
  LB_SAMPLER_POWER = 5,          /**< each draw: class c with probability
                                      proportional to n_c^q (q = 0.5, square-
                                      root sampling, unless set), then one of
                                      its samples; length n unless set */
  LB_SAMPLER_WEIGHTED = 6        /**< each draw: sample i with probability
                                      proportional to weight i, with
                                      replacement (PyTorch's
                                      WeightedRandomSampler); length n unless
                                      set */
} lb_sampler_kind;

/** Options of lb_sampler_create(). Start from lb_sampler_options_default(). */
typedef struct lb_sampler_options {
  size_t struct_size;   /**< `sizeof(lb_sampler_options)`; a smaller value is
                             refused, a larger one's extra bytes are
                             ignored. */
  double power;         /**< q of ::LB_SAMPLER_POWER, 0 to 1 */
  int64_t epoch_length; /**< draws per epoch of the with-replacement kinds
                             (class-balanced, power, weighted); 0 means n */
  const double *weights; /**< ::LB_SAMPLER_WEIGHTED: n weights, each >= 0 and
                              finite, not all 0 (copied) */
} lb_sampler_options;

/** The default sampler options: power 0.5, epoch_length 0 (n), no
 *  weights. */
LB_API lb_sampler_options lb_sampler_options_default(void);

/**
 * Creates a sampler over n labelled samples.
 *
 * @param kind the strategy.
 * @param labels n labels (copied), each 0 to num_classes - 1.
 * @param n the number of samples, >= 1.
 * @param num_classes the number of classes, >= 1.
 * @param options see ::lb_sampler_options; NULL means the defaults.
 * @param seed the seed of the epochs.
 * @param out receives the sampler, released with lb_sampler_free().
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer, a label out of range, bad
 *         options or missing weights for ::LB_SAMPLER_WEIGHTED;
 *         ::LB_EUNSUPPORTED for an unknown kind; ::LB_ENONFINITE for a
 *         non-finite weight or power; ::LB_ENOMEM.
 */
LB_API lb_status lb_sampler_create(lb_sampler_kind kind, const int32_t *labels,
                                   int64_t n, int32_t num_classes,
                                   const lb_sampler_options *options,
                                   uint64_t seed, lb_sampler **out);

/** Releases a sampler. NULL is allowed. */
LB_API void lb_sampler_free(lb_sampler *s);

/** The number of positions every epoch has (see ::lb_sampler_kind), or 0
 *  for NULL. */
LB_API int64_t lb_sampler_epoch_length(const lb_sampler *s);

/**
 * Writes the next epoch's positions.
 *
 * @param s the sampler.
 * @param positions receives lb_sampler_epoch_length() positions.
 * @param capacity the length of @p positions.
 * @return ::LB_OK, or ::LB_EINVAL for a NULL pointer or a capacity below the
 *         epoch length (the sampler is then unchanged).
 */
LB_API lb_status lb_sampler_next_epoch(lb_sampler *s, int64_t *positions,
                                       int64_t capacity);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* LOSSBAL_DATA_H */
