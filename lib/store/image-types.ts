/** Media types the store keeps, and the extension each is served under. */
export const EXTENSIONS: Record<string, string> = { "image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp" };
export const TYPES: Record<string, string> = Object.fromEntries(Object.entries(EXTENSIONS).map(([type, ext]) => [ext, type]));

/** Whether the store keeps images of this media type. */
export function acceptsImage(contentType: string): boolean {
  return contentType in EXTENSIONS;
}

/** A stored image's id: 128 random bits, the secret of its URL. */
export function newImageId(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex");
}
