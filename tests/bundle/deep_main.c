/* The bundle test's C program (tests/bundle/bundle_check.py): loads the
 * bundle of deep.nn, runs BATCH samples read from X_FILE and Z_FILE (raw
 * f32) with THREADS threads, and writes the two outputs, raw, to
 * OUT_PREFIX.probs and OUT_PREFIX.features. Every failure prints the
 * runtime's message (a failed load, its error code too) and exits 1. Built with no soma library but the
 * runtime (or the bundle's shared library), and no LLVM. */
#include "deep_net.h"

#include <stdio.h>
#include <stdlib.h>

static float *readFloats(const char *path, long count) {
  float *data = malloc((size_t)count * sizeof(float));
  FILE *f = fopen(path, "rb");
  if (!data || !f || fread(data, sizeof(float), (size_t)count, f) != (size_t)count) {
    fprintf(stderr, "deep_main: cannot read %ld floats from %s\n", count, path);
    exit(1);
  }
  fclose(f);
  return data;
}

static void writeFloats(const char *prefix, const char *name, const float *data, long count) {
  char path[4096];
  snprintf(path, sizeof path, "%s.%s", prefix, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, sizeof(float), (size_t)count, f) != (size_t)count || fclose(f) != 0) {
    fprintf(stderr, "deep_main: cannot write %s\n", path);
    exit(1);
  }
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: deep_main BATCH THREADS X_FILE Z_FILE OUT_PREFIX [WEIGHTS]\n");
    return 2;
  }
  const long batch = atol(argv[1]);
  soma_bundle_options options = {0};
  options.threads = atoi(argv[2]);
  options.weights_path = argc > 6 ? argv[6] : NULL;
  float *x = readFloats(argv[3], batch * SOMA_DEEP_NET_INPUT0_SIZE);
  float *z = readFloats(argv[4], batch * SOMA_DEEP_NET_INPUT1_SIZE);
  float *probs = malloc((size_t)(batch * SOMA_DEEP_NET_OUTPUT0_SIZE) * sizeof(float));
  float *features = malloc((size_t)(batch * SOMA_DEEP_NET_OUTPUT1_SIZE) * sizeof(float));

  soma_bundle *net = NULL;
  const int loaded = soma_deep_net_load(&options, &net);
  if (loaded != SOMA_BUNDLE_OK) {
    fprintf(stderr, "deep_main: load error %d: %s\n", loaded, soma_bundle_last_error());
    return 1;
  }
  if (soma_bundle_input_count(net) != SOMA_DEEP_NET_INPUT_COUNT ||
      soma_bundle_output_count(net) != SOMA_DEEP_NET_OUTPUT_COUNT) {
    fprintf(stderr, "deep_main: the loaded bundle's counts differ from its header's\n");
    return 1;
  }
  printf("%s %s -> %s %s\n", soma_bundle_input_name(net, 0), soma_bundle_input_name(net, 1),
         soma_bundle_output_name(net, 0), soma_bundle_output_name(net, 1));
  if (soma_deep_net_run(net, batch, x, z, probs, features) != SOMA_BUNDLE_OK) {
    fprintf(stderr, "deep_main: %s\n", soma_bundle_last_error());
    return 1;
  }
  /* A mistake is an error code with a message, never a crash. */
  if (soma_deep_net_run(net, -1, x, z, probs, features) != SOMA_BUNDLE_ERROR_ARGUMENT) {
    fprintf(stderr, "deep_main: a negative batch was not refused\n");
    return 1;
  }
  writeFloats(argv[5], "probs", probs, batch * SOMA_DEEP_NET_OUTPUT0_SIZE);
  writeFloats(argv[5], "features", features, batch * SOMA_DEEP_NET_OUTPUT1_SIZE);
  soma_bundle_free(net);
  free(x);
  free(z);
  free(probs);
  free(features);
  return 0;
}
