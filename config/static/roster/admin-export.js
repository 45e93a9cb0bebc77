// The admin's export page: "Select all" runs django-import-export's own toggle, attached
// here (Roster's copy of the template has no inline handler: the CSP would block it).
document.addEventListener("DOMContentLoaded", () => {
  for (const toggle of document.querySelectorAll("input.select-toggle")) {
    toggle.addEventListener("change", (event) => onSelectToggleChange(event));
  }
});
