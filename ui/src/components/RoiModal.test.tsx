import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RoiModal } from "./RoiModal";

afterEach(cleanup);

function renderModal(onSave = vi.fn(), onClose = vi.fn()) {
  render(
    <>
      <button>opener</button>
      <RoiModal userSessions={1049} ciSessions={87} settings={{ userMinutesPerSession: 15, ciMinutesPerSession: 15 }} onSave={onSave} onClose={onClose} />
    </>,
  );
  return { onSave, onClose };
}

describe("RoiModal", () => {
  it("shows the session counts rounded up", () => {
    renderModal();
    expect(screen.getByTestId("roi-user-sessions").textContent).toBe("1.1K sessions");
    expect(screen.getByTestId("roi-ci-sessions").textContent).toBe("90 sessions");
  });

  it("previews the total hours from the exact counts", () => {
    renderModal();
    // (1049 + 87) * 15 / 60 = 284
    expect(screen.getByTestId("roi-preview-total").textContent).toBe("284 hours");
    fireEvent.change(screen.getByTestId("roi-user-minutes"), { target: { value: "30" } });
    // 1049 * 30 / 60 + 87 * 15 / 60 = 524.5 + 21.75
    expect(screen.getByTestId("roi-preview-total").textContent).toBe("546 hours");
  });

  it("refuses negative and non-numeric input and disables Save", () => {
    const { onSave } = renderModal();
    fireEvent.change(screen.getByTestId("roi-user-minutes"), { target: { value: "-5" } });
    expect(screen.getByTestId("roi-user-minutes-error").textContent).toBe("Minutes saved cannot be negative.");
    expect((screen.getByTestId("roi-save") as HTMLButtonElement).disabled).toBe(true);
    fireEvent.change(screen.getByTestId("roi-user-minutes"), { target: { value: "10" } });
    fireEvent.change(screen.getByTestId("roi-ci-minutes"), { target: { value: "ten" } });
    expect(screen.getByTestId("roi-ci-minutes-error").textContent).toContain("not a number");
    expect((screen.getByTestId("roi-save") as HTMLButtonElement).disabled).toBe(true);
    fireEvent.submit(screen.getByTestId("roi-user-minutes").closest("form")!);
    expect(onSave).not.toHaveBeenCalled();
  });

  it("saves valid values", () => {
    const { onSave } = renderModal();
    fireEvent.change(screen.getByTestId("roi-ci-minutes"), { target: { value: "7.5" } });
    fireEvent.click(screen.getByTestId("roi-save"));
    expect(onSave).toHaveBeenCalledWith({ userMinutesPerSession: 15, ciMinutesPerSession: 7.5 });
  });

  it("closes on Escape and keeps focus inside while tabbing", () => {
    const { onClose } = renderModal();
    const dialog = screen.getByRole("dialog");
    expect(dialog.contains(document.activeElement)).toBe(true);
    const save = screen.getByTestId("roi-save");
    save.focus();
    fireEvent.keyDown(save, { key: "Tab" });
    expect(document.activeElement).toBe(screen.getByTestId("roi-user-minutes"));
    fireEvent.keyDown(document.activeElement!, { key: "Tab", shiftKey: true });
    expect(document.activeElement).toBe(save);
    fireEvent.keyDown(dialog, { key: "Escape" });
    expect(onClose).toHaveBeenCalled();
  });
});
