/* A user's program: checks that the library it runs with matches the headers
 * it was built with, that a tensor computation on OpenBLAS works, and that
 * the criterion gives the batch-balanced loss of a two-sample batch. */
#include <lossbal/lossbal.h>

#include <math.h>
#include <stdio.h>

int main(void) {
  if (lb_version() != LB_VERSION_NUMBER) {
    printf("version mismatch: library %u, headers %d\n", lb_version(),
           LB_VERSION_NUMBER);
    return 1;
  }
  const int64_t shape[2] = {2, 2};
  const float identity[4] = {1, 0, 0, 1}, values[4] = {1, 2, 3, 4};
  lb_tensor *a = NULL, *b = NULL, *c = NULL;
  double sum = 0.0;
  lb_status status = lb_tensor_from_copy(2, shape, identity, &a);
  if (status == LB_OK) status = lb_tensor_from_copy(2, shape, values, &b);
  if (status == LB_OK) status = lb_tensor_create(2, shape, &c);
  if (status == LB_OK) status = lb_tensor_matmul(c, a, 0, b, 1, 1.0f, 0.0f);
  if (status == LB_OK) status = lb_tensor_sum(c, &sum);
  lb_tensor_free(a);
  lb_tensor_free(b);
  lb_tensor_free(c);
  if (status != LB_OK || sum != 10.0) {
    printf("computation failed: %s (%s), sum %g\n", lb_status_name(status),
           lb_last_error(), sum);
    return 1;
  }
  /* Two samples with uniform logits over two classes: each loses log 2. */
  const float logits[4] = {0, 0, 0, 0};
  const int32_t labels[2] = {0, 1};
  lb_criterion *criterion = NULL;
  double loss = 0.0;
  status = lb_criterion_create(LB_LOSS_BATCH_BALANCED, 2, &criterion);
  if (status == LB_OK)
    status = lb_criterion_compute(criterion, logits, labels, 2, &loss, NULL);
  lb_criterion_free(criterion);
  if (status != LB_OK || fabs(loss - log(2.0)) > 1e-6) {
    printf("criterion failed: %s (%s), loss %g\n", lb_status_name(status),
           lb_last_error(), loss);
    return 1;
  }
  printf("consumer ok: liblossbal %s\n", lb_version_string());
  return 0;
}
