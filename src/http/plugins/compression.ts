// Response compression with @fastify/compress, negotiated by Accept-Encoding (zstd, br, gzip,
// deflate); bodies under 1 KiB are sent as they are. Request bodies are not decompressed: a
// compressed body could expand far beyond BODY_LIMIT_BYTES.
import compress from '@fastify/compress';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export const compression = fp(async (app: FastifyInstance) => {
  await app.register(compress, { global: true, globalDecompression: false, threshold: 1024 });
});
