/* The C API: compile examples/neuron.nn, ask it for its input, run two
 * samples and print the outputs (docs/deploy.md#the-c-api). */
#include <soma/soma.h>

#include <stdio.h>

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "examples/neuron.nn";
  soma_compile_options options;
  soma_compile_options_init(&options);
  options.engine = SOMA_ENGINE_JIT;

  soma_model *model = NULL;
  if (soma_compile_file(path, &options, &model) != SOMA_OK) {
    fprintf(stderr, "%s", soma_last_error()); /* file:line:col: error: ... */
    return 1;
  }
  printf("input '%s' of %lld floats\n", soma_model_input_name(model, 0),
         (long long)soma_model_input_dims(model, 0)[0]);

  const float x[] = {0.5f, 0.3f, -1.0f, 0.25f};
  float y[2];
  const int64_t xShape[] = {2, 2}, yShape[] = {2, 1};
  soma_input in = {"x", x, xShape, 2};
  soma_output out = {"n", y, yShape, 2};
  if (soma_model_run(model, &in, 1, &out, 1) != SOMA_OK) {
    fprintf(stderr, "%s", soma_last_error());
    soma_model_free(model);
    return 1;
  }
  printf("n = %.2f, %.2f\n", y[0], y[1]);
  soma_model_free(model);
  return 0;
}
