import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// The same build is served at `/` and under an aggregated-API path behind `kubectl proxy`,
// so every asset URL must be relative.
export default defineConfig({
  base: "./",
  plugins: [react()],
  build: {
    outDir: "dist",
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
