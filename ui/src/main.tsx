import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { applyChartDefaults, readPalette } from "./charts/Chart";
import { applyTheme, storedTheme, systemTheme } from "./state/theme";
import "./styles.css";

// Before the first render, so nothing flashes in the wrong theme and charts get the right colours.
applyTheme(storedTheme() ?? systemTheme());
applyChartDefaults(readPalette());

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
