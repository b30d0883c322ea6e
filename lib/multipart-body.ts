/** Bytes per piece of a streamed body: small enough that sending never holds a second copy of a file. */
const PIECE = 256 * 1024;

const encoder = new TextEncoder();

/** A text field of a multipart body. */
export interface FieldPart {
  name: string;
  value: string;
  contentType?: string;
}

/** A file of a multipart body: its form field, its file name, its bytes. */
export interface FilePart {
  field: string;
  name: string;
  data: Uint8Array;
  contentType: string;
}

/**
 * A multipart/form-data body sent straight from the files' own bytes: for
 * Discord's messages with files (`payload_json`, then `files[n]`) and Coze's
 * file upload (`file`).
 *
 * A FormData of Blobs copies each file into its Blob, and the fetch then
 * serialises the whole form into one more copy: ten 9.9 MiB images cost three
 * times their size. This body is read in pieces that are views of the files
 * (no copy), has a known length (Discord answers 411 without one; send it as
 * Content-Length), and can be read again from the start, so a client may send
 * it once more after a rate limit or a 5xx.
 */
export class MultipartBody {
  readonly boundary = `coze-chat-proxy-${crypto.randomUUID()}`;
  readonly size: number;
  private readonly parts: Uint8Array[] = [];

  constructor(fields: FieldPart[], files: FilePart[]) {
    const dash = `--${this.boundary}\r\n`;
    for (const field of fields) {
      const type = field.contentType ? `Content-Type: ${field.contentType}\r\n` : "";
      this.parts.push(encoder.encode(`${dash}Content-Disposition: form-data; name="${quoted(field.name)}"\r\n${type}\r\n${field.value}\r\n`));
    }
    for (const file of files) {
      this.parts.push(encoder.encode(`${dash}Content-Disposition: form-data; name="${quoted(file.field)}"; filename="${quoted(file.name)}"\r\nContent-Type: ${file.contentType}\r\n\r\n`));
      this.parts.push(file.data, encoder.encode("\r\n"));
    }
    this.parts.push(encoder.encode(`--${this.boundary}--\r\n`));
    this.size = this.parts.reduce((n, part) => n + part.byteLength, 0);
  }

  get contentType(): string {
    return `multipart/form-data; boundary=${this.boundary}`;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (const part of this.parts) {
      for (let at = 0; at < part.byteLength; at += PIECE) yield part.subarray(at, at + PIECE);
    }
  }
}

const quoted = (text: string) => text.replace(/["\r\n\\]/g, "_");
