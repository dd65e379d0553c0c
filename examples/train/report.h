/*
 * lossbal-train's outputs: the results table, the --json file and the
 * --plots figures.
 */
#ifndef LOSSBAL_TRAIN_REPORT_H
#define LOSSBAL_TRAIN_REPORT_H

#include "options.h"
#include "prepare.h"
#include "trainer.h"

/* Prints the split, then a line per evaluated method. */
void print_split(FILE *out, const train_options *o, const prepared_data *d);
void print_table(FILE *out, const prepared_data *d,
                 const method_result *results, int32_t count);

/* Return 0, or -1 with `error` set. */
int write_json(const char *path, const train_options *o,
               const prepared_data *d, const method_result *results,
               int32_t count, char *error, size_t error_size);
int write_plots(const char *dir, const prepared_data *d,
                const method_result *results, int32_t count, char *error,
                size_t error_size);

#endif /* LOSSBAL_TRAIN_REPORT_H */
