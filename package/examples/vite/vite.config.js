import { defineConfig } from 'vite';

export default defineConfig({
  // Pre-bundling would move the package away from its worker and wasm in `vite dev`.
  optimizeDeps: { exclude: ['ferry-uploader'] },
  build: { target: 'es2022' },
});
