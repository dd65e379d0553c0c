/* Version of the library actually linked, which may differ from the headers
 * a program was compiled with. */
#include "lossbal/lossbal.h"

#define LB_STRINGIFY_(x) #x
#define LB_STRINGIFY(x) LB_STRINGIFY_(x)

uint32_t lb_version(void) { return LB_VERSION_NUMBER; }

const char *lb_version_string(void) {
  return LB_STRINGIFY(LB_VERSION_MAJOR) "." LB_STRINGIFY(
      LB_VERSION_MINOR) "." LB_STRINGIFY(LB_VERSION_PATCH);
}
