/* The smallest liblossbal program: prints the library version and multiplies
 * two small matrices on OpenBLAS through the tensor API. */
#include <lossbal/lossbal.h>

#include <stdio.h>

static int report(lb_status status, const char *what) {
  fprintf(stderr, "%s failed: %s (%s)\n", what, lb_status_string(status),
          lb_last_error());
  return 1;
}

int main(void) {
  printf("liblossbal %s (headers %d.%d.%d)\n", lb_version_string(),
         LB_VERSION_MAJOR, LB_VERSION_MINOR, LB_VERSION_PATCH);

  const int64_t a_shape[2] = {2, 3}, b_shape[2] = {3, 2}, c_shape[2] = {2, 2};
  const float a_values[6] = {1, 2, 3, 4, 5, 6};
  const float b_values[6] = {7, 8, 9, 10, 11, 12};
  lb_tensor *a = NULL, *b = NULL, *c = NULL;
  lb_status status = lb_tensor_from_copy(2, a_shape, a_values, &a);
  if (status == LB_OK) status = lb_tensor_from_copy(2, b_shape, b_values, &b);
  if (status == LB_OK) status = lb_tensor_zeros(2, c_shape, &c);
  if (status == LB_OK) status = lb_tensor_matmul(c, a, 0, b, 0, 1.0f, 0.0f);
  double total = 0.0;
  if (status == LB_OK) status = lb_tensor_sum(c, &total);
  int exit_code = 0;
  if (status != LB_OK) {
    exit_code = report(status, "tensor computation");
  } else {
    const float *product = lb_tensor_data_const(c);
    printf("[1 2 3; 4 5 6] x [7 8; 9 10; 11 12] = [%g %g; %g %g], sum %g\n",
           product[0], product[1], product[2], product[3], total);
  }
  lb_tensor_free(a);
  lb_tensor_free(b);
  lb_tensor_free(c);
  return exit_code;
}
