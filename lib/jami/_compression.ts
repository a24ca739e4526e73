/**
 * gzip and zlib through the platform's CompressionStream, with a bound on
 * what decompression may produce (a small hostile input must not inflate
 * into gigabytes).
 *
 * @module
 */

/** The formats used by Jami archives: gzip (plain) and zlib (`deflate`, password). */
export type CompressionFormatName = "gzip" | "deflate";

async function collect(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
): Promise<Uint8Array | undefined> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

function source(bytes: Uint8Array): ReadableStream<BufferSource> {
  return new ReadableStream<BufferSource>({
    start(controller) {
      controller.enqueue(new Uint8Array(bytes));
      controller.close();
    },
  });
}

/** Compresses `bytes`. */
export async function compress(
  bytes: Uint8Array,
  format: CompressionFormatName,
): Promise<Uint8Array> {
  const out = await collect(
    source(bytes).pipeThrough(new CompressionStream(format)),
    Number.MAX_SAFE_INTEGER,
  );
  return out!;
}

/**
 * Decompresses `bytes`; undefined if they are not valid `format` data or
 * would produce more than `maxBytes`.
 */
export async function decompress(
  bytes: Uint8Array,
  format: CompressionFormatName,
  maxBytes: number,
): Promise<Uint8Array | undefined> {
  try {
    return await collect(
      source(bytes).pipeThrough(new DecompressionStream(format)),
      maxBytes,
    );
  } catch {
    return undefined;
  }
}
