/* The C API (soma/soma.h compiled as C11) from a C program: compile from a
 * file and from text, inspect, run on every engine (the JIT against the
 * reference interpreter), and every misuse an error code with a message.
 *
 *   soma_capi_test EXAMPLES_DIR
 *
 * Prints one line per failed check and exits 1 if any failed. */
#include <soma/soma.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      printf("%s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__, #cond,              \
             soma_last_error());                                                                   \
      ++failures;                                                                                  \
    }                                                                                              \
  } while (0)

static const char *kDeep = "network deep {\n"
                           "  input x: f32[13]\n"
                           "  dense a(x) { units = 19; weights = he(seed = 1); activation = relu }\n"
                           "  dense b(a) { units = 7; weights = xavier(seed = 2); activation = tanh }\n"
                           "  activation p(b) { activation = softmax }\n"
                           "  output p\n"
                           "  output hidden = a\n"
                           "}\n";

static void testFile(const char *examples) {
  char path[4096];
  snprintf(path, sizeof path, "%s/neuron.nn", examples);
  soma_model *m = NULL;
  CHECK(soma_compile_file(path, NULL, &m) == SOMA_OK);
  if (!m)
    return;
  CHECK(soma_model_input_count(m) == 1 && soma_model_output_count(m) == 1);
  CHECK(strcmp(soma_model_input_name(m, 0), "x") == 0);
  CHECK(strcmp(soma_model_output_name(m, 0), "n") == 0);
  CHECK(soma_model_input_rank(m, 0) == 1 && soma_model_input_dims(m, 0)[0] == 2);
  CHECK(soma_model_output_rank(m, 0) == 1 && soma_model_output_dims(m, 0)[0] == 1);
  CHECK(soma_model_input_name(m, 1) == NULL && soma_model_output_dims(m, -1) == NULL);
  CHECK(strcmp(soma_model_warnings(m), "") == 0);

  const float x[2] = {0.5f, 0.3f};
  float y[1] = {0};
  const int64_t xs[2] = {1, 2}, ys[2] = {1, 1};
  soma_input in = {"x", x, xs, 2};
  soma_output out = {"n", y, ys, 2};
  CHECK(soma_model_run(m, &in, 1, &out, 1) == SOMA_OK);
  CHECK(fabsf(y[0] - 0.78f) < 1e-6f);

  /* A wrong shape: an error naming the model's file and the input. */
  const int64_t bad[2] = {1, 3};
  soma_input wrong = {"x", x, bad, 2};
  CHECK(soma_model_run(m, &wrong, 1, &out, 1) == SOMA_ERROR_RUN);
  CHECK(strstr(soma_last_error(), "neuron.nn: error:") != NULL);
  CHECK(strstr(soma_last_error(), "'x'") != NULL);
  /* An unknown output name. */
  soma_output unknown = {"nope", y, ys, 2};
  CHECK(soma_model_run(m, &in, 1, &unknown, 1) == SOMA_ERROR_RUN);
  CHECK(strstr(soma_last_error(), "nope") != NULL);
  /* Null name, null arrays. */
  soma_input unnamed = {NULL, x, xs, 2};
  CHECK(soma_model_run(m, &unnamed, 1, &out, 1) == SOMA_ERROR_ARGUMENT);
  CHECK(soma_model_run(m, NULL, 1, &out, 1) == SOMA_ERROR_ARGUMENT);
  CHECK(soma_model_run(NULL, &in, 1, &out, 1) == SOMA_ERROR_ARGUMENT);
  soma_model_free(m);
}

/* The JIT's outputs against the reference interpreter's, batch 5. */
static void testEngines(void) {
  soma_compile_options jitOptions, interpOptions;
  soma_compile_options_init(&jitOptions);
  soma_compile_options_init(&interpOptions);
  jitOptions.engine = SOMA_ENGINE_JIT;
  jitOptions.threads = 2;
  interpOptions.engine = SOMA_ENGINE_INTERP;
  soma_model *jit = NULL, *interp = NULL;
  CHECK(soma_compile_string(kDeep, strlen(kDeep), "deep.nn", &jitOptions, &jit) == SOMA_OK);
  CHECK(soma_compile_string(kDeep, strlen(kDeep), "deep.nn", &interpOptions, &interp) == SOMA_OK);
  if (!jit || !interp)
    return;
  CHECK(soma_model_active_engine(jit) == SOMA_ENGINE_JIT);
  CHECK(soma_model_active_engine(interp) == SOMA_ENGINE_INTERP);
  CHECK(soma_model_output_count(jit) == 2);
  CHECK(strcmp(soma_model_output_name(jit, 1), "hidden") == 0);
  float x[5 * 13], p[2][5 * 7], h[2][5 * 19];
  for (int i = 0; i < 5 * 13; ++i)
    x[i] = (float)((i * 7) % 13 - 6) / 8.0f;
  const int64_t xs[2] = {5, 13}, ps[2] = {5, 7}, hs[2] = {5, 19};
  soma_input in = {"x", x, xs, 2};
  for (int e = 0; e < 2; ++e) {
    soma_output outs[2] = {{"p", p[e], ps, 2}, {"hidden", h[e], hs, 2}};
    CHECK(soma_model_run(e ? interp : jit, &in, 1, outs, 2) == SOMA_OK);
  }
  for (int i = 0; i < 5 * 7; ++i)
    CHECK(fabsf(p[0][i] - p[1][i]) <= 1e-5f + 1e-5f * fabsf(p[1][i]));
  for (int i = 0; i < 5 * 19; ++i)
    CHECK(fabsf(h[0][i] - h[1][i]) <= 1e-5f + 1e-5f * fabsf(h[1][i]));
  soma_model_free(jit);
  soma_model_free(interp);
}

static void testCompileErrors(void) {
  soma_model *m = (soma_model *)&failures; /* overwritten with NULL on failure */
  const char *bad = "network bad {\n  input x: f32[2]\n  neuron n(y) { weights = [1, 2] }\n"
                    "  output n\n}\n";
  CHECK(soma_compile_string(bad, strlen(bad), "bad.nn", NULL, &m) == SOMA_ERROR_COMPILE);
  CHECK(m == NULL);
  CHECK(strstr(soma_last_error(), "bad.nn:3:12: error: unknown name 'y'") != NULL);
  CHECK(soma_compile_file("/no/such/file.nn", NULL, &m) == SOMA_ERROR_COMPILE);
  CHECK(strstr(soma_last_error(), "/no/such/file.nn") != NULL);
  CHECK(soma_compile_file(NULL, NULL, &m) == SOMA_ERROR_ARGUMENT);
  CHECK(soma_compile_string(kDeep, strlen(kDeep), NULL, NULL, NULL) == SOMA_ERROR_ARGUMENT);

  soma_compile_options o;
  soma_compile_options_init(&o);
  o.engine = 9;
  CHECK(soma_compile_string(kDeep, strlen(kDeep), NULL, &o, &m) == SOMA_ERROR_ARGUMENT);
  CHECK(strstr(soma_last_error(), "unknown engine 9") != NULL);
  soma_compile_options_init(&o);
  o.opt_level = 4;
  CHECK(soma_compile_string(kDeep, strlen(kDeep), NULL, &o, &m) == SOMA_ERROR_ARGUMENT);
  soma_compile_options_init(&o);
  o.struct_size = sizeof o + 8; /* from a newer soma than this one */
  CHECK(soma_compile_string(kDeep, strlen(kDeep), NULL, &o, &m) == SOMA_ERROR_ARGUMENT);
  CHECK(strstr(soma_last_error(), "struct_size") != NULL);
  soma_compile_options_init(&o);
  o.cpu = "no-such-cpu";
  o.engine = SOMA_ENGINE_JIT;
  CHECK(soma_compile_string(kDeep, strlen(kDeep), NULL, &o, &m) == SOMA_ERROR_COMPILE);
  CHECK(strstr(soma_last_error(), "unknown CPU 'no-such-cpu'") != NULL);
  /* An older program's shorter struct: the fields after it take defaults. */
  soma_compile_options_init(&o);
  o.struct_size = offsetof(soma_compile_options, threads);
  o.threads = -5; /* beyond its struct: ignored */
  CHECK(soma_compile_string(kDeep, strlen(kDeep), NULL, &o, &m) == SOMA_OK);
  soma_model_free(m);
  soma_model_free(NULL);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: soma_capi_test EXAMPLES_DIR\n");
    return 2;
  }
  CHECK(strcmp(soma_version(), SOMA_VERSION_STRING) == 0);
  testFile(argv[1]);
  testEngines();
  testCompileErrors();
  if (failures) {
    printf("%d checks failed\n", failures);
    return 1;
  }
  printf("all checks passed\n");
  return 0;
}
