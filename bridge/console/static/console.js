// Small enhancements only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // "select all" checkbox of the dead-letter list
  for (const all of document.querySelectorAll("[data-select-all]")) {
    all.addEventListener("change", () => {
      for (const box of all.form.querySelectorAll(`input[type=checkbox][name="${all.dataset.selectAll}"]`)) box.checked = all.checked;
    });
  }
  // a purge asks once more (once the form is complete: the browser first asks for the reason)
  for (const button of document.querySelectorAll("button[data-confirm]")) {
    button.addEventListener("click", (event) => {
      if (button.form.checkValidity() && !confirm(button.dataset.confirm)) event.preventDefault();
    });
  }
  // a filter that applies as soon as it changes
  for (const form of document.querySelectorAll("form[data-autosubmit]")) {
    form.addEventListener("change", () => form.submit());
  }
  // the pipeline page refreshes itself while nobody is typing on it
  const refresh = document.querySelector("[data-refresh]");
  if (refresh) {
    setInterval(() => {
      if (!document.hidden && !document.activeElement.matches("input, select")) location.reload();
    }, Number(refresh.dataset.refresh) * 1000);
  }
});
