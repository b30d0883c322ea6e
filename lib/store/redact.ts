/**
 * DATABASE_URL's password never reaches a log line: what the service logs
 * about its database passes through this, which removes the password (as
 * written in the URL and decoded) wherever an error's text repeats it.
 */
export function passwordRedactor(databaseUrl: string): (text: string) => string {
  let secrets: string[] = [];
  try {
    const url = new URL(databaseUrl);
    secrets = [url.password, decodeURIComponent(url.password)].filter((s) => s.length > 0);
  } catch {
    // An unparsable URL was refused at start; nothing to hide in one that is not used.
  }
  return (text) => secrets.reduce((out, secret) => out.replaceAll(secret, "***"), text);
}

/** The URL to name in a log line: its password replaced. */
export function safeDatabaseUrl(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    if (url.password) url.password = "***";
    return url.toString();
  } catch {
    return "(unparsable DATABASE_URL)";
  }
}
