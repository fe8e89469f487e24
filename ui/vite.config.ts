import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// The same build is served at `/` and under an aggregated-API path behind `kubectl proxy`,
// so every asset URL must be relative.
export default defineConfig({
  base: "./",
  plugins: [react()],
  build: {
    outDir: "dist",
    // Every file sits directly in dist/: behind kube-apiserver, `dashboard/<file>` is a resource
    // name RBAC can grant, while `dashboard/<dir>/<file>` would be a subresource no rule reaches.
    assetsDir: "",
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  server: {
    // `npm run dev` talks to a locally running `mirrord-usage serve`.
    proxy: {
      "/api": process.env.MIRRORD_USAGE_API ?? "http://127.0.0.1:8080",
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
