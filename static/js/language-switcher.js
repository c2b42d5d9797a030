// Picking a language in the header switches at once; without scripts the button does it.
document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
  const button = select.form.querySelector(".language-submit");
  if (button) {
    button.classList.add("visually-hidden");
  }
  select.addEventListener("change", () => select.form.requestSubmit());
});
