/** A mistake in the user's configuration: printed as one line, and the process exits non-zero. */
export class ConfigError extends Error {
  override name = "ConfigError";
}
