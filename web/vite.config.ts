import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `vite build web` → web/dist, served at / by the local server and by CloudFront.
export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 800 },
  server: {
    // `npx vite web` during development: the API runs on the local server (npm start).
    proxy: { '/api': 'http://localhost:8080', '/v1': 'http://localhost:8080' },
  },
});
