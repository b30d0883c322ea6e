/** What a thrown value says, for a log line or an error message: its message when it is an Error, else its text. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The stack of a thrown value when it has one, for the log of an unexpected failure. */
export function errorStack(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
