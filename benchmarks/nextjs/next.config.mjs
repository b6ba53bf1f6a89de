// Compression is a reverse proxy's job in front of `next start` (and of
// gunicorn): neither side of the benchmark gzips its answers.
const nextConfig = {
  compress: false,
  turbopack: { root: import.meta.dirname },
};

export default nextConfig;
