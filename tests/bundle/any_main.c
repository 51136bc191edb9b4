/* The bundle test's generic C program: runs any bundle through the
 * runtime's own functions (soma/bundle.h) alone. Compiled with
 * -DBUNDLE=soma_NET_bundle; reads each input, in order, from a raw f32
 * file, and writes each output to OUT_PREFIX.NAME.
 *
 *   any_main BATCH THREADS OUT_PREFIX INPUT_FILE...
 */
#include <soma/bundle.h>

#include <stdio.h>
#include <stdlib.h>

extern const soma_bundle_descriptor BUNDLE;

static long sampleSize(const int64_t *dims, int rank) {
  long n = 1;
  for (int i = 0; i < rank; ++i)
    n *= (long)dims[i];
  return n;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: any_main BATCH THREADS OUT_PREFIX INPUT_FILE...\n");
    return 2;
  }
  const long batch = atol(argv[1]);
  soma_bundle_options options = {0};
  options.threads = atoi(argv[2]);
  soma_bundle *net = NULL;
  if (soma_bundle_load(&BUNDLE, &options, &net) != SOMA_BUNDLE_OK) {
    fprintf(stderr, "any_main: %s\n", soma_bundle_last_error());
    return 1;
  }
  const int nIn = soma_bundle_input_count(net), nOut = soma_bundle_output_count(net);
  if (argc != 4 + nIn) {
    fprintf(stderr, "any_main: the bundle has %d inputs, got %d files\n", nIn, argc - 4);
    return 2;
  }
  float *buffers[16];
  if (nIn + nOut > 16)
    return 2;
  for (int i = 0; i < nIn + nOut; ++i) {
    const int in = i < nIn, k = in ? i : i - nIn;
    const long n = batch * sampleSize(in ? soma_bundle_input_dims(net, k)
                                         : soma_bundle_output_dims(net, k),
                                      in ? soma_bundle_input_rank(net, k)
                                         : soma_bundle_output_rank(net, k));
    buffers[i] = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (in) {
      FILE *f = fopen(argv[4 + i], "rb");
      if (!f || fread(buffers[i], sizeof(float), (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "any_main: cannot read %ld floats from %s\n", n, argv[4 + i]);
        return 1;
      }
      fclose(f);
    }
  }
  if (soma_bundle_run(net, batch, (const float *const *)buffers, buffers + nIn) !=
      SOMA_BUNDLE_OK) {
    fprintf(stderr, "any_main: %s\n", soma_bundle_last_error());
    return 1;
  }
  for (int o = 0; o < nOut; ++o) {
    char path[4096];
    snprintf(path, sizeof path, "%s.%s", argv[3], soma_bundle_output_name(net, o));
    const long n = batch * sampleSize(soma_bundle_output_dims(net, o),
                                      soma_bundle_output_rank(net, o));
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buffers[nIn + o], sizeof(float), (size_t)n, f) != (size_t)n || fclose(f)) {
      fprintf(stderr, "any_main: cannot write %s\n", path);
      return 1;
    }
  }
  for (int i = 0; i < nIn + nOut; ++i)
    free(buffers[i]);
  soma_bundle_free(net);
  return 0;
}
