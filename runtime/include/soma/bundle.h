/* soma's bundle runtime, for C and C++: loads a network compiled ahead of
 * time (`soma compile net.nn --emit=bundle -o out/`) and runs it. Each
 * bundle's own header (out/NET.h) declares soma_NET_load and soma_NET_run,
 * and the names and shapes of the network's inputs and outputs; this header
 * declares what every bundle shares. The runtime links no LLVM: a bundle
 * needs libsoma_runtime (or its shared library, which holds it) and oneTBB.
 * docs/deploy.md walks through it. */
#ifndef SOMA_BUNDLE_H
#define SOMA_BUNDLE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A bundle's compiled code, plan and weights (soma_NET_bundle). */
typedef struct soma_bundle_descriptor soma_bundle_descriptor;
/* A loaded bundle: its program, threads and run contexts. Many threads may
 * run one loaded bundle at once. */
typedef struct soma_bundle soma_bundle;

/* Error codes: every function that can fail returns one, and
 * soma_bundle_last_error() the calling thread's message. */
enum {
  SOMA_BUNDLE_OK = 0,
  SOMA_BUNDLE_ERROR_ARGUMENT = 1, /* a null pointer, a negative batch, a foreign bundle */
  SOMA_BUNDLE_ERROR_FORMAT = 2,   /* the bundle's data is not what this runtime reads */
  SOMA_BUNDLE_ERROR_WEIGHTS = 3,  /* --weights=external: the file is missing or not the bundle's */
  SOMA_BUNDLE_ERROR_MEMORY = 4,   /* out of memory */
  SOMA_BUNDLE_ERROR_CPU = 5       /* this CPU lacks instructions the bundle's code uses */
};

/* How a bundle runs: zero-initialise, then set what you need. */
typedef struct soma_bundle_options {
  /* Threads one run may use: 0 all cores, 1 every layer on the calling
   * thread. Results are bit-identical for any value. */
  int threads;
  /* Nonzero: parallel layers run in the oneTBB task arena of the thread that
   * calls run (an application's own); `threads` is then ignored. */
  int caller_arena;
  /* A bundle compiled with --weights=external: the weights file; NULL: the
   * file soma wrote, next to the library or executable holding the bundle. */
  const char *weights_path;
} soma_bundle_options;

/* Loads `bundle` with `options` (NULL: the defaults) into *out. */
int soma_bundle_load(const soma_bundle_descriptor *bundle, const soma_bundle_options *options,
                     soma_bundle **out);
/* Runs `batch` samples: inputs[i] holds batch x (input i's per-sample size)
 * floats, row-major, in the network's input order; outputs likewise. */
int soma_bundle_run(soma_bundle *loaded, int64_t batch, const float *const *inputs,
                    float *const *outputs);
/* Frees a loaded bundle (NULL: nothing); no run may be in progress. */
void soma_bundle_free(soma_bundle *loaded);
/* The calling thread's last error message ("" when none). */
const char *soma_bundle_last_error(void);

/* What a loaded bundle takes and gives: counts, names, per-sample shapes. */
int soma_bundle_input_count(const soma_bundle *loaded);
int soma_bundle_output_count(const soma_bundle *loaded);
/* Input or output i's name; NULL when out of range. */
const char *soma_bundle_input_name(const soma_bundle *loaded, int i);
const char *soma_bundle_output_name(const soma_bundle *loaded, int i);
/* Its per-sample rank and dims (dims: NULL when out of range). */
int soma_bundle_input_rank(const soma_bundle *loaded, int i);
int soma_bundle_output_rank(const soma_bundle *loaded, int i);
const int64_t *soma_bundle_input_dims(const soma_bundle *loaded, int i);
const int64_t *soma_bundle_output_dims(const soma_bundle *loaded, int i);

#ifdef __cplusplus
}
#endif

#endif /* SOMA_BUNDLE_H */
