/* Runs the bundle of examples/mlp.nn from C: soma compile examples/mlp.nn
 * --emit=bundle -o out/ writes out/mlp.h and out/libmlp.a (docs/deploy.md). */
#include "mlp.h"

#include <stdio.h>

int main(void) {
  /* Two samples of the network's 4 measurements, row-major. */
  const float x[2 * SOMA_MLP_INPUT0_SIZE] = {0.5f, 0.3f, -0.2f, 1.0f, 1.5f, -0.7f, 0.2f, 0.0f};
  float probs[2 * SOMA_MLP_OUTPUT0_SIZE];

  soma_bundle_options options = {0};
  options.threads = 1; /* a small network: every layer on this thread */
  soma_bundle *mlp = NULL;
  if (soma_mlp_load(&options, &mlp) != SOMA_BUNDLE_OK ||
      soma_mlp_run(mlp, 2, x, probs) != SOMA_BUNDLE_OK) {
    fprintf(stderr, "classify: %s\n", soma_bundle_last_error());
    return 1;
  }
  for (int n = 0; n < 2; ++n)
    printf("sample %d: %.4f %.4f %.4f\n", n, probs[3 * n], probs[3 * n + 1], probs[3 * n + 2]);
  soma_bundle_free(mlp);
  return 0;
}
