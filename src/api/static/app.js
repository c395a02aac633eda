// Progressive enhancement shared by every page. External file only: the CSP allows no inline script.
(() => {
  // Dangerous actions ask first. Without JavaScript the server shows a confirmation page instead.
  document.addEventListener('submit', (e) => {
    var form = e.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (form.dataset.submitting === '1') {
      e.preventDefault();
      return;
    }
    if (form.dataset.confirm) {
      if (!window.confirm(form.dataset.confirm)) {
        e.preventDefault();
        return;
      }
      var field = form.querySelector('input[name="confirmed"]');
      if (field) field.value = 'yes';
    }
    // One click, one request: a second submit of the same form is ignored.
    form.dataset.submitting = '1';
    window.setTimeout(() => {
      delete form.dataset.submitting;
    }, 8000);
  });

  // Links in the error summary move focus to the field, not only the scroll position.
  document.addEventListener('click', (e) => {
    var a = e.target instanceof Element ? e.target.closest('.error-summary a[href^="#"]') : null;
    if (!a) return;
    var el = document.getElementById(a.getAttribute('href').slice(1));
    if (!el) return;
    e.preventDefault();
    el.scrollIntoView({ block: 'center' });
    el.focus();
  });

  // After a failed submit, the summary of problems gets the focus (screen readers read it).
  var summary = document.querySelector('[data-autofocus]');
  if (summary) summary.focus();
})();
