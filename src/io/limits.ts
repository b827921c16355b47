/*
 * Limits on what the engine reads from files it did not write: a malformed or hostile file fails
 * with a typed error naming the limit instead of exhausting memory. Each is the default of an
 * option where a caller may need more.
 */

const GiB = 1024 ** 3;

/** Largest dataset file (IDX, raw or gzip) read from disk or from a URL: 2 GiB. */
export const MAX_DATASET_FILE_BYTES = 2 * GiB;

/** Largest IDX file a gzip stream may inflate to: 2 GiB (MNIST's largest is 47 MB). */
export const MAX_INFLATED_BYTES = 2 * GiB;

/** Largest safetensors checkpoint read from disk: 2 GiB. */
export const MAX_CHECKPOINT_FILE_BYTES = 2 * GiB;

/** Largest safetensors JSON header: 100 MB, the limit of the reference implementation. */
export const MAX_SAFETENSORS_HEADER_BYTES = 100_000_000;
