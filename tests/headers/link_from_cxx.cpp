// Calls the C API from C++ through the umbrella header: it links only if
// every declaration sits inside extern "C".
#include <lossbal/lossbal.h>

#include <cstdio>
#include <cstring>

int main() {
  int failures = 0;
  if (lb_version() != LB_VERSION_NUMBER) {
    std::printf("lb_version() = %u, headers say %d\n", lb_version(),
                LB_VERSION_NUMBER);
    failures++;
  }
  if (std::strcmp(lb_status_name(LB_EINVAL), "LB_EINVAL") != 0) {
    std::printf("lb_status_name(LB_EINVAL) = %s\n", lb_status_name(LB_EINVAL));
    failures++;
  }
  lb_tensor *tensor = nullptr;
  const int64_t shape[1] = {3};
  if (lb_tensor_zeros(1, shape, &tensor) != LB_OK ||
      lb_tensor_numel(tensor) != 3) {
    std::printf("lb_tensor_zeros from C++ failed: %s\n", lb_last_error());
    failures++;
  }
  lb_tensor_free(tensor);
  std::printf("%s\n", failures ? "FAILED" : "headers usable from C++");
  return failures ? 1 : 0;
}
